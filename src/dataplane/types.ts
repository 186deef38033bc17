// What every dataplane offers the agent: apply a state update (the state and what
// changed since the last one), count what it wrote and what it holds.
import type { StateUpdate } from '../model/state.js';
import type { Observable } from '../observe/metrics.js';
import type { StateSize } from '../observe/status.js';

/** The datapaths the agent programs, in the order --mode auto tries them. */
export const DATAPLANE_MODES = ['bpf', 'nftables', 'iptables'] as const;
export type DataplaneMode = (typeof DATAPLANE_MODES)[number];

/** What one apply changed in the datapath; each field means the same in every mode. */
export interface ApplyStats {
  /** service ports (LbService) added or changed whose datapath state this apply wrote */
  servicesWritten: number;
  /** service ports removed */
  servicesRemoved: number;
  /**
   * frontends (IP:port/protocol) added or changed: eBPF counts the xlb_services values it
   * wrote (a new table flips each of its frontends), iptables and nftables every frontend of a service
   * port written
   */
  frontendsWritten: number;
  /** frontends removed */
  frontendsRemoved: number;
  /** Maglev tables written (eBPF; iptables and nftables have none) */
  tablesWritten: number;
  /** backends (endpoint address:port/protocol) the datapath did not hold before */
  backendsAdded: number;
  /** backends no service uses any more */
  backendsRemoved: number;
  /**
   * Objects the dataplane holds no room for (a full BPF map; never in iptables or nftables): service
   * ports, frontends and backends of a service left out, as of this apply.
   */
  overCapacity: number;
}

export const NO_CHANGE: Readonly<ApplyStats> = {
  servicesWritten: 0,
  servicesRemoved: 0,
  frontendsWritten: 0,
  frontendsRemoved: 0,
  tablesWritten: 0,
  backendsAdded: 0,
  backendsRemoved: 0,
  overCapacity: 0,
};

export interface Dataplane extends Observable {
  readonly mode: DataplaneMode;
  /** Updates are applied in the order built; after a failed one the next is compared in full. */
  apply(update: StateUpdate): ApplyStats;
  /** What the datapath holds, as of the last successful apply. */
  size(): StateSize;
  /** Called after each successful apply: a dataplane that waits for its first full state to go live goes live here. */
  applied?(): void;
  /** Stops its background work (what it programmed stays). */
  close?(): void;
}
