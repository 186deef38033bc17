// A per-service set of items mirrored into a BPF map whose keys are (svc_id, item):
// service membership of backends, source ranges. Adding and pruning are separate so
// callers can add before the datapath needs an item and prune after it stops; adds are
// written together at flush() (one batch for every service of a sync).
import type { MapLike } from './maps.js';

/** `I`: the item, a backend id or a CIDR. */
export class MapSets<K, I extends number | string> {
  private readonly sets = new Map<number, Set<I>>();
  private pending: Array<[K, number]> = [];
  /** items of every service: the map's entries once flushed */
  private count = 0;

  constructor(
    private readonly map: MapLike<K, number>,
    private readonly keyOf: (svcId: number, item: I) => K,
    itemOf: (key: K) => [svcId: number, item: I],
  ) {
    for (const [k] of map.entries()) {
      const [svcId, item] = itemOf(k);
      this.setOf(svcId).add(item);
      this.count++;
    }
  }

  get size(): number {
    return this.count;
  }

  holdsExactly(svcId: number, items: I[]): boolean {
    const have = this.sets.get(svcId);
    return (have?.size ?? 0) === new Set(items).size && items.every((i) => have!.has(i));
  }

  /** Queues the items the service does not have yet; they reach the map at flush(). */
  add(svcId: number, items: Iterable<I>): void {
    const have = this.setOf(svcId);
    for (const item of items) {
      if (have.has(item)) continue;
      this.pending.push([this.keyOf(svcId, item), 1]);
      have.add(item);
      this.count++;
    }
  }

  flush(): void {
    const batch = this.pending;
    this.pending = [];
    this.map.setMany(batch);
  }

  /** Removes the service's items not in `keep`; returns how many went. */
  prune(svcId: number, keep: Iterable<I>): number {
    const want = new Set(keep);
    const have = this.setOf(svcId);
    let removed = 0;
    for (const item of have) {
      if (want.has(item)) continue;
      this.map.delete(this.keyOf(svcId, item));
      have.delete(item);
      removed++;
      this.count--;
    }
    if (have.size === 0) this.sets.delete(svcId);
    return removed;
  }

  private setOf(svcId: number): Set<I> {
    let s = this.sets.get(svcId);
    if (!s) this.sets.set(svcId, (s = new Set()));
    return s;
  }
}
