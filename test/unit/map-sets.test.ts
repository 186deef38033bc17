// MapSets mirrors each service's items into its map: adds wait for flush(), prunes
// delete at once, and what it holds always matches the map, for a few items (scanned)
// and for many (a Set).
import { describe, expect, it } from 'vitest';
import { MapSets } from '../../src/dataplane/bpf/map-sets.js';
import { MemMap } from '../helpers/mem-map.js';

type Key = { svc: number; item: number };
const setup = () => {
  const map = new MemMap<Key, number>();
  const sets = new MapSets<Key, number>(map, (svc, item) => ({ svc, item }), (k) => [k.svc, k.item]);
  const inMap = (svc: number) => map.entries().filter(([k]) => k.svc === svc).map(([k]) => k.item).sort((a, b) => a - b);
  return { map, sets, inMap };
};
const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

describe('MapSets', () => {
  for (const n of [3, 40]) {
    it(`adds, holds and prunes ${n} items per service as the map does`, () => {
      const { map, sets, inMap } = setup();
      sets.add(1, range(0, n));
      sets.add(2, range(100, n));
      expect(map.entries()).toHaveLength(0); // not before flush()
      sets.flush();
      expect(inMap(1)).toEqual(range(0, n));
      expect(sets.size).toBe(2 * n);
      expect(sets.holdsExactly(1, [...range(0, n)].reverse())).toBe(true);
      expect(sets.holdsExactly(1, range(1, n))).toBe(false);
      expect(sets.holdsExactly(3, [])).toBe(true);

      // A new version: half kept, a few added; the old half goes at prune().
      const next = [...range(Math.floor(n / 2), n - Math.floor(n / 2)), ...range(1000, 5)];
      sets.add(1, next);
      sets.flush();
      expect(map.writes).toBe(2 * n + 5);
      expect(sets.prune(1, next)).toBe(Math.floor(n / 2));
      expect(inMap(1)).toEqual([...next].sort((a, b) => a - b));
      expect(sets.holdsExactly(1, next)).toBe(true);
      // Unchanged: nothing deleted.
      const deletes = map.deletes;
      expect(sets.prune(1, next)).toBe(0);
      expect(sets.prune(2, range(100, n))).toBe(0);
      expect(map.deletes).toBe(deletes);
      expect(sets.prune(2, [])).toBe(n);
      expect(inMap(2)).toEqual([]);
      expect(sets.size).toBe(next.length);
    });
  }

  it('starts from what the map holds', () => {
    const { map } = setup();
    map.setMany(range(0, 20).map((i) => [{ svc: 7, item: i }, 1]));
    const again = new MapSets<Key, number>(map, (svc, item) => ({ svc, item }), (k) => [k.svc, k.item]);
    expect(again.size).toBe(20);
    expect(again.holdsExactly(7, range(0, 20))).toBe(true);
    again.add(7, range(0, 21));
    again.flush();
    expect(map.writes).toBe(21);
  });
});
