// The eBPF dataplane: the reconciler programs the maps; when backends left UDP
// services, the sockets the socket programs connected to them are destroyed, so
// their applications reconnect through the service (as per-packet UDP flows move).
// It also keeps the flow tables (conntrack, reverse NAT, SNAT, affinity) free of
// entries whose flows ended, and watches the SNAT table's fill level, which only
// traffic drives.
import type { Logger } from 'pino';
import type { StateUpdate } from '../../model/state.js';
import type { Dataplane } from '../types.js';
import type { StateSize } from '../../observe/status.js';
import type { DatapathFacts } from '../../observe/metrics.js';
import type { BpfApplyStats, BpfReconciler } from './reconciler.js';
import type { XlbMaps } from './maps.js';
import { DROP_REASONS } from './codec.js';
import { namespacesOf } from './cgroup.js';
import { native } from './native.js';

/** How often ended flows are removed and the SNAT table's fill is looked at, and the share worth a warning. */
const HOUSEKEEPING_MS = 10_000;
const NAT_WARN_SHARE = 0.9;
/** Maps' fill is counted (a key walk each) at most this often for metrics. */
const FILL_MAX_AGE_MS = 5_000;

export interface FlowTables {
  /** the SNAT table's fd; it is one of `expiring`, whose sweep also counts its fill */
  nat: number;
  /** fds of the maps whose values start with an expiry */
  expiring: number[];
}

/** The flow tables of a set of maps. */
export function flowTables(m: XlbMaps): FlowTables {
  return { nat: m.nat.fd, expiring: [m.ct, m.rnat, m.nat, m.affinity].map((t) => t.fd) };
}

export class BpfDataplane implements Dataplane {
  readonly mode = 'bpf' as const;
  private natNearlyFull = false;
  private readonly timer: NodeJS.Timeout;
  private fill?: { at: number; maps: DatapathFacts['maps'] };
  /** flow table fd -> its entries, as housekeeping's sweep last counted them */
  private readonly flowCounts = new Map<number, number>();

  /**
   * `goLive`, when given, attaches the programs after the first full state is
   * programmed (fresh maps must not be live before that; the programs already
   * attached keep serving meanwhile).
   */
  constructor(
    private readonly reconciler: BpfReconciler,
    private readonly maps: XlbMaps,
    private readonly sweepFd: number,
    private readonly cgroup: string,
    private readonly flows: FlowTables,
    private readonly log: Logger,
    private goLive?: () => void,
  ) {
    this.timer = setInterval(() => {
      try {
        this.housekeeping();
      } catch (err) {
        // Programming goes on; the next round retries.
        this.log.warn({ err }, 'flow table housekeeping failed');
      }
    }, HOUSEKEEPING_MS).unref();
  }

  close(): void {
    clearInterval(this.timer);
    this.reconciler.close();
  }

  /** Removes ended flows; says once when the SNAT table nears full (new flows to remote backends then fail), and when it no longer does. */
  housekeeping(): void {
    for (const fd of this.flows.expiring) this.flowCounts.set(fd, native().mapDeleteExpired(fd).remaining);
    const used = this.flowCounts.get(this.flows.nat) ?? 0;
    const capacity = native().mapInfo(this.flows.nat).maxEntries;
    const near = used >= capacity * NAT_WARN_SHARE;
    if (near === this.natNearlyFull) return;
    this.natNearlyFull = near;
    const fill = { natEntries: used, natCapacity: capacity, percent: Math.round((used / capacity) * 100) };
    if (near) this.log.warn(fill, 'SNAT table nearly full: new flows to backends on other nodes fail once it is; raise --nat-table-size');
    else this.log.info(fill, 'SNAT table below its warning level again');
  }

  applied(): void {
    // Cleared once it succeeded: a failed attach is tried again after the next sync.
    this.goLive?.();
    this.goLive = undefined;
  }

  /** What the datapath counted, and the maps' fill. */
  facts(): DatapathFacts {
    const m = this.maps;
    const services = m.svcStats.entries().map(([id, s]) => ({
      service: m.names.get(id)?.name || `svc_id ${id}`,
      packets: Number(s.packets),
      bytes: Number(s.bytes),
      sockCalls: Number(s.sock_calls),
    }));
    const drops: Record<string, number> = {};
    for (const [reason, { count }] of m.drops.entries()) drops[DROP_REASONS[reason] ?? `reason ${reason}`] = Number(count);
    const now = Date.now();
    if (!this.fill || now - this.fill.at > FILL_MAX_AGE_MS) this.fill = { at: now, maps: mapFill(m, this.flowCounts) };
    return { services, drops, maps: this.fill.maps };
  }

  size(): StateSize {
    return this.reconciler.size();
  }

  apply(update: StateUpdate): BpfApplyStats & { socketNamespacesSwept?: number } {
    const stats = this.reconciler.apply(update);
    if (stats.udpMembersRemoved === 0) return stats;
    return { ...stats, socketNamespacesSwept: this.sweep() };
  }

  /** Runs the sweep in every network namespace of the cgroup's processes; returns how many. */
  private sweep(): number {
    const namespaces = namespacesOf(this.cgroup);
    const failed = native().iterRun(this.sweepFd, namespaces);
    for (const [ns, why] of Object.entries(failed)) {
      // A process that exited takes its namespace along: nothing left to sweep there.
      this.log.debug({ ns, why }, 'could not sweep the sockets of a network namespace');
    }
    return namespaces.length - Object.keys(failed).length;
  }
}

/**
 * The maps worth watching fill up, with their entries and capacity. `counted`: entries
 * already known by fd (the flow tables housekeeping sweeps), not walked again.
 */
export function mapFill(m: XlbMaps, counted: ReadonlyMap<number, number> = new Map()): DatapathFacts['maps'] {
  return [m.services, m.backends, m.members, m.affinity, m.ct, m.rnat, m.nat, m.sockets, m.sockPeers].map((t) => ({
    map: t.name,
    entries: counted.get(t.fd) ?? native().mapCount(t.fd),
    capacity: native().mapInfo(t.fd).maxEntries,
  }));
}
