// Maglev consistent hashing (Eisenbud et al., NSDI '16): each backend walks its own
// permutation of the table and claims the next free slot, round by round, so every
// backend gets an equal share (±1 slot) and removing one backend moves only ~1/N of flows.

export const MAGLEV_MAX_SIZE = 65537;
/** Slots per backend: keeps each backend's share within 1% of ideal. */
export const SLOTS_PER_BACKEND = 100;

export interface MaglevBackend {
  /** Stable identity: the permutation depends on it, never on input order. */
  id: string;
  weight: number;
}

export function isPrime(n: number): boolean {
  if (n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

/** Smallest prime M >= 100 x backends, capped at 65537 (itself prime); 0 for no backends. */
export function maglevSize(backends: number): number {
  if (backends <= 0) return 0;
  let m = Math.min(SLOTS_PER_BACKEND * backends, MAGLEV_MAX_SIZE);
  while (!isPrime(m)) m++;
  return Math.min(m, MAGLEV_MAX_SIZE);
}

/**
 * Backends' identities as UTF-16 code units, one after another: backend i's run from
 * `bounds[i]` to `bounds[i + 1]`. A table build writes them here, from strings or
 * straight from endpoint numbers, so that tables of endpoints need no id strings
 * (a start at 100,000 Services would make and copy to the workers a million of them).
 */
class Identities {
  units = new Uint16Array(1024);
  bounds = new Uint32Array(65);
  count = 0;

  /** Starts over for `n` identities of at most `unitsEach` code units. */
  reset(n: number, unitsEach: number): void {
    if (this.bounds.length < n + 1) this.bounds = new Uint32Array(2 * n + 1);
    if (this.units.length < n * unitsEach) this.units = new Uint16Array(2 * n * unitsEach);
    this.count = 0;
    this.bounds[0] = 0;
  }

  /** Starts over for `ids`, strings of any length. */
  ofStrings(ids: readonly string[]): void {
    let total = 0;
    for (const id of ids) total += id.length;
    this.reset(ids.length, 0);
    if (this.units.length < total) this.units = new Uint16Array(total);
    for (const id of ids) {
      let at = this.bounds[this.count]!;
      for (let i = 0; i < id.length; i++) this.units[at++] = id.charCodeAt(i);
      this.bounds[++this.count] = at;
    }
  }

  /** Adds the identity backendId gives an endpoint ("a.b.c.d:port") from its backendNumber. */
  addEndpoint(n: number): void {
    const addr = Math.floor(n / 65536);
    let at = this.bounds[this.count]!;
    for (let shift = 24; shift >= 0; shift -= 8) {
      at = this.decimal((addr >>> shift) & 255, at);
      this.units[at++] = shift ? DOT : COLON;
    }
    this.bounds[++this.count] = this.decimal(n % 65536, at);
  }

  private decimal(v: number, at: number): number {
    if (v >= 10) at = this.decimal(Math.floor(v / 10), at);
    this.units[at] = ZERO + (v % 10);
    return at + 1;
  }

  /** Orders backends i and j by identity, as strings compare. */
  compare(i: number, j: number): number {
    const u = this.units;
    let a = this.bounds[i]!;
    let b = this.bounds[j]!;
    const aEnd = this.bounds[i + 1]!;
    const bEnd = this.bounds[j + 1]!;
    for (; a < aEnd && b < bEnd; a++, b++) if (u[a] !== u[b]) return u[a]! - u[b]!;
    return aEnd - a - (bEnd - b);
  }

  /** MurmurHash3 x86_32 over backend i's identity. */
  murmur3(i: number, seed: number): number {
    const u = this.units;
    const from = this.bounds[i]!;
    const len = this.bounds[i + 1]! - from;
    let h = seed >>> 0;
    let k = 0;
    let at = from;
    for (const end = from + (len & ~3); at < end; at += 4) {
      k = mix(u[at]! | (u[at + 1]! << 8) | (u[at + 2]! << 16) | (u[at + 3]! << 24));
      h ^= k;
      h = (h << 13) | (h >>> 19);
      h = (Math.imul(h, 5) + 0xe6546b64) | 0;
    }
    k = 0;
    switch (len & 3) {
      case 3:
        k ^= u[at + 2]! << 16;
      // falls through
      case 2:
        k ^= u[at + 1]! << 8;
      // falls through
      case 1:
        k ^= u[at]!;
        h ^= mix(k);
    }
    h ^= len;
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return h >>> 0;
  }
}

const DOT = 46;
const COLON = 58;
const ZERO = 48;
/** "255.255.255.255:65535" */
const ENDPOINT_UNITS = 21;

function mix(k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, 0x1b873593);
}

/** Reused across builds: 10,000 services would otherwise allocate 10,000 of each per sync. */
let scratch = new Uint8Array(0);
const identities = new Identities();

const OFFSET_SEED = 0x5eed0001;
const SKIP_SEED = 0x5eed0002;

const byId = (a: MaglevBackend, b: MaglevBackend) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * Builds a table of `size` slots (a prime); each slot holds an index into the
 * returned `order` (backends sorted by id).
 */
export function buildMaglevTable(
  backends: readonly MaglevBackend[],
  size = maglevSize(backends.length),
): { table: Uint32Array; order: MaglevBackend[] } {
  const order = backends.filter((b) => b.weight > 0).sort(byId);
  const table = new Uint32Array(size);
  fillMaglevTable(order, Array.from(order.keys()), table);
  return { table, order };
}

/**
 * Fills `out` (a prime number of slots) with the value of the backend each slot goes
 * to: `values[i]` for `backends[i]`, in any order (they are taken by id). Weights: in
 * round r a backend of weight w claims a slot while it has claimed fewer than
 * floor(r * w / maxWeight). With no backend of weight > 0 every slot is 0.
 */
export function fillMaglevTable(backends: readonly MaglevBackend[], values: ArrayLike<number>, out: Uint32Array): void {
  identities.ofStrings(backends.map((b) => b.id));
  fill(identities, (i) => backends[i]!.weight, values, out);
}

/**
 * fillMaglevTable for endpoints given as backendNumber (address and port), whose
 * identities are their backendId: the same table, with no string made.
 */
export function fillEndpointTable(endpoints: ArrayLike<number>, weights: ArrayLike<number>, values: ArrayLike<number>, out: Uint32Array): void {
  identities.reset(endpoints.length, ENDPOINT_UNITS);
  for (let i = 0; i < endpoints.length; i++) identities.addEndpoint(endpoints[i]!);
  fill(identities, (i) => weights[i]!, values, out);
}

/**
 * (slot + step) mod size, for slot, step < size < 2^31, without a branch: whether a
 * step wraps is a coin toss the CPU cannot predict, and the probes of a build are
 * mostly that (a third of a build's time went to mispredicting it).
 */
function next(slot: number, step: number, size: number): number {
  const t = slot + step - size;
  return t + (size & (t >> 31));
}

function fill(ids: Identities, weightOf: (i: number) => number, values: ArrayLike<number>, out: Uint32Array): void {
  const size = out.length;
  const idx: number[] = [];
  for (let i = 0; i < ids.count; i++) if (weightOf(i) > 0) idx.push(i);
  idx.sort((a, b) => ids.compare(a, b));
  const n = idx.length;
  if (n === 0 || size === 0) {
    out.fill(0);
    return;
  }
  if (!isPrime(size)) throw new RangeError(`Maglev table size ${size} is not prime`);

  // pos[i] walks the i-th backend's permutation offset, offset+skip, offset+2*skip, ... (mod size).
  const pos = new Int32Array(n);
  const skip = new Int32Array(n);
  const claimed = new Float64Array(n);
  const value = new Uint32Array(n);
  const weights = idx.map(weightOf);
  const maxWeight = Math.max(...weights);
  const equal = weights.every((w) => w === maxWeight);
  for (let i = 0; i < n; i++) {
    pos[i] = ids.murmur3(idx[i]!, OFFSET_SEED) % size;
    skip[i] = (ids.murmur3(idx[i]!, SKIP_SEED) % (size - 1)) + 1;
    value[i] = values[idx[i]!]!;
  }
  if (scratch.length < size) scratch = new Uint8Array(MAGLEV_MAX_SIZE);
  const filled = scratch.subarray(0, size).fill(0);
  let count = 0;
  for (let round = 1; count < size; round++) {
    for (let i = 0; i < n && count < size; i++) {
      if (!equal && claimed[i]! >= Math.floor((round * weights[i]!) / maxWeight)) continue;
      let slot = pos[i]!;
      const step = skip[i]!;
      while (filled[slot]) slot = next(slot, step, size);
      filled[slot] = 1;
      out[slot] = value[i]!;
      pos[i] = next(slot, step, size);
      claimed[i]!++;
      count++;
    }
  }
}
