// What every dataplane offers the agent: apply the difference to reach a desired state.
import type { DesiredState } from '../model/state.js';

export interface ApplyStats {
  servicesWritten: number;
  servicesRemoved: number;
  frontendsWritten: number;
  frontendsRemoved: number;
  tablesWritten: number;
  backendsAdded: number;
  backendsRemoved: number;
}

export interface Dataplane {
  readonly mode: 'bpf' | 'iptables';
  apply(state: DesiredState): ApplyStats;
  /** Stops its background work (what it programmed stays). */
  close?(): void;
}
