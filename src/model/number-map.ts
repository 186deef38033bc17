// A map from whole numbers below 2^53 to 32-bit counts or ids, in two typed arrays
// (open addressing, linear probing). Backend keys (address and port in one number)
// exceed V8's small integers, so a Map boxes each one: at 100,000 Services a million
// keys cost 16 bytes each plus the Map's entry, and a second of hashing per sync.
const EMPTY = -1;
/** The table doubles past this share of its slots in use. */
const MAX_LOAD = 0.7;
const TWO_32 = 4294967296;

/** The key, when the map can hold it (EMPTY marks a free slot). */
function checked(key: number): number {
  if (!(key >= 0 && key < Number.MAX_SAFE_INTEGER && Number.isInteger(key))) throw new RangeError(`NumberMap key ${key}: must be a whole number from 0 to 2^53 - 2`);
  return key;
}

export class NumberMap {
  private keys: Float64Array;
  private values: Uint32Array;
  private mask: number;
  private count = 0;

  constructor() {
    this.keys = new Float64Array(16).fill(EMPTY);
    this.values = new Uint32Array(16);
    this.mask = 15;
  }

  get size(): number {
    return this.count;
  }

  get(key: number): number | undefined {
    const i = this.find(key);
    return this.keys[i] === key ? this.values[i] : undefined;
  }

  set(key: number, value: number): void {
    this.put(this.find(checked(key)), key, value);
  }

  /**
   * Adds `delta` to the count held for `key` (none counts as 0) and returns the count
   * it held before; a count that reaches 0 (or less) removes the key. One lookup where
   * get, then set or delete, take two or three: a start counts a million backends so.
   */
  addCount(key: number, delta: number): number {
    const i = this.find(checked(key));
    const was = this.keys[i] === key ? this.values[i]! : 0;
    const n = was + delta;
    if (n > 0) this.put(i, key, n);
    else if (was > 0) this.remove(i);
    return was;
  }

  /** Sets `key`'s value in slot `i`, where find() found it or would put it. */
  private put(i: number, key: number, value: number): void {
    if (this.keys[i] !== key) {
      if (this.count + 1 > (this.mask + 1) * MAX_LOAD) {
        this.grow();
        i = this.find(key);
      }
      this.keys[i] = key;
      this.count++;
    }
    this.values[i] = value;
  }

  delete(key: number): boolean {
    const i = this.find(key);
    if (this.keys[i] !== key) return false;
    this.remove(i);
    return true;
  }

  /**
   * Empties slot `hole`. Later keys of its probe run move back into the hole (no
   * tombstones), so lookups stay as short as they were before any delete.
   */
  private remove(hole: number): void {
    this.count--;
    for (let j = (hole + 1) & this.mask; this.keys[j] !== EMPTY; j = (j + 1) & this.mask) {
      const home = this.slot(this.keys[j]!);
      // j's key may fill the hole when the hole lies on its probe run: home .. j, cyclically.
      if (((j - home) & this.mask) >= ((j - hole) & this.mask)) {
        this.keys[hole] = this.keys[j]!;
        this.values[hole] = this.values[j]!;
        hole = j;
      }
    }
    this.keys[hole] = EMPTY;
  }

  clear(): void {
    this.keys.fill(EMPTY);
    this.count = 0;
  }

  /** The slot that holds `key`, or the empty one where it would go. */
  private find(key: number): number {
    let i = this.slot(key);
    for (let k = this.keys[i]; k !== key && k !== EMPTY; k = this.keys[i]) i = (i + 1) & this.mask;
    return i;
  }

  private slot(key: number): number {
    // Both halves of the key, mixed (murmur3's finaliser): addresses differ in their high bits, ports in their low ones.
    let h = (key >>> 0) ^ Math.imul((key / TWO_32) >>> 0, 0x9e3779b1);
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    return (h ^ (h >>> 16)) & this.mask;
  }

  /** Makes room for `n` keys in all: filling it up to them then moves no key (a start fills a map of 100,000). */
  reserve(n: number): void {
    let slots = this.keys.length;
    while (n > slots * MAX_LOAD) slots *= 2;
    if (slots > this.keys.length) this.resize(slots);
  }

  private grow(): void {
    this.resize(this.keys.length * 2);
  }

  private resize(slots: number): void {
    const { keys, values } = this;
    this.keys = new Float64Array(slots).fill(EMPTY);
    this.values = new Uint32Array(slots);
    this.mask = slots - 1;
    for (let i = 0; i < keys.length; i++) {
      if (keys[i] === EMPTY) continue;
      const j = this.find(keys[i]!);
      this.keys[j] = keys[i]!;
      this.values[j] = values[i]!;
    }
  }
}
