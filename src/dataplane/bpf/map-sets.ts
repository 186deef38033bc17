// A per-service set of items mirrored into a BPF map whose keys are (svc_id, item):
// service membership of backends, source ranges. Adding and pruning are separate so
// callers can add before the datapath needs an item and prune after it stops; adds are
// written together at flush() (one batch for every service of a sync). A service's items
// are a plain array: a Set per service cost 650 bytes for ten backends (55 MB at 100,000
// services), an array a sixth of that.
import type { MapBatch, MapLike } from './maps.js';
import { packed } from '../../model/compact.js';
import { SmallSet } from '../../model/small-set.js';

/** `I`: the item, a backend id or a CIDR. */
export class MapSets<K, I extends number | string> {
  private readonly sets = new Map<number, I[]>();
  private readonly pending: MapBatch<K, number>;
  /** items of every service: the map's entries once flushed */
  private count = 0;

  constructor(
    private readonly map: MapLike<K, number>,
    private readonly keyOf: (svcId: number, item: I) => K,
    itemOf: (key: K) => [svcId: number, item: I],
  ) {
    this.pending = map.batch();
    for (const [k] of map.entries()) {
      const [svcId, item] = itemOf(k);
      this.itemsOf(svcId).push(item);
      this.count++;
    }
    for (const [svcId, items] of this.sets) this.sets.set(svcId, packed(items));
  }

  get size(): number {
    return this.count;
  }

  /** Whether the service's items are `items` (distinct), in any order. */
  holdsExactly(svcId: number, items: readonly I[]): boolean {
    const have = this.sets.get(svcId);
    if (!have) return items.length === 0;
    if (have.length !== items.length) return false;
    const want = new SmallSet(items);
    return have.every((item) => want.has(item));
  }

  /** Queues the items the service does not have yet; they reach the map at flush(). */
  add(svcId: number, items: readonly I[]): void {
    if (items.length === 0) return;
    const have = this.itemsOf(svcId);
    const before = have.length;
    const known = new SmallSet(have);
    for (const item of items) {
      if (!known.add(item)) continue;
      this.pending.add(this.keyOf(svcId, item), 1);
      have.push(item);
      this.count++;
    }
    if (have.length === 0) this.sets.delete(svcId);
    else if (have.length > before) this.sets.set(svcId, packed(have));
  }

  flush(): void {
    this.pending.write();
  }

  /** Removes the service's items not in `keep`; returns how many went. */
  prune(svcId: number, keep: readonly I[]): number {
    const have = this.sets.get(svcId);
    if (!have) return 0;
    // Most often what was just added, in the same order: nothing to look up.
    if (have.length === keep.length && have.every((item, i) => item === keep[i])) return 0;
    const want = new SmallSet(keep);
    const kept = have.filter((item) => want.has(item));
    for (const item of have) if (!want.has(item)) this.map.delete(this.keyOf(svcId, item));
    const removed = have.length - kept.length;
    this.count -= removed;
    if (kept.length === 0) this.sets.delete(svcId);
    else if (removed) this.sets.set(svcId, kept);
    return removed;
  }

  private itemsOf(svcId: number): I[] {
    let s = this.sets.get(svcId);
    if (!s) this.sets.set(svcId, (s = []));
    return s;
  }
}
