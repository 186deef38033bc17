import { describe, expect, it } from 'vitest';
import { chunkSlots } from '../../src/dataplane/bpf/maglev-pool.js';
import { FreeRegions } from '../../src/dataplane/bpf/free-regions.js';
import { xlb_limits } from '../../src/dataplane/bpf/contract.js';

describe('Maglev pool chunks', () => {
  it('double from 1 MiB up to the chunk range and stay there, in whole rows, each holding the largest table', () => {
    const sizes = Array.from({ length: xlb_limits.XLB_MAGLEV_CHUNKS - 1 }, (_, i) => chunkSlots(i + 1, 1));
    expect(sizes.slice(0, 6)).toEqual([1 << 18, 1 << 19, 1 << 20, 1 << 21, 1 << 22, 1 << 22]);
    expect(new Set(sizes.slice(4))).toEqual(new Set([xlb_limits.XLB_MAGLEV_CHUNK_SLOTS]));
    expect(chunkSlots(1, 300_001)).toBe(Math.ceil(300_001 / xlb_limits.XLB_MAGLEV_ROW_SLOTS) * xlb_limits.XLB_MAGLEV_ROW_SLOTS);
    for (const s of sizes) expect(s % xlb_limits.XLB_MAGLEV_ROW_SLOTS).toBe(0);
  });
});

describe('Maglev pool free regions', () => {
  /** chunks of 1,000 slots */
  const regions = () => new FreeRegions((slot) => Math.floor(slot / 1000));

  it('merge with free neighbours on both sides, so churn leaves room for a bigger table', () => {
    const r = regions();
    // Tables of 101, 110 and 307 slots side by side, freed last, first, then the middle one.
    r.release(211, 307);
    r.release(0, 101);
    expect(r.fits(308)).toBe(false);
    r.release(101, 110);
    expect([r.fits(518), r.fits(519)]).toEqual([true, false]);
    expect(r.take(518, false)).toBe(0);
    expect(r.fits(1)).toBe(false);
  });

  it('never merge across a chunk boundary: a table lies in one chunk', () => {
    const r = regions();
    // Each pair freed in both orders: the later one's neighbour is before it, then after it.
    r.release(900, 100);
    r.release(1000, 100);
    r.release(3000, 100);
    r.release(2900, 100);
    expect(r.fits(101)).toBe(false);
    expect([r.take(100, false), r.take(100, false), r.take(100, false), r.take(100, false), r.take(100, true)]).toEqual([900, 1000, 3000, 2900, undefined]);
  });

  it('give an exact fit first, split the smallest larger region only when asked, and keep its rest', () => {
    const r = regions();
    r.release(0, 500);
    r.release(600, 257);
    r.release(2000, 257);
    expect(r.take(251, false)).toBeUndefined();
    expect(r.take(251, true)).toBe(600);
    expect(r.take(6, false)).toBe(851);
    expect(r.take(257, false)).toBe(2000);
    expect(r.take(300, true)).toBe(0);
    expect([r.fits(200), r.fits(201), r.take(200, false)]).toEqual([true, false, 300]);
  });
});
