// Programs the BPF maps with the difference between the desired state and what the
// maps hold. State is recovered from the pinned maps at start, so a restarted agent
// rewrites nothing that is already right and established flows keep their backends.
import type { Logger } from 'pino';
import type { Backend, DesiredState, LbService, StateUpdate } from '../../model/state.js';
import { backendId, backendNumber, backendRefs, frontendId } from '../../model/state.js';
import { maglevSize } from './maglev-size.js';
import { inlineTables, type TableBatch, type TableBuilder, type TableJob } from './table-builder.js';
import { NO_CHANGE, type ApplyStats, type Dataplane } from '../types.js';
import type { StateSize } from '../../observe/status.js';
import {
  BACKEND_F_REMOTE,
  IPPROTO,
  PROTO_NAME,
  SVC_F_DROP,
  SVC_F_SOURCE_RANGES,
  SVC_F_LOCAL,
  SVC_F_TERMINATING,
  SVC_TYPE,
  type BackendValue,
  type MemberKey,
  type SourceRangeKey,
  type SvcKey,
  type SvcName,
  type SvcValue,
} from './codec.js';
import { MapSets } from './map-sets.js';
import { NumberMap } from '../../model/number-map.js';
import { packed } from '../../model/compact.js';
import { IdPool } from './ids.js';
import type { MapBatch, MapLike } from './maps.js';
import type { MaglevTables } from './maglev-pool.js';
import { createLogger } from '../../log.js';
import { CAPACITY, type Capacity } from './capacity.js';

/** What runs out, for the log line that says so. */
const ROOM = {
  service: { map: 'xlb_svc_names', raise: '--max-services', full: (c: Capacity) => `all ${c.serviceIds} service ids are taken` },
  frontend: { map: 'xlb_services', raise: '--max-services', full: (c: Capacity) => `xlb_services is full (${c.frontends} frontends)` },
  backend: { map: 'xlb_backends', raise: '--max-backends', full: (c: Capacity) => `all ${c.backendIds} backend ids are taken` },
  member: { map: 'xlb_members', raise: '--max-backends', full: (c: Capacity) => `xlb_members is full (${c.members} service-endpoint pairs)` },
  table: { map: 'xlb_maglev', raise: 'XLB_MAGLEV_CHUNKS in bpf/xlb.h', full: () => 'the Maglev pool has no room for its table' },
} as const;
type Room = keyof typeof ROOM;
/** Something of a service the maps have no room for: the whole service, or one frontend or backend ("IP:PORT[/PROTO]"). */
type Left = { room: Room; what?: string };

/** What one pass does, planned before anything is written (see BpfReconciler.pass). */
interface Plan {
  /** the services looked at that have an id, in the order looked at */
  services: PlannedService[];
  newBackends: MapBatch<number, BackendValue>;
  names: Array<[number, SvcName]>;
  /** frontends a changed or removed service had, with that service: deleted unless claimed */
  staleFrontends: Array<[id: string, owner: string]>;
  /** backend ids changed or removed services used: released once the tables are in */
  released: number[];
  /** table regions (start, size) the frontends stop naming */
  retired: Array<[number, number]>;
  /** the tables to build (each for a planned service), handed to the builder as they are planned; all written after the backends and members */
  tables: TableBatch;
  /** services looked at, and what of each found no room */
  tried: string[];
  shortOf: Map<string, Map<string, Left>>;
}

interface PlannedService {
  svc: LbService;
  svcId: number;
  proto: number;
  /** its table as the frontends will name it */
  size: number;
  table?: number;
  /** the backends that got ids */
  backendIds: number[];
  /** its members in xlb_members: its backends, or none (see needsMembers) */
  members: number[];
  frontendIds: string[];
  /** its table, members or source ranges were written in this pass */
  written: boolean;
}

function noRoom(plan: Plan, key: string, room: Room, what?: string): void {
  let left = plan.shortOf.get(key);
  if (!left) plan.shortOf.set(key, (left = new Map()));
  left.set(what === undefined ? room : `${room} ${what}`, { room, what });
}

const NO_MEMBERS: number[] = [];

/**
 * Whether the datapath asks xlb_members about a service: for a UDP flow or socket
 * whose backend may have left (lb.h, sock_lb.bpf.c), and for a client's affinity
 * (select.h). A TCP service without affinity needs no members: a start of 10,000 such
 * services saves 100,000 hash inserts.
 */
const needsMembers = (svc: LbService, proto: number) => proto === IPPROTO.UDP || svc.affinitySeconds > 0;

/** An id from the pool, or none when every id is in use (the pool throws then). */
function tryAllocate(pool: IdPool): number | undefined {
  try {
    return pool.allocate();
  } catch {
    return undefined;
  }
}

export interface ReconcilerMaps {
  services: MapLike<SvcKey, SvcValue>;
  backends: MapLike<number, BackendValue>;
  members: MapLike<MemberKey, number>;
  sourceRanges: MapLike<SourceRangeKey, number>;
  names: MapLike<number, SvcName>;
  /** the datapath's per-service counters: a freed id's go with it, so its next service starts at zero */
  svcStats: Pick<MapLike<number, unknown>, 'delete'>;
}

export interface BpfApplyStats extends ApplyStats {
  /** (UDP service, backend) memberships removed: sockets connected to those backends must move */
  udpMembersRemoved: number;
}

interface ProgrammedService {
  svcId: number;
  /** the desired service last applied (its frontends' ids are made again when it changes: 0.6 MB less at 10,000 Services) */
  applied: LbService;
  /** the ids its table was built from, in order */
  backendIds: number[];
  /** where its table starts in the Maglev pool, and its size; none without a table */
  table?: number;
  size: number;
}

interface ProgrammedFrontend {
  key: SvcKey;
  value: SvcValue;
  /** the service that wrote it; none for entries recovered from the maps */
  owner?: string;
}

/**
 * A backend's identity as one number (address, port, TCP or UDP, its flags): 100,000
 * backends are looked up per full sync, and number keys cost far less than strings.
 * An address that moves to another node becomes another backend.
 */
function beKey(endpoint: number, proto: number, flags: number): number {
  return endpoint * 4 + (proto === IPPROTO.UDP ? 2 : 0) + (flags & BACKEND_F_REMOTE);
}

function sameIds(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

function sameValue(a: SvcValue, b: SvcValue): boolean {
  return (
    a.svc_id === b.svc_id &&
    a.maglev_size === b.maglev_size &&
    a.backend_count === b.backend_count &&
    a.type === b.type &&
    a.flags === b.flags &&
    a.affinity_timeout_s === b.affinity_timeout_s &&
    a.table === b.table
  );
}

export class BpfReconciler implements Dataplane {
  readonly mode = 'bpf' as const;
  private readonly svcIds: IdPool;
  private readonly backendIds: IdPool;
  private readonly services = new Map<string, ProgrammedService>();
  /** frontend id -> programmed key/value, as in xlb_services */
  private readonly frontends = new Map<string, ProgrammedFrontend>();
  /** backend key -> id, as in xlb_backends */
  private readonly backends = new NumberMap();
  /** backend id -> its key, and how many services use it (typed arrays: a million backends, no objects) */
  private readonly keyOf: Float64Array;
  private refs!: Uint32Array;
  /** Backend ids that may have lost their last service: checked at the end of apply. */
  private readonly maybeUnused = new Set<number>();
  /** Frontends recovered from the maps that no desired service has claimed yet. */
  private readonly unowned = new Set<string>();
  /** The table (start and size) each service's frontends named when found in the maps. */
  private readonly recoveredTables = new Map<number, { table: number; size: number }>();
  /** Service ids found in the maps at start and not yet matched to a desired service. */
  private readonly unclaimedIds = new Set<number>();
  /** The next apply compares every service with the maps: at start and after a failed apply. */
  private resync = true;
  /** Nothing recovered yet: what the maps hold was written by an earlier process. */
  private started = false;
  /** svc_id -> backend ids, as in xlb_members */
  private members!: MapSets<MemberKey, number>;
  /** svc_id -> CIDRs, as in xlb_source_ranges */
  private ranges!: MapSets<SourceRangeKey, string>;
  /** service key -> what of it the maps have no room for, by "room what", as logged */
  private readonly short = new Map<string, Map<string, Left>>();
  /** This apply removed something: services in `short` may fit now. */
  private freed = false;
  /** by backend id, for namesExactly (made at a restart's first sync) */
  private marks?: Uint8Array;

  /** `log`: where a full map is reported (pass the agent's); `capacity`: smaller in tests. */
  constructor(
    private readonly maps: ReconcilerMaps,
    private readonly tables: MaglevTables,
    private readonly log: Logger = createLogger(),
    private readonly capacity: Capacity = CAPACITY,
    /** where Maglev tables are built: inline, or on threads of the addon (the agent's) */
    private readonly builder: TableBuilder = inlineTables,
  ) {
    this.svcIds = new IdPool(1, capacity.serviceIds, 'service');
    this.backendIds = new IdPool(1, capacity.backendIds, 'backend');
    this.keyOf = new Float64Array(capacity.backendIds + 1);
    this.recover();
  }

  /**
   * Takes what the maps hold as the programmed state: at start (a restarted agent
   * rewrites nothing that is right) and after a failed apply, whose partial writes
   * the next apply then compares against instead of what it meant to write.
   */
  private recover(): void {
    this.resync = true;
    for (const c of [this.services, this.frontends, this.backends, this.maybeUnused, this.unowned, this.unclaimedIds, this.recoveredTables]) c.clear();
    this.svcIds.clear();
    this.backendIds.clear();
    // Zeroed pages that no id touches stay out of the agent's memory (fill(0) would touch them all).
    this.refs = new Uint32Array(this.capacity.backendIds + 1);
    for (const [id, b] of this.maps.backends.entries()) {
      this.backendIds.reserve(id);
      const k = beKey(backendNumber(b), b.proto, b.flags);
      this.backends.set(k, id);
      this.keyOf[id] = k;
      this.maybeUnused.add(id);
    }
    this.members = new MapSets(
      this.maps.members,
      (svc_id, backend_id) => ({ svc_id, backend_id }),
      (k) => [k.svc_id, k.backend_id],
    );
    this.ranges = new MapSets(
      this.maps.sourceRanges,
      (svc_id, cidr) => {
        const [addr, len] = cidr.split('/');
        return { prefixlen: 32 + Number(len), svc_id, addr: addr! };
      },
      (k) => [k.svc_id, `${k.addr}/${k.prefixlen - 32}`],
    );
    for (const [key, value] of this.maps.services.entries()) {
      this.svcIds.reserve(value.svc_id);
      this.unclaimedIds.add(value.svc_id);
      const id = frontendId({ addr: key.addr, port: key.port, protocol: PROTO_NAME[key.proto] ?? 'TCP' });
      this.frontends.set(id, { key, value });
      this.unowned.add(id);
      if (value.maglev_size) this.recoveredTables.set(value.svc_id, { table: value.table, size: value.maglev_size });
    }
    this.tables.reset([...this.recoveredTables.values()].map((t) => [t.table, t.size] as const), !this.started);
    this.started = true;
  }

  /** Stops the table builder's threads. */
  close(): void {
    this.builder.close();
  }

  /** Counted from what the maps were given: services with an id, xlb_services entries, xlb_backends entries. */
  size(): StateSize {
    return { services: this.services.size, frontends: this.frontends.size, backends: this.backends.size };
  }

  apply(update: StateUpdate): BpfApplyStats {
    try {
      return this.sync(update);
    } catch (err) {
      this.recover();
      throw err;
    } finally {
      this.tables.release();
    }
  }

  /**
   * Writes the services the delta names and removes those it says are gone; after a
   * start, a failed apply or a builder that started over, every service is compared
   * with what the maps hold instead, so a change among 10,000 services costs that
   * service's work alone and a resync rewrites nothing that is right.
   */
  private sync({ state, delta }: StateUpdate): BpfApplyStats {
    const full = delta.full || this.resync;
    this.resync = true; // until this apply has succeeded
    const stats: BpfApplyStats = { ...NO_CHANGE, udpMembersRemoved: 0 };
    const desired = (keys: Iterable<string>) => [...keys].flatMap((k) => state.services.get(k) ?? []);
    if (full) this.backends.reserve(backendRefs(state));
    this.freed = false;
    this.pass(state, full ? state.services.values() : desired(delta.upserted), full ? undefined : delta.removed, stats);
    // Removals come last in a pass: the room they freed goes to what did not fit at
    // once, rather than at some later change.
    if (this.freed && this.short.size > 0) this.pass(state, desired(this.short.keys()), new Set(), stats);
    for (const left of this.short.values()) stats.overCapacity += left.size;
    this.resync = false;
    return stats;
  }

  /**
   * One pass, in the order the datapath needs: new backends and tables are in before
   * frontends name them, and what frontends stop naming goes after they moved.
   * `maybeGone`: the services that may have left the state (all when absent).
   */
  private pass(state: DesiredState, looked: Iterable<LbService>, maybeGone: ReadonlySet<string> | undefined, stats: BpfApplyStats): void {
    const tables = this.builder.batch(this.tables);
    let plan: Plan;
    try {
      plan = this.plan(looked, stats, tables);
      this.writeBackendsAndTables(plan, stats);
    } catch (err) {
      // No thread may still be writing into the pool when the apply recovers from the maps.
      tables.cancel();
      throw err;
    }
    this.flipFrontends(plan, stats);
    this.pruneMembers(plan, stats);
    for (const key of plan.tried) this.reportRoom(key, plan.shortOf.get(key));
    this.removeGone(state, maybeGone, plan, stats);
    this.releaseBackends(plan, stats);
  }

  /**
   * Gives each looked-at service its id and backend ids and stages its table (written
   * into the bank no frontend names); records what it leaves behind.
   */
  private plan(looked: Iterable<LbService>, stats: BpfApplyStats, tables: TableBatch): Plan {
    const plan: Plan = { services: [], newBackends: this.maps.backends.batch(), names: [], staleFrontends: [], released: [], retired: [], tables, tried: [], shortOf: new Map() };
    for (const svc of looked) {
      const cur = this.services.get(svc.key);
      plan.tried.push(svc.key);
      const svcId = this.svcIdFor(svc);
      if (svcId === undefined) {
        noRoom(plan, svc.key, 'service');
        continue;
      }
      const proto = IPPROTO[svc.protocol as keyof typeof IPPROTO];
      // A changed service may need a new table and members (old ones go after it is
      // in): it stays as programmed when they do not fit.
      const changed = !cur || cur.applied !== svc;
      const withMembers = needsMembers(svc, proto);
      const memberRoom = withMembers ? svc.backends.length : 0;
      const short = !changed ? undefined : !this.tables.fits(maglevSize(svc.backends.length)) ? 'table' : this.members.size + memberRoom > this.capacity.members ? 'member' : undefined;
      if (short) {
        if (!cur) this.svcIds.release(svcId);
        noRoom(plan, svc.key, short);
        continue;
      }
      /** the backends that have ids: as backendNumber, their weights and their ids */
      const endpoints: number[] = [];
      const weights: number[] = [];
      const claimed: number[] = [];
      for (const b of svc.backends) {
        const endpoint = backendNumber(b);
        const id = this.claimBackend(b, endpoint, proto, plan.newBackends);
        if (id === undefined) {
          noRoom(plan, svc.key, 'backend', backendId(b));
          continue;
        }
        endpoints.push(endpoint);
        weights.push(b.weight);
        claimed.push(id);
      }
      const backendIds = packed(claimed);
      const members = withMembers ? backendIds : NO_MEMBERS;
      if (cur?.svcId !== svcId) plan.names.push([svcId, { name: svc.key }]);
      const active = cur?.svcId === svcId ? (cur.table === undefined ? undefined : { table: cur.table, size: cur.size }) : this.recoveredTables.get(svcId);
      const table = this.ensureTable(endpoints, weights, svcId, backendIds, members, cur, stats);
      // New members before the table or frontend that uses them (old ones go after it is in).
      const membersWritten = !this.members.holdsExactly(svcId, members);
      this.members.add(svcId, members);
      if (active && table.table !== active.table) plan.retired.push([active.table, active.size]);
      const frontendIds = svc.frontends.map(frontendId);
      if (cur) {
        plan.released.push(...cur.backendIds);
        const keep = new Set(frontendIds);
        for (const f of cur.applied.frontends) {
          const id = frontendId(f);
          if (!keep.has(id)) plan.staleFrontends.push([id, svc.key]);
        }
      }
      this.services.set(svc.key, { svcId, applied: svc, backendIds, table: table.table, size: table.size });
      // Ranges are in the trie before a frontend is flagged to check them (surplus ones go in pruneMembers).
      const written = table.written || membersWritten || !this.ranges.holdsExactly(svcId, svc.sourceRanges);
      if (written) stats.servicesWritten++;
      this.ranges.add(svcId, svc.sourceRanges);
      const planned: PlannedService = { svc, svcId, proto, size: table.size, table: table.table, backendIds, members, frontendIds, written };
      plan.services.push(planned);
      if (table.job) plan.tables.add(table.job);
    }
    return plan;
  }

  /**
   * Backends before the tables that name them; names, members and ranges with them.
   * The tables are built meanwhile (on threads of the addon, since they were planned, when
   * there are many), into the regions of the pool planned for them.
   */
  private writeBackendsAndTables(plan: Plan, stats: BpfApplyStats): void {
    stats.backendsAdded += plan.newBackends.length;
    plan.newBackends.write();
    this.maps.names.setMany(plan.names);
    this.members.flush();
    this.ranges.flush();
    plan.tables.finish();
    this.tables.publish();
  }

  /** Points each frontend at its service's new table, writing only the values that changed. */
  private flipFrontends(plan: Plan, stats: BpfApplyStats): void {
    const writes: Array<[SvcKey, SvcValue]> = [];
    for (const p of plan.services) {
      const { svc, svcId, size, table, backendIds } = p;
      let wrote = false;
      svc.frontends.forEach((f, i) => {
        const id = p.frontendIds[i]!;
        const value: SvcValue = {
          svc_id: svcId,
          maglev_size: size,
          backend_count: backendIds.length,
          type: SVC_TYPE[f.type],
          flags:
            (backendIds.length === 0 && svc.noEndpoints === 'drop' ? SVC_F_DROP : 0) |
            (f.type === 'LoadBalancer' && svc.sourceRanges.length ? SVC_F_SOURCE_RANGES : 0) |
            ((f.type === 'ClusterIP' ? svc.internalPolicyLocal : svc.externalPolicyLocal) ? SVC_F_LOCAL : 0) |
            (svc.terminatingFallback ? SVC_F_TERMINATING : 0),
          affinity_timeout_s: svc.affinitySeconds,
          table: table ?? 0,
        };
        const prev = this.frontends.get(id);
        // Entries this pass deletes still count: the map must hold old and new at once.
        if (!prev && this.frontends.size >= this.capacity.frontends) return noRoom(plan, svc.key, 'frontend', id);
        this.unowned.delete(id);
        if (prev && sameValue(prev.value, value)) {
          prev.owner = svc.key;
          return;
        }
        const key: SvcKey = { addr: f.addr, port: f.port, proto: p.proto };
        writes.push([key, value]);
        this.frontends.set(id, { key, value, owner: svc.key });
        wrote = true;
      });
      if (wrote && !p.written) stats.servicesWritten++;
    }
    this.maps.services.setMany(writes);
    stats.frontendsWritten += writes.length;
  }

  /**
   * Old members and ranges go once no frontend can reach them (members then match the
   * table the frontends name, which a restart relies on); so do the tables left behind.
   */
  private pruneMembers(plan: Plan, stats: BpfApplyStats): void {
    for (const { svc, svcId, proto, members } of plan.services) {
      const left = this.members.prune(svcId, members);
      if (proto === IPPROTO.UDP) stats.udpMembersRemoved += left;
      this.ranges.prune(svcId, svc.sourceRanges);
    }
    for (const [start, size] of plan.retired) this.tables.retire(start, size);
  }

  /**
   * Removes the services `state` no longer holds (of `maybeGone`, or of all), the
   * frontends no service claimed in this pass, and ids recovered at start that no
   * desired service took.
   */
  private removeGone(state: DesiredState, maybeGone: ReadonlySet<string> | undefined, plan: Plan, stats: BpfApplyStats): void {
    let unplaced = 0;
    for (const key of this.short.keys()) {
      if (!state.services.has(key)) this.short.delete(key);
      else if (!this.services.has(key)) unplaced++;
    }
    // Every programmed service is desired when the counts match (all desired ones are
    // programmed by now, but those without an id): then there is nothing to remove.
    const gone = this.services.size + unplaced === state.services.size ? [] : [...(maybeGone ?? this.services.keys())];
    for (const key of gone) {
      const svc = this.services.get(key);
      if (!svc || state.services.has(key)) continue;
      for (const f of svc.applied.frontends) plan.staleFrontends.push([frontendId(f), key]);
      plan.released.push(...svc.backendIds);
      const left = this.removeTableAndId(svc.svcId, svc.table === undefined ? undefined : [svc.table, svc.size]);
      if (svc.applied.protocol === 'UDP') stats.udpMembersRemoved += left;
      this.services.delete(key);
      stats.servicesRemoved++;
    }
    // A frontend goes unless a service claimed it in this pass (it may have moved).
    for (const [id, owner] of plan.staleFrontends) {
      const f = this.frontends.get(id);
      if (f && f.owner === owner) this.deleteFrontend(id, f, stats);
    }
    for (const id of this.unowned) this.deleteFrontend(id, this.frontends.get(id)!, stats);
    this.unowned.clear();
    // Their frontends are gone now, so their tables and ids go too. (Their protocol is
    // not known here: count their members as UDP ones.)
    for (const id of this.unclaimedIds) {
      const t = this.recoveredTables.get(id);
      stats.udpMembersRemoved += this.removeTableAndId(id, t && [t.table, t.size]);
    }
    this.unclaimedIds.clear();
    this.tables.commit();
  }

  /** Backends go last: no table references them any more. */
  private releaseBackends(plan: Plan, stats: BpfApplyStats): void {
    for (const id of plan.released) {
      if (--this.refs[id]! === 0) this.maybeUnused.add(id);
    }
    for (const id of this.maybeUnused) {
      if (this.refs[id]! > 0) continue;
      this.maps.backends.delete(id);
      this.backends.delete(this.keyOf[id]!);
      this.backendIds.release(id);
      this.freed = true;
      stats.backendsRemoved++;
    }
    this.maybeUnused.clear();
  }

  /** Says once what of a service found no room, and when all of it is in. */
  private reportRoom(key: string, left: Map<string, Left> | undefined): void {
    const was = this.short.get(key);
    for (const [item, { room, what }] of left ?? []) {
      if (was?.has(item)) continue;
      const r = ROOM[room];
      this.log.error(
        { service: key, ...(what && { [room]: what }), map: r.map, raise: r.raise },
        `${key}${what ? `: ${room} ${what}` : ''} not programmed: ${r.full(this.capacity)}; remove Services or endpoints, or raise ${r.raise}`,
      );
    }
    if (left) this.short.set(key, left);
    else if (this.short.delete(key)) this.log.info({ service: key }, `${key}: programmed in full now`);
  }

  private deleteFrontend(id: string, f: ProgrammedFrontend, stats: ApplyStats): void {
    this.maps.services.delete(f.key);
    this.frontends.delete(id);
    this.freed = true;
    stats.frontendsRemoved++;
  }

  /** Returns how many members the service had. */
  private removeTableAndId(svcId: number, table: [start: number, size: number] | undefined): number {
    if (table) this.tables.retire(...table);
    const members = this.members.prune(svcId, []);
    this.ranges.prune(svcId, []);
    this.maps.names.delete(svcId);
    this.maps.svcStats.delete(svcId);
    this.svcIds.release(svcId);
    this.freed = true;
    return members;
  }

  /** The backend's id, counting one more service using it; a new one is queued in `added`; none when no id is free. */
  private claimBackend(b: Backend, endpoint: number, proto: number, added: MapBatch<number, BackendValue>): number | undefined {
    const flags = b.remote ? BACKEND_F_REMOTE : 0;
    const k = beKey(endpoint, proto, flags);
    const known = this.backends.get(k);
    if (known !== undefined) {
      this.refs[known]!++;
      return known;
    }
    const id = tryAllocate(this.backendIds);
    if (id === undefined) return undefined;
    added.add(id, { addr: b.addr, port: b.port, proto, flags });
    this.backends.set(k, id);
    this.keyOf[id] = k;
    this.refs[id] = 1;
    return id;
  }

  /** Keeps a service's id across syncs and restarts (recovered from its frontends); none when no id is free. */
  private svcIdFor(svc: LbService): number | undefined {
    const known = this.services.get(svc.key)?.svcId;
    if (known !== undefined) return known;
    for (const f of svc.frontends) {
      const id = this.frontends.get(frontendId(f))?.value.svc_id;
      if (id !== undefined && this.unclaimedIds.delete(id)) return id;
    }
    return tryAllocate(this.svcIds);
  }

  /** Whether a table found in the pool at start names exactly the backends `ids`. */
  private namesExactly(found: { table: number; size: number }, ids: readonly number[]): boolean {
    // 1: one of ids, 2: one of ids the table names; reset to 0 before returning.
    const mark = (this.marks ??= new Uint8Array(this.capacity.backendIds + 1));
    for (const id of ids) mark[id] = 1;
    let named = 0;
    let exact = true;
    for (const id of this.tables.read(found.table, found.size)) {
      if (mark[id] === 1) {
        mark[id] = 2;
        named++;
      } else if (mark[id] !== 2) {
        exact = false;
        break;
      }
    }
    for (const id of ids) mark[id] = 0;
    return exact && named === ids.length;
  }

  /** The service's table: unchanged, one to build (`job`), or none (no backends). */
  private ensureTable(
    endpoints: number[],
    weights: number[],
    svcId: number,
    backendIds: number[],
    members: number[],
    cur: ProgrammedService | undefined,
    stats: ApplyStats,
  ): { size: number; table?: number; written: boolean; job?: TableJob } {
    const size = maglevSize(backendIds.length);
    // A table is a function of its size and its backend ids in order.
    if (cur && cur.svcId === svcId && cur.size === size && sameIds(cur.backendIds, backendIds)) return { size, table: cur.table, written: false };
    // Found in the maps at start: a table is a function of its backends, and members
    // match the table once a sync completes, so the same size and members mean the
    // same table (a restarted agent rewrites none); a service without members has the
    // backends its table names to tell.
    const found = cur ? undefined : this.recoveredTables.get(svcId);
    if (found && found.size === size && (members.length ? this.members.holdsExactly(svcId, members) : this.namesExactly(found, backendIds)))
      return { size, table: found.table, written: false };
    // No endpoints, and no table to take away (a restarted agent's such service).
    if (size === 0 && !found && cur?.table === undefined) return { size, written: false };
    stats.tablesWritten++;
    if (size === 0) return { size, written: true };
    const table = this.tables.reserve(size);
    const job: TableJob = { endpoints, weights, backendIds, size, start: table };
    return { size, table, written: true, job };
  }

}
