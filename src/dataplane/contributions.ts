// What each service port adds to a rule-based datapath (iptables chains, nftables chains
// and map elements), kept across updates as kube-proxy's change trackers do: an update
// recomputes the services its delta names (all on a full one), drops the removed ones,
// and an upserted service whose contribution came out the same is no change at all.
import type { LbService, StateUpdate } from '../model/state.js';

export interface ContributionChange<C> {
  before?: C;
  after?: C;
}

export class ContributionTracker<C> {
  /** service key -> the service and its contribution */
  private readonly bySvc = new Map<string, { svc: LbService; c: C }>();

  constructor(
    private readonly contributionOf: (svc: LbService) => C,
    private readonly same: (a: C, b: C) => boolean,
  ) {}

  /** The contributions that changed, and the services written anew and dropped (a rewritten one is both). */
  update({ state, delta }: StateUpdate): { changes: Array<ContributionChange<C>>; written: LbService[]; removed: LbService[] } {
    const changes: Array<ContributionChange<C>> = [];
    const written: LbService[] = [];
    const removed: LbService[] = [];
    const drop = (key: string) => {
      const was = this.bySvc.get(key);
      if (!was) return;
      this.bySvc.delete(key);
      removed.push(was.svc);
      changes.push({ before: was.c });
    };
    if (delta.full) for (const key of [...this.bySvc.keys()]) if (!state.services.has(key)) drop(key);
    for (const key of delta.removed) drop(key);
    for (const key of delta.full ? state.services.keys() : delta.upserted) {
      const svc = state.services.get(key);
      if (!svc) continue;
      const was = this.bySvc.get(key);
      const c = this.contributionOf(svc);
      // Kept as it was: the old value stays (renderings cached by identity stay valid).
      if (was && this.same(was.c, c)) continue;
      if (was) removed.push(was.svc);
      this.bySvc.set(key, { svc, c });
      written.push(svc);
      changes.push({ before: was?.c, after: c });
    }
    return { changes, written, removed };
  }

  get(key: string): C | undefined {
    return this.bySvc.get(key)?.c;
  }

  /** Every contribution held, by service key order. */
  all(): C[] {
    return [...this.bySvc.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v.c);
  }
}
