// What every source hands the agent: the whole state of its objects, or what changed
// since the last delivery (changes as data: a change among 100,000 Services costs the
// change, not a walk over everything).
import type { EndpointSlice, ObjectChanges, Service } from '../model/k8s.js';

/** What the source knows of this node (the API's Node object). */
export interface NodeFacts {
  zone?: string;
  /** the Node's InternalIP/ExternalIP addresses */
  ips: string[];
}

interface Delivery {
  node?: NodeFacts;
  /**
   * When the changes this delivery carries were made (ms, Unix time): an EndpointSlice's
   * last-change-trigger-time, else when the source saw the change. For the network
   * programming latency; none for the initial state.
   */
  triggers?: number[];
}

/** Every object the source has: anything delivered before and missing here is gone. */
export interface Snapshot extends Delivery {
  full: true;
  services: Service[];
  slices: EndpointSlice[];
}

/** What changed since the source's last delivery. */
export interface Changes extends Delivery {
  full: false;
  services: ObjectChanges<Service>;
  slices: ObjectChanges<EndpointSlice>;
}

export type SourceUpdate = Snapshot | Changes;

export interface Source {
  /** Starts delivering updates; the first, a Snapshot, arrives once the source is in sync. */
  start(onUpdate: (u: SourceUpdate) => void): Promise<void>;
  stop(): void;
  /** Since when (ms, Unix time) the source cannot reach where its objects come from; undefined while it can. */
  unreachableSince?(): number | undefined;
}
