// What every source hands the agent: the full current set of objects.
import type { EndpointSlice, Service } from '../model/k8s.js';

export interface Snapshot {
  services: Service[];
  slices: EndpointSlice[];
}

export interface Source {
  /** Starts delivering snapshots; the first one arrives once the source is in sync. */
  start(onSnapshot: (s: Snapshot) => void): Promise<void>;
  stop(): void;
}
