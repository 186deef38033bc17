// What every source hands the agent: the full current set of objects.
import type { EndpointSlice, Service } from '../model/k8s.js';

/** What the source knows of this node (the API's Node object). */
export interface NodeFacts {
  zone?: string;
  /** the Node's InternalIP/ExternalIP addresses */
  ips: string[];
}

export interface Snapshot {
  services: Service[];
  slices: EndpointSlice[];
  node?: NodeFacts;
  /**
   * When the changes this snapshot carries were made (ms, Unix time): an EndpointSlice's
   * last-change-trigger-time, else when the source saw the change. For the network
   * programming latency; none for the initial state.
   */
  triggers?: number[];
}

export interface Source {
  /** Starts delivering snapshots; the first one arrives once the source is in sync. */
  start(onSnapshot: (s: Snapshot) => void): Promise<void>;
  stop(): void;
  /** Since when (ms, Unix time) the source cannot reach where its objects come from; undefined while it can. */
  unreachableSince?(): number | undefined;
}
