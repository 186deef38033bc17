// The desired state as kube-proxy's nftables layout (KEP-3866) in our own table
// `ip xlb`. Pure: the same state always gives the same chains and map elements.
//
//   nat prerouting/output -> services: vmap @service-ips      -> pick-P-n | masquerade-pick-P-n
//                                      vmap @service-nodeports -> (the same)  (local daddr)
//       pick-P-n:  dnat ip to ip daddr . P dport . numgen random mod n map @endpoints-P
//       masquerade-pick-P-n: mark for masquerade (externalTrafficPolicy Cluster), the same dnat
//       with session affinity: service-x (affinity check, numgen random cascade ->
//       endpoint-y: record the client, dnat), external-x: mark for masquerade, goto service-x
//   nat postrouting -> hairpin (@hairpin: a pod reached itself) marks for masquerade,
//                      masquerading (what mark-for-masquerade marked)
//   filter prerouting/output (before DNAT) -> firewall-check: vmap @firewall-ips -> firewall-x
//   filter input/forward/output -> vmap @no-endpoint-services / @no-endpoint-nodeports
//
// Where kube-proxy and our model differ, the model wins (as in iptables mode): NodePorts
// are served on the node's addresses only (--node-ip), so the nodeport maps are keyed by
// address too; externalTrafficPolicy Local gives external frontends the model's own
// service of local endpoints, so they need no local-endpoint chain of their own.
//
// Unlike kube-proxy, a service without affinity has no chain: its frontends go to a
// chain shared by every service with as many endpoints (P: the protocol, n: the count),
// which picks slot 0..n-1 at random and DNATs to that frontend's endpoint in the slot,
// one element of a named map. So an endpoint change is element changes in named maps
// only: no rule, no chain, no goto, which would make the kernel re-validate every chain
// reachable from our hooks on commit (and every chain costs nft a dump on each run: nft
// lists all chains before any `add rule` or `add element`). A changed endpoint count
// moves the frontends to another shared chain: goto elements, validated over the few
// shared chains. The hairpin check is one set lookup in postrouting.
import { flat } from '../../model/compact.js';
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
  endpointsTcp: 'endpoints-tcp',
  endpointsUdp: 'endpoints-udp',
  endpointsSctp: 'endpoints-sctp',
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

const VERDICT_MAP = 'type ipv4_addr . inet_proto . inet_service : verdict';
/** nft types a port by its protocol (`tcp dport`), hence one endpoints map per protocol. */
const endpointsMap = (p: string) => `typeof ip daddr . ${p} dport . numgen random mod 1 : ip daddr . ${p} dport`;

/** Each map's declaration: its type and what it is for. */
export const MAP_DECLS: Record<MapName, string> = {
  'service-ips': `${VERDICT_MAP}; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic"`,
  'service-nodeports': `${VERDICT_MAP}; comment "NodePort traffic"`,
  'no-endpoint-services': `${VERDICT_MAP}; comment "services without endpoints"`,
  'no-endpoint-nodeports': `${VERDICT_MAP}; comment "NodePorts without endpoints"`,
  'firewall-ips': `${VERDICT_MAP}; comment "loadBalancerSourceRanges checks"`,
  'endpoints-tcp': `${endpointsMap('tcp')}; comment "TCP frontends' endpoints by slot"`,
  'endpoints-udp': `${endpointsMap('udp')}; comment "UDP frontends' endpoints by slot"`,
  'endpoints-sctp': `${endpointsMap('sctp')}; comment "SCTP frontends' endpoints by slot"`,
};

/** What one service port adds: its own chains, its map elements and its affinity sets. */
export interface Contribution {
  /** chain -> rules */
  chains: Map<string, string[]>;
  /** the pick chains it goes to (chain -> rules), shared with services with as many endpoints */
  shared: Map<string, string[]>;
  /** map -> element key -> verdict, or endpoint in an endpoints map (only the maps it has elements in) */
  elements: Map<MapName, Map<string, string>>;
  /** affinity sets (ipv4_addr, dynamic, timeout) its chains use */
  sets: string[];
  /** its frontends' endpoints by slot, elements of an endpoints map (see elementsIn) */
  slots?: Slots;
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
  return flat(f.addr, ' . ', f.protocol.toLowerCase(), ' . ', f.port);
}

export function contributionOf(svc: LbService): Contribution {
  const c: Contribution = { chains: new Map(), shared: new Map(), elements: new Map(), sets: [], hairpin: [] };
  const add = (map: MapName, f: Frontend, verdict: string) => elementsOf(c, map).set(elementKey(f), verdict);
  const isNodePort = (f: Frontend) => f.type === 'NodePort';

  if (svc.backends.length === 0) {
    // Refused at once when no endpoint exists; dropped when a Local policy keeps them out of reach.
    const verdict = svc.noEndpoints === 'drop' ? 'drop' : `goto ${CHAINS.reject}`;
    for (const f of svc.frontends) add(isNodePort(f) ? MAPS.noEndpointNodePorts : MAPS.noEndpointServices, f, verdict);
    return c;
  }
  c.hairpin = [...new Set(svc.backends.map((b) => b.addr))];

  // External traffic is masqueraded so replies come back through this node, unless
  // externalTrafficPolicy Local asks to keep the client's address.
  const masquerade = svc.externalPolicyLocal ? [] : [`jump ${CHAINS.markMasq}`];
  const to = svc.affinitySeconds === 0 ? pickByMap(svc, c, masquerade) : pickByChain(svc, c, masquerade);
  for (const f of svc.frontends) add(isNodePort(f) ? MAPS.serviceNodePorts : MAPS.serviceIps, f, f.type === 'ClusterIP' ? to.internal : to.external());

  const guarded = svc.frontends.filter((f) => f.type === 'LoadBalancer' && svc.sourceRanges.length > 0);
  if (guarded.length > 0) {
    const fw = objectName('firewall', svc);
    c.chains.set(fw, [`ip saddr != { ${svc.sourceRanges.join(', ')} } drop`]);
    for (const f of guarded) add(MAPS.firewallIps, f, `goto ${fw}`);
  }
  return c;
}

/**
 * Element `frontend . i : endpoints[i]` of `map` for each frontend ("addr . port") and
 * slot, kept as lists: 100,000 endpoints' elements as strings in maps take 40 MB.
 */
export interface Slots {
  map: MapName;
  frontends: string[];
  endpoints: string[];
}

/** The slots' elements: `frontend . i` -> endpoint i, for each frontend. */
export function* slotElements(slots: Slots): Generator<[key: string, endpoint: string]> {
  for (const f of slots.frontends) for (let i = 0; i < slots.endpoints.length; i++) yield [`${f} . ${i}`, slots.endpoints[i]!];
}

/** A contribution's elements in one map, its slots written out. */
export function elementsIn(c: Contribution | undefined, map: MapName): Map<string, string> {
  const e = new Map(c?.elements.get(map));
  if (c?.slots?.map === map) for (const [k, v] of slotElements(c.slots)) e.set(k, v);
  return e;
}

/** How many elements of `map` a contribution has. */
export function elementCount(c: Contribution, map: MapName): number {
  return (c.elements.get(map)?.size ?? 0) + (c.slots?.map === map ? c.slots.frontends.length * c.slots.endpoints.length : 0);
}

// Most services have elements in two of the maps: 10,000 services' empty maps cost 100 ms and 10 MB.
function elementsOf(c: Contribution, map: MapName): Map<string, string> {
  let e = c.elements.get(map);
  if (!e) c.elements.set(map, (e = new Map()));
  return e;
}

/** Where a service's frontends go: ClusterIPs, and (made on first use) the external ones. */
interface Targets {
  internal: string;
  external: () => string;
}

/** The shared pick chains and each frontend's endpoints in slots 0..n-1 of its protocol's map. */
function pickByMap(svc: LbService, c: Contribution, masquerade: string[]): Targets {
  const p = svc.protocol.toLowerCase();
  const n = svc.backends.length;
  const map = `endpoints-${p}` as MapName;
  const pick = `pick-${p}-${n}`;
  const dnat = `meta l4proto ${p} dnat ip to ip daddr . ${p} dport . numgen random mod ${n} map @${map}`;
  c.slots = { map, frontends: svc.frontends.map((f) => flat(f.addr, ' . ', f.port)), endpoints: svc.backends.map((b) => flat(b.addr, ' . ', b.port)) };
  const chain = (name: string, rules: string[]) => (c.shared.set(name, rules), `goto ${name}`);
  return {
    internal: chain(pick, [dnat]),
    external: () => (masquerade.length ? chain(`masquerade-${pick}`, [...masquerade, dnat]) : chain(pick, [dnat])),
  };
}

/** With session affinity: the service's own chain checks the client's endpoint before a numgen cascade. */
function pickByChain(svc: LbService, c: Contribution, masquerade: string[]): Targets {
  const service = objectName('service', svc);
  const rules: string[] = [];
  c.chains.set(service, rules);
  // An endpoint chain records the client in the endpoint's set before DNAT.
  const targets = svc.backends.map((b) => {
    const chain = objectName('endpoint', svc, backendId(b));
    const set = objectName('affinity', svc, backendId(b));
    rules.push(`ip saddr @${set} goto ${chain}`);
    c.sets.push(set);
    c.chains.set(chain, [`update @${set} { ip saddr timeout ${svc.affinitySeconds}s }`, dnat(svc, b)]);
    return `goto ${chain}`;
  });
  const n = targets.length;
  rules.push(...targets.map((t, i) => (i < n - 1 ? `numgen random mod ${n - i} == 0 ${t}` : t)));
  const ext = objectName('external', svc);
  return {
    internal: `goto ${service}`,
    external: () => (c.chains.set(ext, [...masquerade, `goto ${service}`]), `goto ${ext}`),
  };
}

const dnat = (svc: LbService, b: Backend) => `meta l4proto ${svc.protocol.toLowerCase()} dnat to ${backendId(b)}`;

/** A service's contribution before and after an update (either absent: added or removed). */
export type ServiceChange = ContributionChange<Contribution>;

function sameContribution(a: Contribution, b: Contribution): boolean {
  const entries = (c: Contribution) => JSON.stringify([[...c.chains], [...c.shared], [...c.elements].map(([m, e]) => [m, [...e]]), c.slots, c.sets, c.hairpin]);
  return entries(a) === entries(b);
}

/** One update's changes: the services', and what services share: hairpin addresses and pick chains. */
export interface NftChanges {
  changes: ServiceChange[];
  /** addresses whose last holder went away, and addresses no service held before */
  hairpin: Shared;
  /** pick chains likewise */
  shared: Shared;
}

/** What one update added to and dropped from something services share. */
export interface Shared {
  deleted: string[];
  added: string[];
}

/** How many services hold each shared thing. */
class Holders {
  private readonly n = new Map<string, number>();

  count(changes: ServiceChange[], held: (c: Contribution) => Iterable<string>): Shared {
    const was = new Map<string, number>();
    const count = (k: string, by: number) => {
      const n = this.n.get(k) ?? 0;
      if (!was.has(k)) was.set(k, n);
      if (n + by) this.n.set(k, n + by);
      else this.n.delete(k);
    };
    for (const { before, after } of changes) {
      for (const k of before ? held(before) : []) count(k, -1);
      for (const k of after ? held(after) : []) count(k, 1);
    }
    const out: Shared = { deleted: [], added: [] };
    for (const [k, n] of was) {
      const now = this.n.has(k);
      if (n > 0 && !now) out.deleted.push(k);
      if (n === 0 && now) out.added.push(k);
    }
    return out;
  }
}

/** The ruleset kept across updates (see ContributionTracker), with how many services hold each shared thing. */
export class NftRulesetBuilder {
  private readonly tracker = new ContributionTracker(contributionOf, sameContribution);
  private readonly hairpin = new Holders();
  private readonly shared = new Holders();

  build(update: StateUpdate): NftChanges & { written: LbService[]; removed: LbService[] } {
    const r = this.tracker.update(update);
    return { ...r, hairpin: this.hairpin.count(r.changes, (c) => c.hairpin), shared: this.shared.count(r.changes, (c) => c.shared.keys()) };
  }

  /** Every contribution wanted now, by service key order (for a full reconcile and tests). */
  all(): Contribution[] {
    return this.tracker.all();
  }
}

/** The whole table as one structure: fixed chains, every service's chains, elements and sets. */
export interface NftRuleset {
  chains: Map<string, string[]>;
  /** map -> key -> verdict or endpoint */
  maps: Map<MapName, Map<string, string>>;
  sets: string[];
  /** the hairpin set's elements ("A . A") */
  hairpin: Set<string>;
}

export function mergeRuleset(contributions: Contribution[]): NftRuleset {
  const rs: NftRuleset = { chains: new Map(FIXED_CHAINS.map((ch) => [ch.name, ch.rules])), maps: new Map(MAP_NAMES.map((m) => [m, new Map()])), sets: [], hairpin: new Set() };
  for (const c of contributions) {
    for (const [chain, rules] of [...c.chains, ...c.shared]) rs.chains.set(chain, rules);
    for (const m of MAP_NAMES) for (const [k, v] of elementsIn(c, m)) rs.maps.get(m)!.set(k, v);
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
