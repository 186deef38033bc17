// The desired state as kube-proxy's nftables layout (KEP-3866) in our own table
// `ip xlb`. Pure: the same state always gives the same chains and map elements.
//
//   nat prerouting/output -> services: vmap @service-ips      -> service-x | external-x
//                                      vmap @service-nodeports -> external-x  (local daddr)
//       service-x:  numgen random cascade -> dnat (with affinity: affinity check, numgen
//                   random cascade -> endpoint-y: record the client, dnat)
//       external-x: mark for masquerade (externalTrafficPolicy Cluster), goto service-x
//   nat postrouting -> hairpin (@hairpin: a pod reached itself) marks for masquerade,
//                      masquerading (what mark-for-masquerade marked)
//   filter prerouting/output (before DNAT) -> firewall-check: vmap @firewall-ips -> firewall-x
//   filter input/forward/output -> vmap @no-endpoint-services / @no-endpoint-nodeports
//
// Where kube-proxy and our model differ, the model wins (as in iptables mode): NodePorts
// are served on the node's addresses only (--node-ip), so the nodeport maps are keyed by
// address too; externalTrafficPolicy Local gives external frontends the model's own
// service of local endpoints, so external-x needs no local-endpoint chain of its own.
//
// Unlike kube-proxy, a service picks its endpoint with a cascade of `numgen random mod k
// == 0` rules (k = n, n-1, …, 1: each endpoint 1/n) and DNATs in its own chain, and the
// hairpin check is one set lookup in postrouting: an anonymous vmap per service costs the
// kernel a walk of the whole transaction when it is bound (quadratic at 10,000 services
// in one sync), and every chain costs nft a dump on each run (nft lists all chains
// before any `add rule` or `add element`). Endpoint chains remain for session affinity.
import type { Backend, Frontend, LbService, StateUpdate } from '../../model/state.js';
import { backendId } from '../../model/state.js';
import { stableHash } from '../hash.js';
import { ContributionTracker, type ContributionChange } from '../contributions.js';

export const TABLE = 'xlb';
export const MASQ_MARK = '0x4000';

export const MAPS = {
  serviceIps: 'service-ips',
  serviceNodePorts: 'service-nodeports',
  noEndpointServices: 'no-endpoint-services',
  noEndpointNodePorts: 'no-endpoint-nodeports',
  firewallIps: 'firewall-ips',
} as const;
export type MapName = (typeof MAPS)[keyof typeof MAPS];
export const MAP_NAMES: readonly MapName[] = Object.values(MAPS);

/** Every endpoint address as "A . A": after DNAT, a packet from A to A is a pod reaching itself. */
export const HAIRPIN_SET = 'hairpin';

export const CHAINS = {
  services: 'services',
  markMasq: 'mark-for-masquerade',
  masquerading: 'masquerading',
  serviceEndpointsCheck: 'service-endpoints-check',
  nodePortEndpointsCheck: 'nodeport-endpoints-check',
  firewallCheck: 'firewall-check',
  reject: 'reject-chain',
} as const;

/** A chain of the fixed layout; `hook` makes it a base chain ("type … hook … priority …"). */
export interface FixedChain {
  name: string;
  hook?: string;
  rules: string[];
}

const key = 'ip daddr . meta l4proto . th dport';
const local = 'fib daddr type local';

/**
 * The fixed layout. Priorities are numbers because nft accepts its names (dstnat -100,
 * srcnat 100) only on some hooks. The filter chains run just before DNAT (-110), so the
 * firewall sees the address the client used, as kube-proxy's do.
 */
export const FIXED_CHAINS: readonly FixedChain[] = [
  { name: 'nat-prerouting', hook: 'type nat hook prerouting priority -100', rules: [`jump ${CHAINS.services}`] },
  { name: 'nat-output', hook: 'type nat hook output priority -100', rules: [`jump ${CHAINS.services}`] },
  {
    name: 'nat-postrouting',
    hook: 'type nat hook postrouting priority 100',
    rules: [`ct status dnat ip saddr . ip daddr @${HAIRPIN_SET} jump ${CHAINS.markMasq}`, `jump ${CHAINS.masquerading}`],
  },
  { name: 'filter-prerouting', hook: 'type filter hook prerouting priority -110', rules: [`ct state new jump ${CHAINS.firewallCheck}`] },
  {
    name: 'filter-input',
    hook: 'type filter hook input priority -110',
    rules: [`ct state new jump ${CHAINS.nodePortEndpointsCheck}`, `ct state new jump ${CHAINS.serviceEndpointsCheck}`],
  },
  { name: 'filter-forward', hook: 'type filter hook forward priority -110', rules: [`ct state new jump ${CHAINS.serviceEndpointsCheck}`] },
  {
    name: 'filter-output',
    hook: 'type filter hook output priority -110',
    rules: [`ct state new jump ${CHAINS.serviceEndpointsCheck}`, `ct state new jump ${CHAINS.firewallCheck}`],
  },
  { name: CHAINS.services, rules: [`${key} vmap @${MAPS.serviceIps}`, `${local} ${key} vmap @${MAPS.serviceNodePorts}`] },
  { name: CHAINS.serviceEndpointsCheck, rules: [`${key} vmap @${MAPS.noEndpointServices}`] },
  { name: CHAINS.nodePortEndpointsCheck, rules: [`${local} ${key} vmap @${MAPS.noEndpointNodePorts}`] },
  { name: CHAINS.firewallCheck, rules: [`${key} vmap @${MAPS.firewallIps}`] },
  { name: CHAINS.markMasq, rules: [`meta mark set meta mark or ${MASQ_MARK}`] },
  {
    name: CHAINS.masquerading,
    rules: [`meta mark and ${MASQ_MARK} == 0 return`, `meta mark set meta mark xor ${MASQ_MARK}`, 'masquerade fully-random'],
  },
  { name: CHAINS.reject, rules: ['reject'] },
];

export const MAP_COMMENTS: Record<MapName, string> = {
  'service-ips': 'ClusterIP, ExternalIP and LoadBalancer IP traffic',
  'service-nodeports': 'NodePort traffic',
  'no-endpoint-services': 'services without endpoints',
  'no-endpoint-nodeports': 'NodePorts without endpoints',
  'firewall-ips': 'loadBalancerSourceRanges checks',
};

/** What one service port adds: its own chains, its map elements and its affinity sets. */
export interface Contribution {
  /** chain -> rules */
  chains: Map<string, string[]>;
  /** map -> element key -> verdict */
  elements: Map<MapName, Map<string, string>>;
  /** affinity sets (ipv4_addr, dynamic, timeout) its chains use */
  sets: string[];
  /** its endpoints' addresses (unique): elements of the hairpin set, shared with other services */
  hairpin: string[];
}

/** nft's limit on chain and set names (NFT_CHAIN_MAXNAMELEN, NFT_SET_MAXNAMELEN) less the NUL. */
const MAX_NAME = 255;

/**
 * kube-proxy's naming: kind, a stable hash of what the object is for, and a readable
 * tail ("shop/web/tcp/http"), cut to nft's limit (the hash keeps names apart).
 */
export function objectName(kind: 'service' | 'external' | 'endpoint' | 'affinity' | 'firewall', svc: LbService, endpoint?: string): string {
  const of = endpoint ? `${svc.key} ${endpoint}` : svc.key;
  // The key is "namespace/name:port/PROTO", with "/external" for a Local policy's external half.
  const [port, , external] = svc.key.slice(svc.key.indexOf(':') + 1).split('/');
  const readable = `${svc.namespace}/${svc.name}/${svc.protocol.toLowerCase()}/${port}${external ? `/${external}` : ''}${endpoint ? `__${endpoint.replace(':', '/')}` : ''}`;
  return `${kind}-${stableHash(of, 8)}-${readable}`.slice(0, MAX_NAME);
}

export const hairpinElement = (addr: string) => `${addr} . ${addr}`;

/** A map element's key: the frontend as `ip daddr . meta l4proto . th dport` sees it. */
export function elementKey(f: Frontend): string {
  return `${f.addr} . ${f.protocol.toLowerCase()} . ${f.port}`;
}

export function contributionOf(svc: LbService): Contribution {
  const c: Contribution = { chains: new Map(), elements: new Map(MAP_NAMES.map((m) => [m, new Map()])), sets: [], hairpin: [] };
  const add = (map: MapName, f: Frontend, verdict: string) => c.elements.get(map)!.set(elementKey(f), verdict);
  const isNodePort = (f: Frontend) => f.type === 'NodePort';

  if (svc.backends.length === 0) {
    // Refused at once when no endpoint exists; dropped when a Local policy keeps them out of reach.
    const verdict = svc.noEndpoints === 'drop' ? 'drop' : `goto ${CHAINS.reject}`;
    for (const f of svc.frontends) add(isNodePort(f) ? MAPS.noEndpointNodePorts : MAPS.noEndpointServices, f, verdict);
    return c;
  }

  const service = objectName('service', svc);
  const dnat = (b: Backend) => `meta l4proto ${svc.protocol.toLowerCase()} dnat to ${backendId(b)}`;
  const rules: string[] = [];
  c.chains.set(service, rules);
  // With affinity, an endpoint chain records the client in the endpoint's set before DNAT.
  const targets = svc.backends.map((b) => {
    if (svc.affinitySeconds === 0) return dnat(b);
    const chain = objectName('endpoint', svc, backendId(b));
    const set = objectName('affinity', svc, backendId(b));
    rules.push(`ip saddr @${set} goto ${chain}`);
    c.sets.push(set);
    c.chains.set(chain, [`update @${set} { ip saddr timeout ${svc.affinitySeconds}s }`, dnat(b)]);
    return `goto ${chain}`;
  });
  const n = targets.length;
  rules.push(...targets.map((t, i) => (i < n - 1 ? `numgen random mod ${n - i} == 0 ${t}` : t)));
  c.hairpin = [...new Set(svc.backends.map((b) => b.addr))];

  for (const f of svc.frontends) if (f.type === 'ClusterIP') add(MAPS.serviceIps, f, `goto ${service}`);
  const external = svc.frontends.filter((f) => f.type !== 'ClusterIP');
  if (external.length === 0) return c;

  // External traffic is masqueraded so replies come back through this node, unless
  // externalTrafficPolicy Local asks to keep the client's address.
  const ext = objectName('external', svc);
  c.chains.set(ext, [...(svc.externalPolicyLocal ? [] : [`jump ${CHAINS.markMasq}`]), `goto ${service}`]);
  for (const f of external) add(isNodePort(f) ? MAPS.serviceNodePorts : MAPS.serviceIps, f, `goto ${ext}`);

  const guarded = external.filter((f) => f.type === 'LoadBalancer' && svc.sourceRanges.length > 0);
  if (guarded.length > 0) {
    const fw = objectName('firewall', svc);
    c.chains.set(fw, [`ip saddr != { ${svc.sourceRanges.join(', ')} } drop`]);
    for (const f of guarded) add(MAPS.firewallIps, f, `goto ${fw}`);
  }
  return c;
}

/** One service port's change: its contribution as programmed before and as wanted now. */
/** A service's contribution before and after an update (either absent: added or removed). */
export type ServiceChange = ContributionChange<Contribution>;

function sameContribution(a: Contribution, b: Contribution): boolean {
  const entries = (c: Contribution) => JSON.stringify([[...c.chains], [...c.elements].map(([m, e]) => [m, [...e]]), c.sets, c.hairpin]);
  return entries(a) === entries(b);
}

/** One update's changes: the services' and the hairpin set's (whose elements services share). */
export interface NftChanges {
  changes: ServiceChange[];
  /** addresses whose last holder went away, and addresses no service held before */
  hairpin: { deleted: string[]; added: string[] };
}

/** The ruleset kept across updates (see ContributionTracker), with how many services hold each hairpin address. */
export class NftRulesetBuilder {
  private readonly tracker = new ContributionTracker(contributionOf, sameContribution);
  private readonly holders = new Map<string, number>();

  build(update: StateUpdate): NftChanges & { written: LbService[]; removed: LbService[] } {
    const r = this.tracker.update(update);
    const was = new Map<string, number>();
    const count = (addr: string, by: number) => {
      const n = this.holders.get(addr) ?? 0;
      if (!was.has(addr)) was.set(addr, n);
      if (n + by) this.holders.set(addr, n + by);
      else this.holders.delete(addr);
    };
    for (const { before, after } of r.changes) {
      for (const a of before?.hairpin ?? []) count(a, -1);
      for (const a of after?.hairpin ?? []) count(a, 1);
    }
    const hairpin = { deleted: [] as string[], added: [] as string[] };
    for (const [a, n] of was) {
      const now = this.holders.has(a);
      if (n > 0 && !now) hairpin.deleted.push(a);
      if (n === 0 && now) hairpin.added.push(a);
    }
    return { ...r, hairpin };
  }

  /** Every contribution wanted now, by service key order (for a full reconcile and tests). */
  all(): Contribution[] {
    return this.tracker.all();
  }
}

/** The whole table as one structure: fixed chains, every service's chains, elements and sets. */
export interface NftRuleset {
  chains: Map<string, string[]>;
  maps: Map<MapName, Map<string, string>>;
  sets: string[];
  /** the hairpin set's elements ("A . A") */
  hairpin: Set<string>;
}

export function mergeRuleset(contributions: Contribution[]): NftRuleset {
  const rs: NftRuleset = { chains: new Map(FIXED_CHAINS.map((ch) => [ch.name, ch.rules])), maps: new Map(MAP_NAMES.map((m) => [m, new Map()])), sets: [], hairpin: new Set() };
  for (const c of contributions) {
    for (const [chain, rules] of c.chains) rs.chains.set(chain, rules);
    for (const [m, elements] of c.elements) for (const [k, v] of elements) rs.maps.get(m)!.set(k, v);
    rs.sets.push(...c.sets);
    for (const a of c.hairpin) rs.hairpin.add(hairpinElement(a));
  }
  return rs;
}

/** The ruleset of one update, from scratch. */
export function buildNftRuleset(update: StateUpdate): NftRuleset {
  const b = new NftRulesetBuilder();
  b.build(update);
  return mergeRuleset(b.all());
}
