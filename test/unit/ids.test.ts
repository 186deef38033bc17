// Service and backend ids: the lowest free one first, ids recovered from the maps kept,
// released ones reused, and a clear message when none is left.
import { describe, expect, it } from 'vitest';
import { IdPool } from '../../src/dataplane/bpf/ids.js';

describe('IdPool', () => {
  it('hands out the lowest free id, around ids found in use, across words of its bitmap', () => {
    const pool = new IdPool(1, 100, 'backend');
    for (const id of [3, 32, 33, 64]) pool.reserve(id);
    const got = Array.from({ length: 64 }, () => pool.allocate());
    expect(got.slice(0, 4)).toEqual([1, 2, 4, 5]);
    expect(got).not.toContain(32);
    expect(got).not.toContain(33);
    expect(new Set(got).size).toBe(64);
    expect(Math.max(...got)).toBe(68);
  });

  it('reuses released ids lowest first, ignores a second release, and says when it runs out', () => {
    const pool = new IdPool(1, 40, 'service');
    const all = Array.from({ length: 40 }, () => pool.allocate());
    expect(all).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(() => pool.allocate()).toThrow('out of service ids (40 in use): too many services for the BPF maps');
    for (const id of [35, 7, 33, 7]) pool.release(id);
    expect([pool.allocate(), pool.allocate(), pool.allocate()]).toEqual([7, 33, 35]);
    expect(() => pool.allocate()).toThrow(/out of service ids/);
    pool.clear();
    expect(pool.allocate()).toBe(1);
  });
});
