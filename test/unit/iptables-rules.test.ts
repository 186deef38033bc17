// iptables rules: golden output, the layout's own rules, changes and large clusters
// (rule-behaviour.test.ts traces what a packet meets).
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildDesiredState, DesiredStateBuilder } from '../../src/model/desired.js';
import { buildRuleset, RulesetBuilder, chainName, CHAINS, LARGE_CLUSTER_ENDPOINTS, type Ruleset } from '../../src/dataplane/iptables/rules.js';
import { buildPayload, ownChains, type Programmed } from '../../src/dataplane/iptables/restore.js';
import { node, services, slice, slices } from '../fixtures/rules-state.js';

const GOLDEN = new URL('../golden/iptables-restore.txt', import.meta.url);

const rules = buildRuleset(buildDesiredState(services, slices, node));
const empty = (): Programmed => ({ nat: new Map(), filter: new Map() });

describe('iptables rules', () => {
  it('match the golden payload', () => {
    const text = buildPayload(rules, empty(), { nat: new Set(), filter: new Set() }).text;
    if (process.env.UPDATE_GOLDEN) fs.writeFileSync(GOLDEN, text);
    expect(text).toBe(fs.readFileSync(GOLDEN, 'utf8'));
  });

  it('sessionAffinity ClientIP: recent checks before the random pick, recent set on DNAT', () => {
    const svcChain = rules.nat.get(chainName('SVC', 'shop/sticky:http/TCP'))!;
    expect(svcChain.slice(0, 2).every((r) => r.includes('--rcheck') && r.includes('60'))).toBe(true);
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
