// What every dataplane offers the agent: apply the difference to reach a desired state.
import type { DesiredState } from '../model/state.js';
import type { Observable } from '../observe/metrics.js';

export interface ApplyStats {
  servicesWritten: number;
  servicesRemoved: number;
  frontendsWritten: number;
  frontendsRemoved: number;
  tablesWritten: number;
  backendsAdded: number;
  backendsRemoved: number;
  /**
   * Objects the dataplane holds no room for (a full BPF map; never in iptables): service
   * ports, frontends and backends of a service left out, as of this apply.
   */
  overCapacity: number;
}

export interface Dataplane extends Observable {
  readonly mode: 'bpf' | 'iptables';
  apply(state: DesiredState): ApplyStats;
  /** Called after each successful apply: a dataplane that waits for its first full state to go live goes live here. */
  applied?(): void;
  /** Stops its background work (what it programmed stays). */
  close?(): void;
}
