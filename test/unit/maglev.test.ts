import { describe, expect, it } from 'vitest';
import { isPrime, maglevSize, MAGLEV_MAX_SIZE } from '../../src/dataplane/bpf/maglev-size.js';
import { fillTable } from '../../src/dataplane/bpf/table-builder.js';
import { backendNumber } from '../../src/model/state.js';

/** n endpoints 198.18.1.0:8080, 198.18.1.1:8080, ... (198.18.2.0:8080 after 198.18.1.255:8080). */
const endpoints = (n: number) => Array.from({ length: n }, (_, i) => backendNumber({ addr: `198.18.${1 + (i >> 8)}.${i & 255}`, port: 8080 }));

/** The table of `eps` (backend i's slots hold i), of `size` slots. */
function table(eps: number[], weights = eps.map(() => 1), size = maglevSize(eps.length)): Uint32Array {
  const out = new Uint32Array(size);
  fillTable({ endpoints: eps, weights, backendIds: eps.map((_, i) => i), size, start: 0 }, out);
  return out;
}

/** Slots per backend index. */
function shares(t: Uint32Array): Map<number, number> {
  const m = new Map<number, number>();
  for (const i of t) m.set(i, (m.get(i) ?? 0) + 1);
  return m;
}

/** FNV-1a over the slots. */
function digest(t: Uint32Array, h = 0x811c9dc5): number {
  for (const v of t) h = Math.imul(h ^ v, 0x01000193) >>> 0;
  return h;
}

describe('maglevSize', () => {
  it('is the smallest prime >= 100 x backends, capped at 65537', () => {
    expect(maglevSize(0)).toBe(0);
    expect(maglevSize(1)).toBe(101);
    expect(maglevSize(3)).toBe(307);
    expect(maglevSize(10)).toBe(1009);
    expect(maglevSize(1000)).toBe(MAGLEV_MAX_SIZE);
    for (const n of [1, 2, 7, 50, 333, 655]) {
      const m = maglevSize(n);
      expect(isPrime(m)).toBe(true);
      expect(m).toBeGreaterThanOrEqual(100 * n);
      for (let k = 100 * n; k < m; k++) expect(isPrime(k)).toBe(false);
    }
  });
});

describe('Maglev tables (the addon builds them)', () => {
  it('is deterministic whatever the input order', () => {
    const eps = endpoints(7);
    const a = table(eps);
    const reversed = [...eps].reverse();
    const r = table(reversed);
    // Slot by slot, the same endpoint.
    expect(Array.from(r, (i) => reversed[i])).toEqual(Array.from(a, (i) => eps[i]));
  });

  it('builds the tables earlier releases built (a rolling upgrade must not move flows)', () => {
    // Recorded from earlier releases' tables (built from the endpoints' "addr:port" strings).
    const weighted = endpoints(5).map((_, i) => i + 1);
    expect(digest(table(endpoints(10)))).toBe(0x656a969b);
    expect(table(endpoints(10)).length).toBe(1009);
    expect(digest(table(endpoints(1000)))).toBe(0x962b4003);
    expect(digest(table(endpoints(5), weighted))).toBe(0x1e1c8e2a);
    // Random endpoint sets, duplicates, weights 0-4 and the extremes of the address space.
    let seed = 7;
    const random = (below: number) => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % below;
    let h = 0x811c9dc5;
    for (let t = 0; t < 200; t++) {
      const count = 1 + random(40);
      const eps = t === 0 ? [0, 2 ** 48 - 1, backendNumber({ addr: '10.0.0.9', port: 80 }), backendNumber({ addr: '10.0.0.10', port: 80 })] : Array.from({ length: count }, () => random(2 ** 32) * 65536 + random(65536));
      if (t % 7 === 0) eps.push(eps[0]!);
      const weights = eps.map(() => (t % 3 === 0 ? random(5) : 1));
      const out = new Uint32Array(t % 11 === 0 ? MAGLEV_MAX_SIZE : maglevSize(eps.length));
      fillTable({ endpoints: eps, weights, backendIds: eps.map((_, i) => 100 + i), size: out.length, start: 0 }, out);
      h = digest(out, h);
    }
    expect(h).toBe(0x5f57de87);
  });

  it('fills every slot with max - min <= 1 for equal weights', () => {
    for (const n of [1, 2, 3, 10, 97]) {
      const t = table(endpoints(n));
      expect(t.length).toBe(maglevSize(n));
      const counts = [...shares(t).values()];
      expect(counts.length).toBe(n);
      expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
    }
  });

  it('remaps about 1/N of slots when one of N backends is removed', () => {
    const n = 20;
    const all = endpoints(n);
    const removed = all[7]!;
    const rest = all.filter((e) => e !== removed);
    const before = Array.from(table(all, undefined, MAGLEV_MAX_SIZE), (i) => all[i]);
    const after = Array.from(table(rest, undefined, MAGLEV_MAX_SIZE), (i) => rest[i]);
    let moved = 0;
    for (let s = 0; s < MAGLEV_MAX_SIZE; s++) if (before[s] !== removed && before[s] !== after[s]) moved++;
    const slotsOfRemoved = before.filter((e) => e === removed).length;
    // Only the removed backend's slots must move; Maglev disturbs a few others.
    expect(moved / MAGLEV_MAX_SIZE).toBeLessThan(0.5 / n);
    expect(slotsOfRemoved / MAGLEV_MAX_SIZE).toBeCloseTo(1 / n, 2);
  });

  it('honours weights, and leaves out a backend of weight 0', () => {
    const t = table(endpoints(3), [3, 1, 0]);
    const s = shares(t);
    expect(s.get(0)! / t.length).toBeCloseTo(0.75, 2);
    expect(s.get(0)! + s.get(1)!).toBe(t.length);
    expect(s.has(2)).toBe(false);
    // No backend of weight > 0: every slot is 0.
    expect(table(endpoints(2), [0, 0]).every((v) => v === 0)).toBe(true);
  });

  it('refuses a size that is not prime or above the largest, and arrays that do not match', () => {
    expect(() => table(endpoints(2), undefined, 100)).toThrow('Maglev table size 100 is not prime');
    expect(() => table(endpoints(2), undefined, 65539)).toThrow('Maglev table size 65539 is above 65537');
    const out = new Uint32Array(101);
    expect(() => fillTable({ endpoints: [1, 2], weights: [1], backendIds: [1, 2], size: 101, start: 0 }, out)).toThrow(/differ in length/);
  });
});
