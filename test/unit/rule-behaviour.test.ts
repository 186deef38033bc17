// What a packet meets in the rule-based datapaths, the same cases in iptables and nftables
// mode: each mode's rules for one representative state, traced by that mode's tracer.
// (Each mode's own file checks its layout: golden output, affinity rules, transactions.)
import { describe, expect, it } from 'vitest';
import { buildDesiredState } from '../../src/model/desired.js';
import { buildRuleset } from '../../src/dataplane/iptables/rules.js';
import { buildNftRuleset } from '../../src/dataplane/nftables/ruleset.js';
import { trace as iptablesTrace } from '../helpers/iptables-tracer.js';
import { trace as nftTrace } from '../helpers/nft-tracer.js';
import type { Outcome, Packet } from '../helpers/trace.js';
import { CLIENT, node, services, slices, udpService, udpSlice } from '../fixtures/rules-state.js';

const update = () => buildDesiredState([...services, udpService], [...slices, udpSlice], node);
const ipt = buildRuleset(update());
const nft = buildNftRuleset(update());
const MODES: Array<[string, (p: Packet) => Outcome[]]> = [
  ['iptables', (p) => iptablesTrace(ipt, p)],
  ['nftables', (p) => nftTrace(nft, p)],
];

describe.each(MODES)('%s mode', (_, trace) => {
  const outcomes = (dst: string, dport: number, extra: Partial<Packet> = {}): Outcome[] =>
    trace({ src: CLIENT, dst, proto: 'tcp', dport, ...extra }).sort((a, b) => String(a.dnat).localeCompare(String(b.dnat)));
  const none = (verdict: string) => [{ dnat: undefined, masquerade: false, verdict, probability: 1 }];

  it('ClusterIP: each endpoint equally likely, client address kept', () => {
    expect(outcomes('198.19.0.10', 80)).toEqual(
      ['198.18.1.10', '198.18.1.11', '198.18.1.12'].map((ip) => ({ dnat: `${ip}:8080`, masquerade: false, verdict: 'ACCEPT', probability: 0.333333 })),
    );
  });

  it('UDP: balanced the same way, with a UDP DNAT; TCP to that port is not a service', () => {
    expect(outcomes('198.19.0.17', 53, { proto: 'udp' }).map((o) => [o.dnat, o.probability])).toEqual([
      ['198.18.1.10:5353', 0.5],
      ['198.18.1.11:5353', 0.5],
    ]);
    expect(outcomes('198.19.0.17', 53)).toEqual(none('ACCEPT'));
  });

  it('NodePort: on the node\'s addresses only, masqueraded so replies come back through the node', () => {
    expect(outcomes('198.18.0.1', 30080, { local: true })).toEqual([
      { dnat: '198.18.1.10:8080', masquerade: true, verdict: 'ACCEPT', probability: 0.5 },
      { dnat: '198.18.1.11:8080', masquerade: true, verdict: 'ACCEPT', probability: 0.5 },
    ]);
    expect(outcomes('198.18.0.1', 30080, { local: false })).toEqual(none('ACCEPT'));
    expect(outcomes('127.0.0.1', 30080, { local: true })).toEqual(none('ACCEPT'));
  });

  it('externalTrafficPolicy Local: this node\'s endpoints, client address kept; ClusterIP still all', () => {
    expect(outcomes('198.18.0.1', 30081, { local: true })).toEqual([{ dnat: '198.18.1.10:8080', masquerade: false, verdict: 'ACCEPT', probability: 1 }]);
    expect(outcomes('198.19.0.12', 80).map((o) => o.dnat)).toEqual(['198.18.1.10:8080', '198.18.1.11:8080']);
  });

  it('externalTrafficPolicy Local without a local endpoint: dropped, not rejected', () => {
    expect(outcomes('198.18.0.1', 30082, { local: true })).toEqual(none('DROP'));
  });

  it('no endpoints: rejected on every frontend', () => {
    for (const [dst, port] of [['198.19.0.16', 80], ['198.19.1.16', 80]] as const) expect(outcomes(dst, port)).toEqual(none('REJECT'));
  });

  it('loadBalancerSourceRanges: listed clients pass, others are dropped; ClusterIP open to all', () => {
    expect(outcomes('198.19.255.1', 80)).toEqual([{ dnat: '198.18.1.12:8080', masquerade: true, verdict: 'ACCEPT', probability: 1 }]);
    expect(outcomes('198.19.255.1', 80, { src: '198.18.0.9' }).map((o) => o.verdict)).toEqual(['DROP']);
    expect(outcomes('198.19.0.14', 80, { src: '198.18.0.9' })[0]!.verdict).toBe('ACCEPT');
  });

  it('hairpin: a pod reaching itself through its Service is masqueraded, others not', () => {
    const all = trace({ src: '198.18.1.10', dst: '198.19.0.10', proto: 'tcp', dport: 80 });
    expect(all.find((o) => o.dnat === '198.18.1.10:8080')!.masquerade).toBe(true);
    expect(all.find((o) => o.dnat === '198.18.1.11:8080')!.masquerade).toBe(false);
  });

  it('sessionAffinity ClientIP: a new client picks among the endpoints at random', () => {
    expect(outcomes('198.19.0.15', 80).map((o) => o.probability)).toEqual([0.5, 0.5]);
  });
});
