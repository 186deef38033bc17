// The desired state as iptables chains, in kube-proxy's layout under our own prefix.
// Pure: the same state always gives the same chains, which makes golden tests and
// per-chain diffs possible.
//
//   nat  PREROUTING/OUTPUT -> XLB-SERVICES -> XLB-SVC-x (ClusterIP) -> XLB-SEP-y -> DNAT
//                                         -> XLB-EXT-x (ExternalIP, LB, via XLB-NODEPORTS)
//        POSTROUTING -> XLB-POSTROUTING (masquerade what XLB-MARK-MASQ marked)
//  filter INPUT/FORWARD/OUTPUT -> XLB-SERVICES (REJECT/DROP without endpoints)
//                              -> XLB-FIREWALL -> XLB-FW-x (loadBalancerSourceRanges)
import type { DesiredState, Frontend, LbService, StateUpdate } from '../../model/state.js';
import { backendId } from '../../model/state.js';
import { ContributionTracker } from '../contributions.js';
import { stableHash } from '../hash.js';

export const PREFIX = 'XLB-';
export const MASQ_MARK = '0x4000';

export const CHAINS = {
  services: 'XLB-SERVICES',
  nodePorts: 'XLB-NODEPORTS',
  markMasq: 'XLB-MARK-MASQ',
  postrouting: 'XLB-POSTROUTING',
  firewall: 'XLB-FIREWALL',
} as const;

/** Our chains hooked into the built-in ones: [table, built-in chain, rule spec]. */
export const JUMPS: ReadonlyArray<readonly [Table, string, readonly string[]]> = [
  ['nat', 'PREROUTING', ['-m', 'comment', '--comment', 'xlb service portals', '-j', CHAINS.services]],
  ['nat', 'OUTPUT', ['-m', 'comment', '--comment', 'xlb service portals', '-j', CHAINS.services]],
  ['nat', 'POSTROUTING', ['-m', 'comment', '--comment', 'xlb postrouting', '-j', CHAINS.postrouting]],
  ...(['INPUT', 'FORWARD', 'OUTPUT'] as const).flatMap((c) => [
    ['filter', c, ['-m', 'conntrack', '--ctstate', 'NEW', '-m', 'comment', '--comment', 'xlb service portals', '-j', CHAINS.services]] as const,
    ['filter', c, ['-m', 'conntrack', '--ctstate', 'NEW', '-m', 'comment', '--comment', 'xlb firewall', '-j', CHAINS.firewall]] as const,
  ]),
];

export type Table = 'nat' | 'filter';

/** One rule: the arguments after "-A CHAIN". */
export type Rule = string[];
/** table -> chain -> rules */
export type Ruleset = Record<Table, Map<string, Rule[]>>;

/** kube-proxy's naming: a stable hash of what the chain is for, base32, 16 characters. */
export function chainName(kind: 'SVC' | 'EXT' | 'SEP' | 'FW', of: string): string {
  return `${PREFIX}${kind}-${stableHash(of, 16)}`;
}

function match(f: Frontend): string[] {
  const p = f.protocol.toLowerCase();
  return ['-d', `${f.addr}/32`, '-p', p, '-m', p, '--dport', String(f.port)];
}

function comment(svc: LbService, what: string): string[] {
  return ['-m', 'comment', '--comment', `${svc.namespace}/${svc.name}${svc.portName ? `:${svc.portName}` : ''}${what ? ` ${what}` : ''}`];
}

/**
 * Past this many endpoints in all, the rules of endpoints carry no comment, as in
 * kube-proxy's large cluster mode: 30,000 Services of 10 endpoints otherwise make a nat
 * table legacy iptables cannot load (the comment match is 256 bytes a rule; the kernel
 * takes at most 512 MiB of table), and restores take longer.
 */
export const LARGE_CLUSTER_ENDPOINTS = 1000;

/** iptables' statistic probability, formatted as kube-proxy does. */
export function probability(n: number): string {
  return (1 / n).toFixed(10);
}

function addService(rs: Ruleset, svc: LbService, large: boolean): void {
  const nat = rs.nat;
  /** the comment of an endpoint's rules */
  const about = (what: string) => (large ? [] : comment(svc, what));
  const filter = rs.filter;
  const svcChain = chainName('SVC', svc.key);
  const extChain = chainName('EXT', svc.key);
  const fwChain = chainName('FW', svc.key);
  const internal = svc.frontends.filter((f) => f.type === 'ClusterIP');
  const external = svc.frontends.filter((f) => f.type !== 'ClusterIP');
  const guarded = (f: Frontend) => f.type === 'LoadBalancer' && svc.sourceRanges.length > 0;

  if (svc.backends.length === 0) {
    // kube-proxy refuses at once when no endpoint exists, and drops when a Local
    // policy keeps them out of reach.
    const verdict = svc.noEndpoints === 'drop' ? ['-j', 'DROP'] : ['-j', 'REJECT', '--reject-with', 'icmp-port-unreachable'];
    for (const f of svc.frontends) filter.get(CHAINS.services)!.push([...comment(svc, `${f.type} has no endpoints`), ...match(f), ...verdict]);
    return;
  }

  const p = svc.protocol.toLowerCase();
  const seps = svc.backends.map((b) => ({ b, chain: chainName('SEP', `${svc.key} ${backendId(b)}`) }));
  const svcRules: Rule[] = [];
  if (svc.affinitySeconds > 0) {
    for (const { chain } of seps) {
      svcRules.push([...about('affinity'), '-m', 'recent', '--name', chain, '--rcheck', '--seconds', String(svc.affinitySeconds), '--reap', '-j', chain]);
    }
  }
  seps.forEach(({ b, chain }, i) => {
    const left = seps.length - i;
    const pick = left > 1 ? ['-m', 'statistic', '--mode', 'random', '--probability', probability(left)] : [];
    svcRules.push([...about(`-> ${backendId(b)}`), ...pick, '-j', chain]);
  });
  nat.set(svcChain, svcRules);
  for (const { b, chain } of seps) {
    const recent = svc.affinitySeconds > 0 ? ['-m', 'recent', '--name', chain, '--set'] : [];
    nat.set(chain, [
      // Hairpin: a pod reaching itself through the service must see the node as peer.
      [...about(''), '-s', `${b.addr}/32`, '-j', CHAINS.markMasq],
      [...about(''), '-p', p, ...recent, '-m', p, '-j', 'DNAT', '--to-destination', backendId(b)],
    ]);
  }
  for (const f of internal) nat.get(CHAINS.services)!.push([...comment(svc, 'cluster IP'), ...match(f), '-j', svcChain]);
  if (external.length === 0) return;

  // External traffic is masqueraded so replies come back through this node, unless
  // externalTrafficPolicy Local asks to keep the client's address.
  nat.set(extChain, [...(svc.externalPolicyLocal ? [] : [[...comment(svc, 'masquerade traffic from outside'), '-j', CHAINS.markMasq]]), ['-j', svcChain]]);
  for (const f of external) {
    const target = f.type === 'NodePort' ? CHAINS.nodePorts : CHAINS.services;
    nat.get(target)!.push([...comment(svc, f.type === 'NodePort' ? 'node port' : f.type === 'LoadBalancer' ? 'loadbalancer IP' : 'external IP'), ...match(f), '-j', extChain]);
    // Filter sees the packet after DNAT: match the address the client used.
    const orig = ['-p', p, '-m', 'conntrack', '--ctorigdst', `${f.addr}/32`, '--ctorigdstport', String(f.port)];
    if (guarded(f)) filter.get(CHAINS.firewall)!.push([...comment(svc, 'loadbalancer IP'), ...orig, '-j', fwChain]);
  }
  if (external.some(guarded)) {
    filter.set(fwChain, [...svc.sourceRanges.map((r) => [...comment(svc, 'allowed source'), '-s', r, '-j', 'RETURN']), [...comment(svc, 'other sources'), '-j', 'DROP']]);
  }
}

/** Chains many services add rules to; every other chain belongs to one service. */
const SHARED: Record<Table, readonly string[]> = { nat: [CHAINS.services, CHAINS.nodePorts], filter: [CHAINS.services, CHAINS.firewall] };

/** What one service adds to each chain: the shared chains' rules and its own chains. */
function contributionOf(svc: LbService, large: boolean): Ruleset {
  const c: Ruleset = { nat: new Map(SHARED.nat.map((ch) => [ch, []])), filter: new Map(SHARED.filter.map((ch) => [ch, []])) };
  addService(c, svc, large);
  return c;
}

/**
 * The ruleset, kept across updates: each service's contribution is computed when the
 * update upserts it and dropped when it removes it, so a sync among 10,000 services
 * builds the rules of the changed ones only (and the others' own chains keep their
 * rules arrays, which restore.ts renders once).
 */
export class RulesetBuilder {
  private large = false;
  private readonly tracker = new ContributionTracker((svc) => contributionOf(svc, this.large), sameRules);

  /**
   * The ruleset now, with the services whose contribution this update computed anew and
   * those it dropped. Crossing LARGE_CLUSTER_ENDPOINTS rewrites every service's rules.
   */
  build(update: StateUpdate): { ruleset: Ruleset; written: LbService[]; removed: LbService[] } {
    let endpoints = 0;
    for (const svc of update.state.services.values()) endpoints += svc.backends.length;
    const large = endpoints > LARGE_CLUSTER_ENDPOINTS;
    if (large !== this.large) {
      this.large = large;
      update = { ...update, delta: { ...update.delta, full: true } };
    }
    const { written, removed } = this.tracker.update(update);
    return { ruleset: assemble(update.state, (key) => this.tracker.get(key)!), written, removed };
  }
}

function sameRules(a: Ruleset, b: Ruleset): boolean {
  const same = (x: Map<string, Rule[]>, y: Map<string, Rule[]>) =>
    x.size === y.size && [...x].every(([chain, rules]) => JSON.stringify(rules) === JSON.stringify(y.get(chain)));
  return same(a.nat, b.nat) && same(a.filter, b.filter);
}

/** The ruleset of one update, from scratch. */
export function buildRuleset(update: StateUpdate): Ruleset {
  return new RulesetBuilder().build(update).ruleset;
}

function assemble(state: DesiredState, contribution: (key: string) => Ruleset): Ruleset {
  const rs: Ruleset = {
    nat: new Map<string, Rule[]>([
      [CHAINS.services, []],
      [CHAINS.nodePorts, []],
      [CHAINS.markMasq, [['-j', 'MARK', '--or-mark', MASQ_MARK]]],
      [
        CHAINS.postrouting,
        [
          ['-m', 'mark', '!', '--mark', `${MASQ_MARK}/${MASQ_MARK}`, '-j', 'RETURN'],
          ['-j', 'MARK', '--xor-mark', MASQ_MARK],
          ['-m', 'comment', '--comment', 'xlb service traffic requiring SNAT', '-j', 'MASQUERADE', '--random-fully'],
        ],
      ],
    ]),
    filter: new Map<string, Rule[]>([
      [CHAINS.services, []],
      [CHAINS.firewall, []],
    ]),
  };
  const services = [...state.services.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const svc of services) {
    const c = contribution(svc.key);
    for (const table of ['nat', 'filter'] as const) {
      for (const [chain, rules] of c[table]) {
        if (SHARED[table].includes(chain)) rs[table].get(chain)!.push(...rules);
        else rs[table].set(chain, rules);
      }
    }
  }
  // NodePorts last: they match node addresses that a ClusterIP rule never shadows.
  rs.nat.get(CHAINS.services)!.push(['-m', 'comment', '--comment', 'xlb service nodeports', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', CHAINS.nodePorts]);
  return rs;
}
