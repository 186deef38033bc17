// Small integer ids (service and backend slots in the maps), lowest free first, in
// O(log n): released ids wait in a min-heap, and ids never handed out come from a
// high-water mark. One endpoint change among 100,000 backends must not scan them.
// Ids in use are bits (a million backend ids: 128 KiB, where a Set took 25 MB).
export class IdPool {
  private readonly used: Uint32Array;
  /** released ids; may hold ids reserved since (skipped when popped) */
  private readonly free: number[] = [];
  /** every id from here on has never been handed out */
  private next: number;

  constructor(
    private readonly first: number,
    private readonly last: number,
    private readonly what: string,
  ) {
    this.next = first;
    this.used = new Uint32Array(Math.ceil((last - first + 1) / 32));
  }

  private has(id: number): boolean {
    const i = id - this.first;
    return (this.used[i >>> 5]! & (1 << (i & 31))) !== 0;
  }

  private mark(id: number, inUse: boolean): void {
    const i = id - this.first;
    if (inUse) this.used[i >>> 5]! |= 1 << (i & 31);
    else this.used[i >>> 5]! &= ~(1 << (i & 31));
  }

  /** Marks an id found in use (recovered from the maps). */
  reserve(id: number): void {
    this.mark(id, true);
    for (; this.next < id; this.next++) if (!this.has(this.next)) this.push(this.next);
    if (this.next === id) this.next++;
  }

  allocate(): number {
    while (this.free.length) {
      const id = this.pop();
      if (!this.has(id)) return this.take(id);
    }
    while (this.next <= this.last) {
      const id = this.next++;
      if (!this.has(id)) return this.take(id);
    }
    throw new Error(`out of ${this.what} ids (${this.last - this.first + 1} in use): too many ${this.what}s for the BPF maps`);
  }

  release(id: number): void {
    if (!this.has(id)) return;
    this.mark(id, false);
    this.push(id);
  }

  clear(): void {
    this.used.fill(0);
    this.free.length = 0;
    this.next = this.first;
  }

  private take(id: number): number {
    this.mark(id, true);
    return id;
  }

  private push(id: number): void {
    const h = this.free;
    h.push(id);
    for (let i = h.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (h[p]! <= h[i]!) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
  }

  private pop(): number {
    const h = this.free;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length) {
      h[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && h[l]! < h[m]!) m = l;
        if (r < h.length && h[r]! < h[m]!) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
    return top;
  }
}
