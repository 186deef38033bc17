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

/** MurmurHash3 x86_32 over a string's UTF-16 code units (ids are ASCII). */
export function murmur3(s: string, seed: number): number {
  let h = seed >>> 0;
  const len = s.length;
  let i = 0;
  const mix = (k: number) => {
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    return Math.imul(k, 0x1b873593);
  };
  for (; i + 4 <= len; i += 4) {
    const k = s.charCodeAt(i) | (s.charCodeAt(i + 1) << 8) | (s.charCodeAt(i + 2) << 16) | (s.charCodeAt(i + 3) << 24);
    h ^= mix(k);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  switch (len - i) {
    case 3:
      k ^= s.charCodeAt(i + 2) << 16;
    // falls through
    case 2:
      k ^= s.charCodeAt(i + 1) << 8;
    // falls through
    case 1:
      k ^= s.charCodeAt(i);
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

/** Reused across builds: 10,000 services would otherwise allocate 10,000 of them per sync. */
let scratch = new Uint8Array(0);

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
  const size = out.length;
  const idx = [...backends.keys()].filter((i) => backends[i]!.weight > 0).sort((a, b) => byId(backends[a]!, backends[b]!));
  const n = idx.length;
  if (n === 0 || size === 0) {
    out.fill(0);
    return;
  }
  if (!isPrime(size)) throw new RangeError(`Maglev table size ${size} is not prime`);

  // pos[i] walks the i-th backend's permutation offset, offset+skip, offset+2*skip, ... (mod size).
  const pos = new Uint32Array(n);
  const skip = new Uint32Array(n);
  const claimed = new Float64Array(n);
  const value = new Uint32Array(n);
  const weights = idx.map((i) => backends[i]!.weight);
  const maxWeight = Math.max(...weights);
  const equal = weights.every((w) => w === maxWeight);
  for (let i = 0; i < n; i++) {
    const id = backends[idx[i]!]!.id;
    pos[i] = murmur3(id, OFFSET_SEED) % size;
    skip[i] = (murmur3(id, SKIP_SEED) % (size - 1)) + 1;
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
      while (filled[slot]) {
        slot += step;
        if (slot >= size) slot -= size;
      }
      filled[slot] = 1;
      out[slot] = value[i]!;
      slot += step;
      pos[i] = slot >= size ? slot - size : slot;
      claimed[i]!++;
      count++;
    }
  }
}
