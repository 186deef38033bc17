import { describe, expect, it } from 'vitest';
import { buildMaglevTable, fillEndpointTable, fillMaglevTable, isPrime, maglevSize, MAGLEV_MAX_SIZE } from '../../src/model/maglev.js';
import { backendId, backendNumber } from '../../src/model/state.js';

const backends = (n: number, weight = 1) => Array.from({ length: n }, (_, i) => ({ id: `198.18.1.${i}:8080`, weight }));

function shares(table: Uint32Array, order: { id: string }[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const i of table) m.set(order[i]!.id, (m.get(order[i]!.id) ?? 0) + 1);
  return m;
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

describe('buildMaglevTable', () => {
  it('is deterministic whatever the input order', () => {
    const b = backends(7);
    const a = buildMaglevTable(b);
    const r = buildMaglevTable([...b].reverse());
    const ids = (t: ReturnType<typeof buildMaglevTable>) => Array.from(t.table, (i) => t.order[i]!.id);
    expect(ids(r)).toEqual(ids(a));
  });

  it('builds the tables earlier releases built (a rolling upgrade must not move flows)', () => {
    // FNV-1a over the slots, recorded from an earlier release's tables.
    const digest = (t: Uint32Array) => t.reduce((h, v) => Math.imul(h ^ v, 0x01000193) >>> 0, 0x811c9dc5);
    const weighted = backends(5).map((b, i) => ({ ...b, weight: i + 1 }));
    const cases: Array<[ReturnType<typeof backends>, number, number]> = [
      [backends(10), 1009, 0x656a969b],
      [backends(1000), 65537, 0x1f0f3e47],
      [weighted, 503, 0x1e1c8e2a],
    ];
    for (const [b, size, want] of cases) {
      const { table } = buildMaglevTable(b);
      expect(table.length).toBe(size);
      expect(digest(table)).toBe(want);
    }
  });

  it('builds the same table from endpoint numbers as from their backendId strings', () => {
    let seed = 7;
    const random = (below: number) => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % below;
    const edges = [{ addr: '0.0.0.0', port: 0 }, { addr: '255.255.255.255', port: 65535 }, { addr: '10.0.0.9', port: 80 }, { addr: '10.0.0.10', port: 80 }];
    for (let t = 0; t < 200; t++) {
      const n = 1 + random(40);
      const eps = t === 0 ? edges : Array.from({ length: n }, () => ({ addr: [0, 0, 0, 0].map(() => random(256)).join('.'), port: random(65536) }));
      const weights = eps.map(() => (t % 3 === 0 ? 1 + random(4) : 1));
      const size = maglevSize(eps.length);
      const values = eps.map((_, i) => 100 + i);
      const fromStrings = new Uint32Array(size);
      const fromNumbers = new Uint32Array(size);
      fillMaglevTable(eps.map((e, i) => ({ id: backendId(e), weight: weights[i]! })), values, fromStrings);
      fillEndpointTable(eps.map(backendNumber), weights, values, fromNumbers);
      expect(fromNumbers).toEqual(fromStrings);
    }
  });

  it('fills every slot with max - min <= 1 for equal weights', () => {
    for (const n of [1, 2, 3, 10, 97]) {
      const { table, order } = buildMaglevTable(backends(n));
      expect(table.length).toBe(maglevSize(n));
      const counts = [...shares(table, order).values()];
      expect(counts.length).toBe(n);
      expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
    }
  });

  it('remaps about 1/N of slots when one of N backends is removed', () => {
    const n = 20;
    const all = backends(n);
    const before = buildMaglevTable(all, 65537);
    const removed = all[7]!.id;
    const after = buildMaglevTable(all.filter((b) => b.id !== removed), 65537);
    let moved = 0;
    for (let s = 0; s < 65537; s++) {
      const was = before.order[before.table[s]!]!.id;
      const now = after.order[after.table[s]!]!.id;
      if (was !== removed && was !== now) moved++;
    }
    const slotsOfRemoved = shares(before.table, before.order).get(removed)!;
    // Only the removed backend's slots must move; Maglev disturbs a few others.
    expect(moved / 65537).toBeLessThan(0.5 / n);
    expect(slotsOfRemoved / 65537).toBeCloseTo(1 / n, 2);
  });

  it('honours weights', () => {
    const { table, order } = buildMaglevTable([
      { id: 'heavy', weight: 3 },
      { id: 'light', weight: 1 },
    ]);
    const s = shares(table, order);
    expect(s.get('heavy')! / table.length).toBeCloseTo(0.75, 2);
    expect(s.get('heavy')! + s.get('light')!).toBe(table.length);
  });

  it('drops zero-weight backends and rejects a non-prime size', () => {
    const { order } = buildMaglevTable([
      { id: 'a', weight: 1 },
      { id: 'b', weight: 0 },
    ]);
    expect(order.map((b) => b.id)).toEqual(['a']);
    expect(() => buildMaglevTable(backends(2), 100)).toThrow(/not prime/);
  });
});
