// iptables rules: golden output, and a packet tracer over them for every semantic case.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildDesiredState, DesiredStateBuilder } from '../../src/model/desired.js';
import { buildRuleset, RulesetBuilder, chainName, CHAINS, LARGE_CLUSTER_ENDPOINTS, type Ruleset } from '../../src/dataplane/iptables/rules.js';
import { buildPayload, ownChains, type Programmed } from '../../src/dataplane/iptables/restore.js';
import { trace } from '../helpers/iptables-tracer.js';
import type { Outcome } from '../helpers/trace.js';
import { CLIENT, node, services, slice, slices } from '../fixtures/rules-state.js';

const GOLDEN = new URL('../golden/iptables-restore.txt', import.meta.url);

const rules = buildRuleset(buildDesiredState(services, slices, node));
const empty = (): Programmed => ({ nat: new Map(), filter: new Map() });

function outcomes(dst: string, dport: number, extra: Partial<Parameters<typeof trace>[1]> = {}): Outcome[] {
  return trace(rules, { src: CLIENT, dst, proto: 'tcp', dport, ...extra }).sort((a, b) => String(a.dnat).localeCompare(String(b.dnat)));
}

describe('iptables rules', () => {
  it('match the golden payload', () => {
    const text = buildPayload(rules, empty(), { nat: new Set(), filter: new Set() }).text;
    if (process.env.UPDATE_GOLDEN) fs.writeFileSync(GOLDEN, text);
    expect(text).toBe(fs.readFileSync(GOLDEN, 'utf8'));
  });

  it('ClusterIP: each endpoint equally likely, client address kept', () => {
    expect(outcomes('198.19.0.10', 80)).toEqual(
      ['198.18.1.10', '198.18.1.11', '198.18.1.12'].map((ip) => ({ dnat: `${ip}:8080`, masquerade: false, verdict: 'ACCEPT', probability: 0.333333 })),
    );
  });

  it('NodePort: masqueraded so replies come back through the node', () => {
    expect(outcomes('198.18.0.1', 30080, { local: true })).toEqual([
      { dnat: '198.18.1.10:8080', masquerade: true, verdict: 'ACCEPT', probability: 0.5 },
      { dnat: '198.18.1.11:8080', masquerade: true, verdict: 'ACCEPT', probability: 0.5 },
    ]);
    expect(outcomes('198.18.0.1', 30080, { local: false })).toEqual([{ dnat: undefined, masquerade: false, verdict: 'ACCEPT', probability: 1 }]);
  });

  it('externalTrafficPolicy Local: this node\'s endpoints, client address kept; ClusterIP still all', () => {
    expect(outcomes('198.18.0.1', 30081, { local: true })).toEqual([{ dnat: '198.18.1.10:8080', masquerade: false, verdict: 'ACCEPT', probability: 1 }]);
    expect(outcomes('198.19.0.12', 80).map((o) => o.dnat)).toEqual(['198.18.1.10:8080', '198.18.1.11:8080']);
  });

  it('externalTrafficPolicy Local without a local endpoint: dropped, not rejected', () => {
    expect(outcomes('198.18.0.1', 30082, { local: true })).toEqual([{ dnat: undefined, masquerade: false, verdict: 'DROP', probability: 1 }]);
  });

  it('no endpoints: rejected on every frontend', () => {
    for (const [dst, port] of [['198.19.0.16', 80], ['198.19.1.16', 80]] as const) {
      expect(outcomes(dst, port)).toEqual([{ dnat: undefined, masquerade: false, verdict: 'REJECT', probability: 1 }]);
    }
  });

  it('loadBalancerSourceRanges: listed clients pass, others are dropped; ClusterIP open to all', () => {
    expect(outcomes('198.19.255.1', 80)).toEqual([{ dnat: '198.18.1.12:8080', masquerade: true, verdict: 'ACCEPT', probability: 1 }]);
    expect(outcomes('198.19.255.1', 80, { src: '198.18.0.9' })[0]!.verdict).toBe('DROP');
    expect(outcomes('198.19.0.14', 80, { src: '198.18.0.9' })[0]!.verdict).toBe('ACCEPT');
  });

  it('hairpin: a pod reaching itself through its Service is masqueraded', () => {
    const own = trace(rules, { src: '198.18.1.10', dst: '198.19.0.10', proto: 'tcp', dport: 80 }).find((o) => o.dnat === '198.18.1.10:8080')!;
    expect(own.masquerade).toBe(true);
  });

  it('sessionAffinity ClientIP: recent checks before the random pick, recent set on DNAT', () => {
    const svcChain = rules.nat.get(chainName('SVC', 'shop/sticky:http/TCP'))!;
    expect(svcChain.slice(0, 2).every((r) => r.includes('--rcheck') && r.includes('60'))).toBe(true);
    expect(outcomes('198.19.0.15', 80).map((o) => o.probability)).toEqual([0.5, 0.5]);
  });

  it('rewrites only changed chains, and removes the chains of a deleted service', () => {
    const first = buildPayload(rules, empty(), { nat: new Set(), filter: new Set() });
    const existing = { nat: ownChains(first.text.split('*filter')[0]!), filter: ownChains(`*filter${first.text.split('*filter')[1]}`) };
    const next = buildRuleset(buildDesiredState(services.filter((s) => s.metadata.name !== 'sticky'), slices.map((s) => (s.metadata.name === 'web-a' ? slice('web', [['198.18.1.10']]) : s)), node));
    const second = buildPayload(next, first.next, existing);
    const declared = second.text.split('\n').filter((l) => l.startsWith(':')).map((l) => l.slice(1).split(' ')[0]);
    expect(declared).toContain(chainName('SVC', 'shop/web:http/TCP'));
    expect(declared).not.toContain(chainName('SVC', 'shop/np:http/TCP'));
    expect(second.text).toContain(`-X ${chainName('SVC', 'shop/sticky:http/TCP')}`);
    expect(second.text).toContain(`-X ${chainName('SEP', 'shop/web:http/TCP 198.18.1.11:8080')}`);
    expect(second.text.split('\n').filter((l) => /^-X (?!XLB-)/.test(l))).toEqual([]);
  });
});

describe('rules across syncs', () => {
  it('recomputes only what the delta names, reuses the rules of the rest and equals a build from scratch', () => {
    const model = new DesiredStateBuilder();
    const rules = new RulesetBuilder();
    const first = rules.build(model.build(services, slices, node)).ruleset;
    const changed = slices.map((s) => (s.metadata.name === 'np-a' ? slice('np', [['198.18.1.13']]) : s));
    const update = model.build(services.filter((s) => s.metadata.name !== 'sticky'), changed, node);
    const { ruleset: second, written, removed } = rules.build(update);
    expect(second).toEqual(buildRuleset(buildDesiredState(services.filter((s) => s.metadata.name !== 'sticky'), changed, node)));
    expect(written.map((s) => s.key)).toEqual(['shop/np:http/TCP']);
    expect(removed.map((s) => s.key).sort()).toEqual(['shop/np:http/TCP', 'shop/sticky:http/TCP']);
    // An unchanged service's own chain is the same array: restore.ts renders it once.
    const web = chainName('SVC', 'shop/web:http/TCP');
    expect(second.nat.get(web)).toBe(first.nat.get(web));
    expect(second.nat.get(chainName('SVC', 'shop/np:http/TCP'))).not.toBe(first.nat.get(chainName('SVC', 'shop/np:http/TCP')));
  });
});

describe('large clusters', () => {
  it('past LARGE_CLUSTER_ENDPOINTS endpoints, endpoint rules carry no comment (kube-proxy\'s large cluster mode); crossing back rewrites them all', () => {
    const model = new DesiredStateBuilder();
    const builder = new RulesetBuilder();
    const web = chainName('SVC', 'shop/web:http/TCP');
    const commented = (rs: Ruleset) => rs.nat.get(web)!.every((r) => r.includes('--comment'));
    const small = builder.build(model.build(services, slices, node));
    expect(commented(small.ruleset)).toBe(true);
    // Many endpoints in all: every service with endpoints is rewritten, its endpoint rules without comments.
    const many = Array.from({ length: LARGE_CLUSTER_ENDPOINTS }, (_, i): [string] => [`198.18.${8 + (i >> 8)}.${i & 255}`]);
    const update = model.build(services, slices.map((s) => (s.metadata.name === 'np-a' ? slice('np', many) : s)), node);
    const big = builder.build(update);
    expect(big.written.map((s) => s.key).sort()).toEqual([...update.state.services.values()].filter((s) => s.backends.length > 0).map((s) => s.key).sort());
    expect(big.ruleset.nat.get(web)!.some((r) => r.includes('--comment'))).toBe(false);
    // The frontends' own rules keep theirs.
    expect(big.ruleset.nat.get(CHAINS.services)!.every((r) => r.includes('--comment'))).toBe(true);
    const back = builder.build(model.build(services, slices, node));
    expect(back.ruleset).toEqual(small.ruleset);
  });
});
