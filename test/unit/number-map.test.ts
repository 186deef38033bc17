// NumberMap against a Map: the same answers through growth, deletes that close probe
// runs, counts kept by addCount, keys above 2^32 that differ only in their high or low
// bits, and bad keys refused.
import { describe, expect, it } from 'vitest';
import { NumberMap } from '../../src/model/number-map.js';

/** A deterministic stream of numbers in [0, 1) (mulberry32). */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), seed | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('NumberMap', () => {
  it('answers as a Map does over 20,000 random sets and deletes of backend-like keys', () => {
    const next = random(7);
    const ours = new NumberMap();
    const ref = new Map<number, number>();
    // Few distinct keys, so deletes hit keys that are there and probe runs cross often.
    const key = () => (0xc6120400 + Math.floor(next() * 300)) * 262144 + Math.floor(next() * 8) * 4;
    for (let step = 0; step < 20_000; step++) {
      const k = key();
      if (next() < 0.45) expect(ours.delete(k)).toBe(ref.delete(k));
      else {
        const v = Math.floor(next() * 2 ** 32);
        ours.set(k, v);
        ref.set(k, v);
      }
      const probe = key();
      expect(ours.get(probe)).toBe(ref.get(probe));
      expect(ours.size).toBe(ref.size);
    }
    for (const [k, v] of ref) expect(ours.get(k)).toBe(v);
  });

  it('counts as a Map of counts does: addCount returns the count before and removes a key at 0', () => {
    const next = random(11);
    const ours = new NumberMap();
    const ref = new Map<number, number>();
    const key = () => (0xc6120400 + Math.floor(next() * 200)) * 65536 + 8080;
    for (let step = 0; step < 20_000; step++) {
      const k = key();
      const delta = next() < 0.5 ? 1 : -1;
      const was = ref.get(k) ?? 0;
      expect(ours.addCount(k, delta)).toBe(was);
      if (was + delta > 0) ref.set(k, was + delta);
      else ref.delete(k);
      expect(ours.size).toBe(ref.size);
      expect(ours.get(k)).toBe(ref.get(k));
    }
    for (const [k, v] of ref) expect(ours.get(k)).toBe(v);
  });

  it('keeps every key through growth from its smallest table to 100,000 keys, and after clear()', () => {
    const ours = new NumberMap();
    for (let i = 0; i < 100_000; i++) ours.set(i * 65536 + 8080, i);
    expect(ours.size).toBe(100_000);
    for (let i = 0; i < 100_000; i += 997) expect(ours.get(i * 65536 + 8080)).toBe(i);
    expect(ours.get(8081)).toBeUndefined();
    ours.set(8080, 42); // an existing key: replaced, not added
    expect([ours.size, ours.get(8080)]).toEqual([100_000, 42]);
    ours.clear();
    expect([ours.size, ours.get(8080), ours.get(99_999 * 65536 + 8080)]).toEqual([0, undefined, undefined]);
  });

  it('reserves room for a count of keys: the keys it holds stay, and filling up to that count resizes nothing', () => {
    const ours = new NumberMap();
    const table = () => (ours as unknown as { keys: Float64Array }).keys;
    for (let i = 0; i < 10; i++) ours.set(i * 65536 + 53, i);
    const small = table();
    ours.reserve(5); // less than it holds: nothing changes
    expect(table()).toBe(small);
    ours.reserve(100_000);
    const reserved = table();
    expect(reserved).not.toBe(small);
    for (let i = 0; i < 10; i++) expect(ours.get(i * 65536 + 53)).toBe(i);
    for (let i = 10; i < 100_000; i++) ours.set(i * 65536 + 53, i);
    expect(table()).toBe(reserved);
    expect(ours.size).toBe(100_000);
    for (let i = 0; i < 100_000; i += 991) expect(ours.get(i * 65536 + 53)).toBe(i);
  });

  it('tells apart keys that differ only above or only below 2^32', () => {
    const ours = new NumberMap();
    const keys = [2 ** 48 + 1, 1, 2 ** 32 + 1, 2 ** 52 + 1, 0, 2 ** 32];
    keys.forEach((k, i) => ours.set(k, i));
    expect(keys.map((k) => ours.get(k))).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('refuses keys it cannot hold', () => {
    const ours = new NumberMap();
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53]) {
      expect(() => ours.set(bad, 1)).toThrow(`NumberMap key ${bad}: must be a whole number from 0 to 2^53 - 2`);
      expect(() => ours.addCount(bad, 1)).toThrow(`NumberMap key ${bad}: must be a whole number from 0 to 2^53 - 2`);
    }
    expect(ours.size).toBe(0);
  });
});
