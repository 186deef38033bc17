// ApplyStats and StateSize for the rule-based datapaths (iptables, nftables): what an
// apply wrote and removed, and what they hold, counted from the service ports each
// apply rewrote, with the same meanings as eBPF mode's (types.ts).
import type { LbService } from '../model/state.js';
import { backendNumber, frontendId } from '../model/state.js';
import { NumberMap } from '../model/number-map.js';
import { NO_CHANGE, type ApplyStats } from './types.js';
import type { StateSize } from '../observe/status.js';

export class ServiceCounts {
  /** backend (address, port, protocol as one number) -> how many programmed services use it */
  private backendRefs = new NumberMap();
  private services = 0;
  private frontends = 0;

  /**
   * `written`: services whose rules this apply wrote; `removed`: the programmed versions
   * it dropped (a rewritten service is in both, as its old and its new version).
   */
  count(written: LbService[], removed: LbService[]): ApplyStats {
    const writtenKeys = new Set(written.map((s) => s.key));
    const frontends = (svcs: LbService[]) => new Set(svcs.flatMap((s) => s.frontends.map(frontendId)));
    const after = frontends(written);
    // A rewritten service is in both lists: its old version goes, its new one comes.
    this.services += written.length - removed.length;
    for (const svc of written) this.frontends += svc.frontends.length;
    for (const svc of removed) this.frontends -= svc.frontends.length;
    return {
      ...NO_CHANGE,
      servicesWritten: written.length,
      servicesRemoved: removed.filter((s) => !writtenKeys.has(s.key)).length,
      frontendsWritten: after.size,
      // A frontend that moves between services changes both: it is among `after`.
      frontendsRemoved: [...frontends(removed)].filter((f) => !after.has(f)).length,
      ...this.countBackends(written, removed),
    };
  }

  /** After a failed apply: what is programmed is not known, everything counts as new. */
  reset(): void {
    this.backendRefs = new NumberMap();
    this.services = 0;
    this.frontends = 0;
  }

  /** What the rules hold after the applies counted. */
  size(): StateSize {
    return { services: this.services, frontends: this.frontends, backends: this.backendRefs.size };
  }

  /** Keeps how many services use each backend: one no longer used is removed, a new one added. */
  private countBackends(written: LbService[], removed: LbService[]): Pick<ApplyStats, 'backendsAdded' | 'backendsRemoved'> {
    let added = 0;
    let gone = 0;
    const ids = (svc: LbService) => svc.backends.map((b) => backendNumber(b) * 2 + (svc.protocol === 'UDP' ? 1 : 0));
    // New versions first: a backend a rewritten service keeps is neither added nor removed.
    for (const svc of written) for (const id of ids(svc)) if (this.backendRefs.addCount(id, 1) === 0) added++;
    for (const svc of removed) for (const id of ids(svc)) if (this.backendRefs.addCount(id, -1) === 1) gone++;
    return { backendsAdded: added, backendsRemoved: gone };
  }
}
