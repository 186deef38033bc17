// A set of a few values, as most Services have (ten endpoints, no source ranges): an
// array scanned while it is small, a Set beyond. A start made tens of thousands of
// Sets of ten or fewer values, each costing more than the scan.
const SCAN_MAX = 16;

export class SmallSet<T> {
  private readonly few: T[];
  private many?: Set<T>;

  constructor(items: readonly T[] = []) {
    this.few = items.slice();
    if (this.few.length > SCAN_MAX) this.many = new Set(this.few);
  }

  has(item: T): boolean {
    return this.many ? this.many.has(item) : this.few.includes(item);
  }

  /** False when `item` was in the set already. */
  add(item: T): boolean {
    if (this.many) return this.many.size < this.many.add(item).size;
    if (this.few.includes(item)) return false;
    this.few.push(item);
    if (this.few.length > SCAN_MAX) this.many = new Set(this.few);
    return true;
  }
}
