// Services + EndpointSlices -> desired state, with kube-proxy's rules for which
// Services are served and which endpoints back them.
import { isIPv4 } from 'node:net';
import {
  HEADLESS_LABEL,
  SERVICE_NAME_LABEL,
  SERVICE_PROXY_NAME_LABEL,
  TOPOLOGY_HINTS_ANNOTATION,
  TOPOLOGY_MODE_ANNOTATION,
  objectName,
  type EndpointSlice,
  type ObjectChanges,
  type Protocol,
  type Service,
  type ServicePort,
} from './k8s.js';
import { backendNumber, frontendId, type Backend, type DesiredState, type Frontend, type HealthCheck, type LbService, type ModelNotice, type StateUpdate } from './state.js';
import { categorizeEndpoints, type EndpointInfo } from './endpoints.js';
import { ipv4ToInt } from './ipv4.js';
import { flat, packed } from './compact.js';
import { SmallSet } from './small-set.js';

export interface NodeContext {
  name: string;
  /** IPv4 addresses NodePorts are served on. */
  ips: string[];
  /** topology.kubernetes.io/zone of this node, for topology hints */
  zone?: string;
  /** --proxy-name: serve Services whose service-proxy-name label has this value */
  proxyName?: string;
}

/** Protocols the datapath translates; others are left to the kernel. */
const SERVED_PROTOCOLS: ReadonlySet<Protocol> = new Set<Protocol>(['TCP', 'UDP']);

/**
 * kube-proxy's ShouldSkipService plus its label selector: headless, IP-less and
 * ExternalName Services get no rules, nor do those another proxy owns; and, as
 * kube-proxy's IPv4 proxier, none without an IPv4 cluster IP (IPv6 single-stack).
 */
export function isServed(svc: Service, node: Pick<NodeContext, 'proxyName'>): boolean {
  if (svc.spec.type === 'ExternalName') return false;
  const labels = svc.metadata.labels ?? {};
  if (HEADLESS_LABEL in labels) return false;
  const owner = labels[SERVICE_PROXY_NAME_LABEL];
  if (owner !== undefined && owner !== node.proxyName) return false;
  return clusterIPv4s(svc).length > 0;
}

export function namespaceOf(obj: { metadata: { namespace?: string } }): string {
  return obj.metadata.namespace || 'default';
}

export function serviceKey(svc: Service, port: ServicePort): string {
  return flat(namespaceOf(svc), '/', svc.metadata.name, ':', port.name || port.port, '/', port.protocol ?? 'TCP');
}

function clusterIPv4s(svc: Service): string[] {
  const ips = svc.spec.clusterIPs?.length ? svc.spec.clusterIPs : [svc.spec.clusterIP ?? ''];
  return ips.filter((ip) => isIPv4(ip));
}

function frontendsOf(svc: Service, port: ServicePort, node: NodeContext): Frontend[] {
  const protocol = port.protocol ?? 'TCP';
  const out: Frontend[] = [];
  const add = (addr: string, p: number, type: Frontend['type']) => {
    if (isIPv4(addr)) out.push({ addr, port: p, protocol, type });
  };
  for (const ip of clusterIPv4s(svc)) add(ip, port.port, 'ClusterIP');
  const type = svc.spec.type ?? 'ClusterIP';
  if ((type === 'NodePort' || type === 'LoadBalancer') && port.nodePort) {
    for (const ip of node.ips) add(ip, port.nodePort, 'NodePort');
  }
  for (const ip of svc.spec.externalIPs ?? []) add(ip, port.port, 'ExternalIP');
  if (type === 'LoadBalancer') {
    for (const ing of svc.status?.loadBalancer?.ingress ?? []) add(ing.ip ?? '', port.port, 'LoadBalancer');
  }
  return packed(out);
}

/**
 * Endpoints of one Service port across its slices, deduplicated, with their conditions.
 * `publishNotReadyAddresses` makes every endpoint count as ready, as the EndpointSlice
 * controller publishes them, so hand-written slices behave the same.
 */
function endpointsOf(port: ServicePort, slices: EndpointSlice[], publishNotReady = false): EndpointInfo[] {
  const protocol = port.protocol ?? 'TCP';
  const out: EndpointInfo[] = [];
  const seen = new SmallSet<number>();
  for (const slice of slices) {
    if (slice.addressType !== 'IPv4') continue;
    // Slice ports carry the resolved target port per port name, so named
    // targetPorts are already numbers here.
    const sp = slice.ports?.find((p) => (p.name ?? '') === (port.name ?? '') && (p.protocol ?? 'TCP') === protocol);
    if (!sp?.port) continue;
    for (const ep of slice.endpoints ?? []) {
      const addr = ep.addresses[0];
      // Below 0 when the address is not a dotted quad (the gate let through IPv4 ones only).
      const number = addr ? backendNumber({ addr, port: sp.port }) : -1;
      if (number < 0 || !seen.add(number)) continue;
      // The API's defaults for missing conditions, as kube-proxy reads them.
      const c = ep.conditions ?? {};
      out.push({
        addr,
        port: sp.port,
        number,
        name: ep.targetRef?.name,
        nodeName: ep.nodeName,
        ready: publishNotReady || c.ready !== false,
        serving: c.serving !== false,
        terminating: c.terminating === true,
        zoneHints: ep.hints?.forZones?.map((z) => z.name),
      });
    }
  }
  return out;
}

/** Endpoints without a nodeName are taken as this node's (as before nodeName existed). */
function toBackends(eps: EndpointInfo[], node: string): Backend[] {
  // Sorted by numeric address then port; slices mostly list them in order already.
  const sorted = eps.every((e, i) => i === 0 || eps[i - 1]!.number < e.number) ? eps : [...eps].sort((a, b) => a.number - b.number);
  // One shape for all (a field added afterwards costs a remote backend a second object).
  return sorted.map((e): Backend => ({ addr: e.addr, port: e.port, weight: 1, name: e.name, remote: e.nodeName !== undefined && e.nodeName !== node ? true : undefined }));
}

function topologyRequested(svc: Service): boolean {
  const a = svc.metadata.annotations ?? {};
  const mode = a[TOPOLOGY_MODE_ANNOTATION] ?? a[TOPOLOGY_HINTS_ANNOTATION];
  return mode === 'Auto' || mode === 'auto' || svc.spec.trafficDistribution === 'PreferClose';
}

/** kube-proxy's default sessionAffinityConfig.clientIP.timeoutSeconds (3 hours). */
export const DEFAULT_AFFINITY_SECONDS = 10800;

function affinitySeconds(svc: Service): number {
  if (svc.spec.sessionAffinity !== 'ClientIP') return 0;
  return svc.spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_SECONDS;
}

/** IPv4 CIDRs of loadBalancerSourceRanges, host bits cleared (IPv6 ranges are not served yet). */
export function sourceRanges(svc: Service): string[] {
  const out = new Set<string>();
  for (const cidr of svc.spec.loadBalancerSourceRanges ?? []) {
    const [ip, len] = cidr.trim().split('/');
    const bits = len === undefined ? 32 : Number(len);
    if (!ip || !isIPv4(ip) || !Number.isInteger(bits) || bits < 0 || bits > 32) continue;
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    const n = (ipv4ToInt(ip) & mask) >>> 0;
    out.add(`${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}/${bits}`);
  }
  return [...out].sort();
}

const isExternal = (f: Frontend) => f.type !== 'ClusterIP';
const sameBackends = (a: Backend[], b: Backend[]) => a.length === b.length && a.every((x, i) => x.addr === b[i]!.addr && x.port === b[i]!.port);


/** What one Service contributes to the desired state. */
interface Contribution {
  services: LbService[];
  /** with a healthCheckNodePort (LoadBalancer, externalTrafficPolicy Local) */
  healthCheck?: [port: number, check: HealthCheck];
}

/**
 * One LbService per Service port, or two when internal (ClusterIP) and external
 * (NodePort, ExternalIP, LoadBalancer) frontends need different endpoints because
 * of the traffic policies; the external one's key ends in "/external".
 */
function contributionOf(svc: Service, svcSlices: EndpointSlice[], node: NodeContext): Contribution {
  const out: Contribution = { services: [] };
  const hcPort = svc.spec.healthCheckNodePort;
  if (svc.spec.type === 'LoadBalancer' && svc.spec.externalTrafficPolicy === 'Local' && hcPort) {
    const local = new Set<string>();
    for (const port of svc.spec.ports ?? []) {
      for (const ep of endpointsOf(port, svcSlices, svc.spec.publishNotReadyAddresses)) if (ep.ready && ep.nodeName === node.name) local.add(ep.addr);
    }
    out.healthCheck = [hcPort, { namespace: namespaceOf(svc), name: svc.metadata.name, localEndpoints: local.size }];
  }
  for (const port of svc.spec.ports ?? []) {
    const protocol = port.protocol ?? 'TCP';
    if (!SERVED_PROTOCOLS.has(protocol)) continue;
    const frontends = frontendsOf(svc, port, node);
    const external = frontends.filter(isExternal);
    const internalLocal = svc.spec.internalTrafficPolicy === 'Local';
    const externalLocal = svc.spec.externalTrafficPolicy === 'Local' && external.length > 0;
    const eps = categorizeEndpoints(
      endpointsOf(port, svcSlices, svc.spec.publishNotReadyAddresses),
      { internalLocal, externalLocal, external: external.length > 0, topologyRequested: topologyRequested(svc) },
      node,
    );
    const internalEps = internalLocal ? eps.local : eps.cluster;
    const externalEps = externalLocal ? eps.local : eps.cluster;
    const internalBackends = toBackends(internalEps, node.name);
    // Most Services have no external frontends, or the same endpoints for both.
    const externalBackends = external.length === 0 || externalEps === internalEps ? internalBackends : toBackends(externalEps, node.name);
    const key = serviceKey(svc, port);
    // kube-proxy rejects when no endpoint exists anywhere, and drops when only a
    // Local policy keeps them out of reach.
    const noEndpoints = eps.hasAny ? 'drop' : 'reject';
    const affinity = affinitySeconds(svc);
    const ranges = sourceRanges(svc);
    // Every field written out (no spread): the object keeps them all in itself.
    const entry = (k: string, fs: Frontend[], backends: Backend[], chosen: EndpointInfo[]): LbService => ({
      key: k,
      namespace: namespaceOf(svc),
      name: svc.metadata.name,
      portName: port.name ?? '',
      protocol,
      frontends: fs,
      backends,
      noEndpoints,
      affinitySeconds: affinity,
      externalPolicyLocal: externalLocal,
      internalPolicyLocal: internalLocal,
      // Ready endpoints come first when there are any: otherwise these are terminating ones.
      terminatingFallback: chosen.length > 0 && !chosen[0]!.ready,
      sourceRanges: ranges,
    });
    if (externalBackends === internalBackends || sameBackends(internalBackends, externalBackends)) {
      out.services.push(entry(key, frontends, internalBackends, internalEps));
    } else {
      out.services.push(entry(key, packed(frontends.filter((f) => !isExternal(f))), internalBackends, internalEps));
      out.services.push(entry(flat(key, '/external'), packed(external), externalBackends, externalEps));
    }
  }
  out.services = packed(out.services);
  return out;
}

/** What makes `known` (by objectName) hold exactly `objects`: the new or replaced ones, and the names gone. */
function changesTo<T extends { metadata: { name: string; namespace?: string } }>(known: ReadonlyMap<string, T>, objects: readonly T[]): ObjectChanges<T> {
  // The first build: everything is new (a name given twice is taken as update() takes a change, the last one winning).
  if (known.size === 0) return { upserted: [...objects], deleted: [] };
  const now = new Map(objects.map((o) => [objectName(o), o]));
  return {
    upserted: [...now].filter(([name, o]) => known.get(name) !== o).map(([, o]) => o),
    deleted: [...known.keys()].filter((name) => !now.has(name)),
  };
}

/** The Service an EndpointSlice belongs to ("namespace/name"), if it names one. */
function ownerOf(s: EndpointSlice): string | undefined {
  const svcName = s.metadata.labels?.[SERVICE_NAME_LABEL];
  return svcName ? flat(namespaceOf(s), '/', svcName) : undefined;
}

/**
 * A service port's claim on a frontend. When several claim one, the oldest Service's
 * (metadata.creationTimestamp; an object without one counts as newest) gets it, then
 * the first by namespace/name, then the Service's first port: the datapaths hold one
 * entry per frontend, and a Service that worked must not lose its frontend to a newer one.
 */
interface Claim {
  lb: LbService;
  /** ms since the epoch; Infinity when unknown */
  created: number;
  /** "namespace/name" */
  service: string;
  /** the claim's place among its Service's claims */
  order: number;
}

function createdMs(svc: Service): number {
  // A string from manifests and watches, a Date from client-node's typed lists.
  const t: unknown = svc.metadata.creationTimestamp;
  const ms = t instanceof Date ? t.getTime() : typeof t === 'string' ? Date.parse(t) : NaN;
  return Number.isNaN(ms) ? Infinity : ms;
}

function before(a: Claim, b: Claim): boolean {
  if (a.created !== b.created) return a.created < b.created;
  if (a.service !== b.service) return a.service < b.service;
  return a.order < b.order;
}

function winnerOf(claims: readonly Claim[]): Claim {
  let w = claims[0]!;
  for (const c of claims) if (before(c, w)) w = c;
  return w;
}

function conflictNotice(level: ModelNotice['level'], frontend: string, owner: Claim, loser: Claim): ModelNotice {
  const fields = { frontend, service: loser.lb.key, owner: owner.lb.key };
  if (level === 'info') return { level, fields, message: `frontend ${frontend} is no longer claimed by both ${owner.lb.key} and ${loser.lb.key}` };
  const why = owner.created !== loser.created ? 'the older Service' : owner.service !== loser.service ? 'first by namespace/name' : "the Service's earlier port";
  return { level, fields, message: `frontend ${frontend} is claimed by ${owner.lb.key} and ${loser.lb.key}: programmed for ${owner.lb.key} (${why}) only` };
}

/** What is built for one Service: its contribution, its claims, and what of it is in the state. */
interface Built {
  contribution: Contribution;
  /** per LbService of the contribution, its frontends' ids; null for a repeat within it */
  fids: Array<Array<string | null>>;
  claims: Array<Claim & { fid: string }>;
  /** the LbServices in the state: the contribution's, less the frontends other claims won */
  published: LbService[];
}

/**
 * The desired state, kept across builds with the objects it came from: only Services
 * whose object or slices changed are recomputed, so one endpoint change among 100,000
 * Services costs that Service's work. Each build says which service keys it upserted
 * and removed, so a dataplane looks at those alone. Services that share a frontend
 * with a changed one are re-filtered too (see Claim). The returned state is updated in
 * place by the next build.
 */
export class DesiredStateBuilder {
  private nodeKey?: string;
  /** the objects, by objectName */
  private readonly services = new Map<string, Service>();
  private readonly sliceByName = new Map<string, EndpointSlice>();
  /** Service name -> the slices that name it as theirs */
  private readonly slices = new Map<string, EndpointSlice[]>();
  private readonly built = new Map<string, Built>();
  /** frontend id -> every claim on it */
  private readonly claims = new Map<string, Claim[]>();
  /** frontend id -> the claims that lost it, with the winner, as last reported */
  private readonly conflicts = new Map<string, { owner: Claim; losers: Claim[] }>();
  private readonly state: DesiredState = { services: new Map(), healthChecks: new Map() };

  /** From every object there is: those built before and missing now are gone. */
  build(services: readonly Service[], slices: readonly EndpointSlice[], node: NodeContext): StateUpdate {
    return this.guarded(() => this.update(changesTo(this.services, services), changesTo(this.sliceByName, slices), node));
  }

  /** From what changed since the last build. */
  change(services: ObjectChanges<Service>, slices: ObjectChanges<EndpointSlice>, node: NodeContext): StateUpdate {
    return this.guarded(() => this.update(services, slices, node));
  }

  private guarded(build: () => StateUpdate): StateUpdate {
    try {
      return build();
    } catch (err) {
      // A build that stopped half way leaves nothing to build on: start over next time.
      this.nodeKey = undefined;
      throw err;
    }
  }

  private update(services: ObjectChanges<Service>, slices: ObjectChanges<EndpointSlice>, node: NodeContext): StateUpdate {
    const changed = new Set<string>();
    /** frontends shared before or after this build's changes: their owner may change */
    const affected = new Set<string>();
    /** Services whose frontends go to the state claim by claim: those sharing one */
    const republish = new Set<string>();
    const dirty = new Set<string>();
    for (const name of slices.deleted) this.dropSlice(name, dirty);
    for (const s of slices.upserted) {
      const name = objectName(s);
      if (this.sliceByName.get(name) === s) continue;
      this.dropSlice(name, dirty);
      this.sliceByName.set(name, s);
      const owner = ownerOf(s);
      if (!owner) continue;
      const list = this.slices.get(owner);
      if (list) list.push(s);
      else this.slices.set(owner, [s]);
      dirty.add(owner);
    }
    for (const name of services.deleted) if (this.services.delete(name)) dirty.add(name);
    for (const svc of services.upserted) {
      const name = objectName(svc);
      if (this.services.get(name) === svc) continue;
      this.services.set(name, svc);
      dirty.add(name);
    }
    const nodeKey = JSON.stringify([node.name, node.ips, node.zone, node.proxyName]);
    const everything = nodeKey !== this.nodeKey;
    if (everything) {
      // Frontends and endpoint choices depend on the node: start over from the objects
      // (conflicts are kept, so that only what differs afterwards is reported).
      this.nodeKey = nodeKey;
      for (const m of [this.built, this.claims, this.state.services, this.state.healthChecks]) m.clear();
      for (const fid of this.conflicts.keys()) affected.add(fid);
      for (const name of this.services.keys()) dirty.add(name);
    }

    for (const name of dirty) {
      const old = this.built.get(name);
      if (old) {
        this.unpublish(old.published, changed);
        const hc = old.contribution.healthCheck;
        if (hc && this.state.healthChecks.get(hc[0]) === hc[1]) this.state.healthChecks.delete(hc[0]);
        for (const c of old.claims) {
          const rest = this.claims.get(c.fid)!.filter((x) => x !== c);
          if (rest.length) {
            this.claims.set(c.fid, rest);
            affected.add(c.fid);
          } else this.claims.delete(c.fid);
        }
        this.built.delete(name);
      }
      const svc = this.services.get(name);
      if (!svc || !isServed(svc, node)) continue;
      // Slices in name order: the same result whatever order they arrived in.
      const mine = this.slices.get(name) ?? [];
      const own = mine.length > 1 ? [...mine].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0)) : mine;
      const contribution = contributionOf(svc, own, node);
      const b: Built = { contribution, fids: [], claims: [], published: [] };
      const created = createdMs(svc);
      /** a frontend repeated within it or claimed by another: only what it wins is published */
      let shared = false;
      for (const lb of contribution.services) {
        // Most service ports have one frontend: no set needed to find repeats.
        const seen = lb.frontends.length > 1 ? new Set<string>() : undefined;
        b.fids.push(
          lb.frontends.map((f) => {
            const fid = frontendId(f);
            if (seen?.has(fid)) {
              shared = true;
              return null;
            }
            seen?.add(fid);
            const c = { lb, created, service: name, order: b.claims.length, fid };
            b.claims.push(c);
            const list = this.claims.get(fid);
            if (list) {
              list.push(c);
              affected.add(fid);
              shared = true;
            } else this.claims.set(fid, [c]);
            return fid;
          }),
        );
      }
      b.fids = packed(b.fids);
      b.claims = packed(b.claims);
      this.built.set(name, b);
      if (shared) republish.add(name);
      else this.publishAll(b, changed);
      if (contribution.healthCheck) this.state.healthChecks.set(...contribution.healthCheck);
    }

    // Everyone whose claims may have won or lost a frontend is published anew.
    for (const fid of affected) for (const c of this.claims.get(fid) ?? []) republish.add(c.service);
    for (const name of republish) this.publish(this.built.get(name)!, changed);
    const notices = this.conflictNotices(affected);
    if (everything) return { state: this.state, delta: { upserted: new Set(this.state.services.keys()), removed: new Set(), full: true }, notices };
    const upserted = new Set<string>();
    const removed = new Set<string>();
    for (const key of changed) (this.state.services.has(key) ? upserted : removed).add(key);
    return { state: this.state, delta: { upserted, removed, full: false }, notices };
  }

  /** Forgets a slice (if known), marking the Service it belonged to. */
  private dropSlice(name: string, dirty: Set<string>): void {
    const old = this.sliceByName.get(name);
    if (!old) return;
    this.sliceByName.delete(name);
    const owner = ownerOf(old);
    if (!owner) return;
    const rest = (this.slices.get(owner) ?? []).filter((x) => x !== old);
    if (rest.length) this.slices.set(owner, rest);
    else this.slices.delete(owner);
    dirty.add(owner);
  }

  private unpublish(published: LbService[], changed: Set<string>): void {
    for (const lb of published) {
      this.state.services.delete(lb.key);
      changed.add(lb.key);
    }
  }

  /** Puts a Service's LbServices in the state as they are: none of their frontends is repeated or claimed by another (so far). */
  private publishAll(b: Built, changed: Set<string>): void {
    for (const lb of b.contribution.services) {
      this.state.services.set(lb.key, lb);
      changed.add(lb.key);
    }
    b.published = b.contribution.services;
  }

  /** Puts a Service's LbServices in the state with the frontends its claims won; unchanged ones keep their identity. */
  private publish(b: Built, changed: Set<string>): void {
    // A recomputed Service has nothing published yet: no lookup to prepare.
    const prev = b.published.length ? new Map(b.published.map((lb) => [lb.key, lb])) : undefined;
    const next: LbService[] = [];
    b.contribution.services.forEach((lb, i) => {
      const fids = b.fids[i]!;
      const owns = (fid: string | null) => fid !== null && winnerOf(this.claims.get(fid)!).lb === lb;
      const kept = fids.every(owns) ? lb.frontends : lb.frontends.filter((_, j) => owns(fids[j]!));
      // A service port left without frontends has nothing to program.
      if (kept.length === 0) return;
      const was = prev?.get(lb.key);
      prev?.delete(lb.key);
      const same = was !== undefined && was.frontends.length === kept.length && was.frontends.every((f, j) => f === kept[j]);
      const pub = same ? was : kept === lb.frontends ? lb : { ...lb, frontends: kept };
      next.push(pub);
      if (pub === was) return;
      this.state.services.set(pub.key, pub);
      changed.add(pub.key);
    });
    if (prev) this.unpublish([...prev.values()], changed);
    b.published = next;
  }

  /** Conflicts that began or ended on the affected frontends. */
  private conflictNotices(affected: Set<string>): ModelNotice[] {
    const out: ModelNotice[] = [];
    for (const fid of affected) {
      const claims = this.claims.get(fid) ?? [];
      const was = this.conflicts.get(fid);
      if (claims.length < 2 && !was) continue;
      const owner = claims.length > 1 ? winnerOf(claims) : undefined;
      const losers = owner ? claims.filter((c) => c !== owner) : [];
      // The same pair (by service port) reported before is not news.
      const pair = (o: Claim, l: Claim) => `${o.lb.key} ${l.lb.key}`;
      const before = new Map((was?.losers ?? []).map((l) => [pair(was!.owner, l), l]));
      const now = new Set(losers.map((l) => pair(owner!, l)));
      for (const l of losers) if (!before.has(pair(owner!, l))) out.push(conflictNotice('warn', fid, owner!, l));
      for (const [p, l] of before) if (!now.has(p)) out.push(conflictNotice('info', fid, was!.owner, l));
      if (owner) this.conflicts.set(fid, { owner, losers });
      else this.conflicts.delete(fid);
    }
    return out;
  }
}

/** The desired state of one snapshot, computed from scratch (a full update). */
export function buildDesiredState(services: readonly Service[], slices: readonly EndpointSlice[], node: NodeContext): StateUpdate {
  return new DesiredStateBuilder().build(services, slices, node);
}
