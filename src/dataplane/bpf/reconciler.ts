// Programs the BPF maps with the difference between the desired state and what the
// maps hold. State is recovered from the pinned maps at start, so a restarted agent
// rewrites nothing that is already right and established flows keep their backends.
import type { DesiredState, LbService } from '../../model/state.js';
import { backendId, frontendId } from '../../model/state.js';
import { buildMaglevTable, maglevSize } from '../../model/maglev.js';
import type { ApplyStats, Dataplane } from '../types.js';
import {
  IPPROTO,
  PROTO_NAME,
  SVC_F_DROP,
  SVC_F_SOURCE_RANGES,
  SVC_TYPE,
  type BackendValue,
  type MemberKey,
  type SourceRangeKey,
  type SvcKey,
  type SvcName,
  type SvcValue,
} from './codec.js';
import { MapSets } from './map-sets.js';
import { IdPool } from './ids.js';
import type { MapLike } from './maps.js';
import type { MaglevTables } from './maglev-tables.js';

/** Below XLB_MAX_SERVICES / XLB_MAX_BACKENDS in bpf/xlb.h; id 0 means "none". */
const MAX_SERVICE_ID = 65535;
const MAX_BACKEND_ID = 262143;

export interface ReconcilerMaps {
  services: MapLike<SvcKey, SvcValue>;
  backends: MapLike<number, BackendValue>;
  members: MapLike<MemberKey, number>;
  sourceRanges: MapLike<SourceRangeKey, number>;
  names: MapLike<number, SvcName>;
}

interface ProgrammedService {
  svcId: number;
  /** size and backend ids in slot order of the table that is in the map */
  tableSignature: string;
}

function beKey(addr: string, port: number, proto: number): string {
  return `${addr}:${port}/${PROTO_NAME[proto] ?? proto}`;
}

function sameValue(a: SvcValue, b: SvcValue): boolean {
  return (
    a.svc_id === b.svc_id &&
    a.maglev_size === b.maglev_size &&
    a.backend_count === b.backend_count &&
    a.type === b.type &&
    a.flags === b.flags &&
    a.affinity_timeout_s === b.affinity_timeout_s
  );
}

export class BpfReconciler implements Dataplane {
  readonly mode = 'bpf' as const;
  private readonly svcIds = new IdPool(1, MAX_SERVICE_ID, 'service');
  private readonly backendIds = new IdPool(1, MAX_BACKEND_ID, 'backend');
  private readonly services = new Map<string, ProgrammedService>();
  /** frontend id -> programmed key/value, as in xlb_services */
  private readonly frontends = new Map<string, { key: SvcKey; value: SvcValue }>();
  /** backend key -> id, as in xlb_backends */
  private readonly backendIdOf = new Map<string, number>();
  /** Service ids found in the maps at start and not yet matched to a desired service. */
  private readonly unclaimedIds = new Set<number>();
  /** svc_id -> backend ids, as in xlb_members */
  private readonly members: MapSets<MemberKey>;
  /** svc_id -> CIDRs, as in xlb_source_ranges */
  private readonly ranges: MapSets<SourceRangeKey>;

  constructor(
    private readonly maps: ReconcilerMaps,
    private readonly tables: MaglevTables,
  ) {
    for (const [id, b] of maps.backends.entries()) {
      this.backendIds.reserve(id);
      this.backendIdOf.set(beKey(b.addr, b.port, b.proto), id);
    }
    this.members = new MapSets(
      maps.members,
      (svc_id, id) => ({ svc_id, backend_id: Number(id) }),
      (k) => [k.svc_id, String(k.backend_id)],
    );
    this.ranges = new MapSets(
      maps.sourceRanges,
      (svc_id, cidr) => {
        const [addr, len] = cidr.split('/');
        return { prefixlen: 32 + Number(len), svc_id, addr: addr! };
      },
      (k) => [k.svc_id, `${k.addr}/${k.prefixlen - 32}`],
    );
    for (const [key, value] of maps.services.entries()) {
      this.svcIds.reserve(value.svc_id);
      this.unclaimedIds.add(value.svc_id);
      this.frontends.set(frontendId({ addr: key.addr, port: key.port, protocol: PROTO_NAME[key.proto] ?? 'TCP' }), {
        key,
        value,
      });
    }
  }

  apply(state: DesiredState): ApplyStats {
    const stats: ApplyStats = {
      servicesWritten: 0,
      servicesRemoved: 0,
      frontendsWritten: 0,
      frontendsRemoved: 0,
      tablesWritten: 0,
      backendsAdded: 0,
      backendsRemoved: 0,
    };
    const wantedFrontends = new Set<string>();
    const wantedBackends = new Set<string>();
    /** Work that must wait until the new tables are in (frontends point at them). */
    const afterTables: Array<() => void> = [];
    const newBackends: Array<[number, BackendValue]> = [];
    const names: Array<[number, SvcName]> = [];
    const frontendWrites: Array<[SvcKey, SvcValue]> = [];

    for (const svc of state.services.values()) {
      const proto = IPPROTO[svc.protocol as keyof typeof IPPROTO];
      const backendIds = svc.backends.map((b) => {
        const k = beKey(b.addr, b.port, proto);
        wantedBackends.add(k);
        return this.ensureBackend(k, { addr: b.addr, port: b.port, proto }, newBackends);
      });
      const svcId = this.svcIdFor(svc);
      if (this.services.get(svc.key)?.svcId !== svcId) names.push([svcId, { name: svc.key }]);
      const size = this.ensureTable(svc, svcId, backendIds, stats);
      // Ranges are in the trie before a frontend is flagged to check them.
      this.ranges.add(svcId, svc.sourceRanges);
      for (const f of svc.frontends) wantedFrontends.add(frontendId(f));
      afterTables.push(() => {
        for (const f of svc.frontends) {
          const id = frontendId(f);
          const value: SvcValue = {
            svc_id: svcId,
            maglev_size: size,
            backend_count: backendIds.length,
            type: SVC_TYPE[f.type],
            flags:
              (backendIds.length === 0 && svc.noEndpoints === 'drop' ? SVC_F_DROP : 0) |
              (f.type === 'LoadBalancer' && svc.sourceRanges.length ? SVC_F_SOURCE_RANGES : 0),
            affinity_timeout_s: svc.affinitySeconds,
          };
          const cur = this.frontends.get(id);
          if (cur && sameValue(cur.value, value)) continue;
          const key: SvcKey = { addr: f.addr, port: f.port, proto };
          frontendWrites.push([key, value]);
          this.frontends.set(id, { key, value });
        }
        // Old members and ranges go once nothing can reach them.
        this.members.prune(svcId, backendIds.map(String));
        this.ranges.prune(svcId, svc.sourceRanges);
      });
    }
    // Backends before the tables that name them, tables before the frontends.
    this.maps.backends.setMany(newBackends);
    stats.backendsAdded = newBackends.length;
    this.maps.names.setMany(names);
    this.tables.commit();
    for (const f of afterTables) f();
    this.maps.services.setMany(frontendWrites);
    stats.frontendsWritten = frontendWrites.length;

    for (const [id, { key }] of this.frontends) {
      if (wantedFrontends.has(id)) continue;
      this.maps.services.delete(key);
      this.frontends.delete(id);
      stats.frontendsRemoved++;
    }
    for (const [key, svc] of this.services) {
      if (state.services.has(key)) continue;
      this.tables.remove(svc.svcId);
      this.members.prune(svc.svcId, []);
      this.ranges.prune(svc.svcId, []);
      this.maps.names.delete(svc.svcId);
      this.svcIds.release(svc.svcId);
      this.services.delete(key);
      stats.servicesRemoved++;
    }
    // Ids recovered from the maps that no desired service claimed: their frontends
    // are gone now, so their tables and ids go too.
    for (const id of this.unclaimedIds) {
      this.tables.remove(id);
      this.members.prune(id, []);
      this.ranges.prune(id, []);
      this.maps.names.delete(id);
      this.svcIds.release(id);
    }
    this.unclaimedIds.clear();
    this.tables.commit();

    // Backends go last: no table references them any more.
    for (const [k, id] of this.backendIdOf) {
      if (wantedBackends.has(k)) continue;
      this.maps.backends.delete(id);
      this.backendIdOf.delete(k);
      this.backendIds.release(id);
      stats.backendsRemoved++;
    }
    return stats;
  }

  /** The backend's id; a new one is queued in `added` for writing. */
  private ensureBackend(k: string, value: BackendValue, added: Array<[number, BackendValue]>): number {
    const known = this.backendIdOf.get(k);
    if (known !== undefined) return known;
    const id = this.backendIds.allocate();
    added.push([id, value]);
    this.backendIdOf.set(k, id);
    return id;
  }

  /** Keeps a service's id across syncs and restarts (recovered from its frontends). */
  private svcIdFor(svc: LbService): number {
    const known = this.services.get(svc.key)?.svcId;
    if (known !== undefined) return known;
    for (const f of svc.frontends) {
      const id = this.frontends.get(frontendId(f))?.value.svc_id;
      if (id !== undefined && this.unclaimedIds.delete(id)) return id;
    }
    return this.svcIds.allocate();
  }

  private ensureTable(svc: LbService, svcId: number, backendIds: number[], stats: ApplyStats): number {
    const size = maglevSize(backendIds.length);
    const signature = `${size}:${backendIds.join(',')}`;
    const cur = this.services.get(svc.key);
    if (!cur || cur.svcId !== svcId || cur.tableSignature !== signature) {
      // New members before the table that uses them (old ones go after it is in).
      this.members.add(svcId, backendIds.map(String));
      if (size === 0) {
        this.tables.remove(svcId);
      } else {
        // Permutations come from the backend's address, so every node builds the same table.
        const mapId = new Map(svc.backends.map((b, i) => [backendId(b), backendIds[i]!]));
        const { table, order } = buildMaglevTable(svc.backends.map((b) => ({ id: backendId(b), weight: b.weight })), size);
        const idOfIndex = Uint32Array.from(order, (b) => mapId.get(b.id)!);
        this.tables.write(svcId, table.map((i) => idOfIndex[i]!));
      }
      this.services.set(svc.key, { svcId, tableSignature: signature });
      stats.tablesWritten++;
      stats.servicesWritten++;
    }
    return size;
  }
}
