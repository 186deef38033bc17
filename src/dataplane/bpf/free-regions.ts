// The Maglev pool's free regions. A region freed next to a free one merges with it (in
// the same chunk: a table never spans two), so churn does not break the pool into
// pieces too small for the next table: M is a prime per backend count, and without
// merging a region freed by a table of 10 backends could only ever hold 10 or fewer.
export class FreeRegions {
  /** start -> size */
  private readonly byStart = new Map<number, number>();
  /** end (start + size) -> start */
  private readonly byEnd = new Map<number, number>();
  /** size -> starts */
  private readonly bySize = new Map<number, Set<number>>();

  /** `chunkOf`: the chunk a slot lies in. */
  constructor(private readonly chunkOf: (slot: number) => number) {}

  /** Frees a region, merged with the free regions on either side in its chunk. */
  release(start: number, size: number): void {
    const chunk = this.chunkOf(start);
    const before = this.byEnd.get(start);
    if (before !== undefined && this.chunkOf(before) === chunk) {
      size += start - before;
      start = before;
      this.remove(before);
    }
    const after = this.byStart.get(start + size);
    if (after !== undefined && this.chunkOf(start + size) === chunk) {
      this.remove(start + size);
      size += after;
    }
    this.byStart.set(start, size);
    this.byEnd.set(start + size, start);
    let starts = this.bySize.get(size);
    if (!starts) this.bySize.set(size, (starts = new Set()));
    starts.add(start);
  }

  /**
   * Takes a region of exactly `size` slots; with `split`, else the first `size` slots of
   * the smallest larger one (its rest stays free). None when no region will do.
   */
  take(size: number, split: boolean): number | undefined {
    const exact = this.bySize.get(size);
    if (exact) return this.remove(exact.values().next().value!);
    const best = split ? this.smallestFrom(size) : undefined;
    if (best === undefined) return undefined;
    const start = this.remove(this.bySize.get(best)!.values().next().value!);
    this.release(start + size, best - size);
    return start;
  }

  /** Whether a region of `size` slots or more is free. */
  fits(size: number): boolean {
    return this.smallestFrom(size) !== undefined;
  }

  private smallestFrom(size: number): number | undefined {
    let best: number | undefined;
    for (const s of this.bySize.keys()) if (s >= size && (best === undefined || s < best)) best = s;
    return best;
  }

  private remove(start: number): number {
    const size = this.byStart.get(start)!;
    this.byStart.delete(start);
    this.byEnd.delete(start + size);
    const starts = this.bySize.get(size)!;
    starts.delete(start);
    if (starts.size === 0) this.bySize.delete(size);
    return start;
  }
}
