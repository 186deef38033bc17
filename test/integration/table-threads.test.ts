// The agent builds big batches of Maglev tables on the addon's threads, as they are
// planned, and on the main one, straight into the pool's chunks: they must write the
// tables the inline builder gives, leave no mapping once a batch is through, build
// nothing more of a cancelled batch, and say what went wrong; a chunk is mapped a
// window of rows at a time.
import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { inlineTables, threadTables, type TableBatch, type TableBuilder, type TableJob, type TableTarget } from '../../src/dataplane/bpf/table-builder.js';
import { bpf_map_type, xlb_limits } from '../../src/dataplane/bpf/contract.js';
import { BPF_F_MMAPABLE } from '../../src/dataplane/bpf/kernel.js';
import { native } from '../../src/dataplane/bpf/native.js';
import { ChunkWindow } from '../../src/dataplane/bpf/chunk-window.js';
import { maglevSize } from '../../src/dataplane/bpf/maglev-size.js';
import { backendNumber } from '../../src/model/state.js';

const { XLB_MAGLEV_CHUNK_SLOTS: CHUNK, XLB_MAGLEV_ROW_SLOTS: ROW } = xlb_limits;
/** rows of each test chunk: the batches below span two and three of them */
const ROWS = 150;

const chunk = (rows: number, name: string) => native().mapCreate(bpf_map_type.BPF_MAP_TYPE_ARRAY, 4, ROW * 4, rows, BPF_F_MMAPABLE, name);
/** Three chunks as the pool makes them (pool keys 1-3), mapped on demand like the pool. */
const fds = [1, 2, 3].map((key) => chunk(ROWS, `xlb_test_mg_${key}`));
afterAll(() => fds.forEach((fd) => native().closeFd(fd)));
const mapped = new Map<number, ChunkWindow>();
const pool: TableTarget = {
  view(start, size) {
    const key = Math.floor(start / CHUNK);
    if (!mapped.has(key)) mapped.set(key, new ChunkWindow(fds[key - 1]!, ROWS));
    return mapped.get(key)!.region(start % CHUNK, size);
  },
  chunkFd: (start) => fds[Math.floor(start / CHUNK) - 1]!,
};
const unmapAll = () => {
  for (const w of mapped.values()) w.close();
  mapped.clear();
};
const mappings = () => fs.readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes('bpf-map')).length;

/** `count` tables laid one after another across the three chunks. */
function jobs(count: number, salt = 0): TableJob[] {
  let at = 0;
  return Array.from({ length: count }, (_, s) => {
    const n = 1 + ((s + salt) % 12);
    const endpoints = Array.from({ length: n }, (_, b) => backendNumber({ addr: `198.18.${(s + salt) % 200}.${b}`, port: 8080 }));
    const size = maglevSize(n);
    if ((at % (ROWS * ROW)) + size > ROWS * ROW) at = (Math.floor(at / (ROWS * ROW)) + 1) * ROWS * ROW;
    const key = 1 + Math.floor(at / (ROWS * ROW));
    const job = { endpoints, weights: endpoints.map((_, b) => 1 + (b % 3)), backendIds: endpoints.map((_, b) => s * 100 + b + 1), size, start: key * CHUNK + (at % (ROWS * ROW)) };
    at += size;
    return job;
  });
}

/** What the inline builder writes for `batch`, in memory. */
function inline(batch: TableJob[]): Uint32Array[] {
  const out = batch.map((j) => new Uint32Array(j.size));
  const b = inlineTables.batch({ view: (start) => out[batch.findIndex((j) => j.start === start)]!, chunkFd: () => -1 });
  for (const j of batch) b.add(j);
  b.finish();
  return out;
}

/** Runs `test` with a builder of one thread, closed and its mappings gone afterwards. */
function withBuilder(test: (builder: TableBuilder) => void): void {
  const builder = threadTables(1);
  try {
    test(builder);
  } finally {
    builder.close();
    unmapAll();
  }
}

/** The pool holds the tables the inline builder writes for `batch`. */
function expectAsInline(batch: TableJob[]): void {
  const want = inline(batch);
  batch.forEach((j, i) => expect([...pool.view(j.start, j.size)]).toEqual([...want[i]!]));
}

/** Hands `batch` to `builder` as a plan does, one job at a time. */
function handOver(builder: TableBuilder, batch: TableJob[]): TableBatch {
  const b = builder.batch(pool);
  for (const j of batch) b.add(j);
  return b;
}

describe('Maglev tables on threads of the addon', () => {
  it('writes a big batch shared by a thread and the main one into the chunks exactly as inline, every slot naming one of its backends', () => {
    withBuilder((builder) => {
      // The main thread joins at once, or after the thread has had the batch to itself for a while.
      for (const [batch, busyMs] of [[jobs(600), 0], [jobs(400, 7), 300]] as const) {
        const before = mappings();
        const b = handOver(builder, batch);
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, busyMs);
        b.finish();
        expect(new Set(batch.map((j) => Math.floor(j.start / CHUNK))).size).toBeGreaterThan(1);
        // Each unit's mapping is gone once the unit is built.
        expect(mappings()).toBe(before);
        expectAsInline(batch);
        for (const j of batch) expect(new Set(pool.view(j.start, j.size))).toEqual(new Set(Array.from(j.backendIds)));
        unmapAll();
        expect(mappings()).toBe(before);
      }
    });
  });

  it('a cancelled batch waits for the units a thread took, leaves each table whole or unwritten, and no mapping', () => {
    withBuilder((builder) => {
      const batch = jobs(600, 3);
      for (const j of batch) pool.view(j.start, j.size).fill(0);
      unmapAll();
      const before = mappings();
      handOver(builder, batch).cancel();
      expect(mappings()).toBe(before);
      const want = inline(batch);
      batch.forEach((j, i) => {
        const got = [...pool.view(j.start, j.size)];
        if (got.some((v) => v !== 0)) expect(got).toEqual([...want[i]!]);
      });
      unmapAll();
      // The builder serves the next batch as if nothing happened.
      const again = jobs(300, 5);
      handOver(builder, again).finish();
      expectAsInline(again);
    });
  });

  it('builds a batch too small for the threads inline, on the main thread', () => {
    withBuilder((builder) => {
      const batch = jobs(100, 9);
      handOver(builder, batch).finish();
      expectAsInline(batch);
      // Inline tables go through the pool's windows, which the pool unmaps after its sync.
      expect(mapped.size).toBeGreaterThan(0);
    });
  });

  it('says what went wrong in a unit, builds nothing after it, and serves the next batch', () => {
    withBuilder((builder) => {
      const before = mappings();
      const batch = jobs(600, 11);
      // The last job runs past its chunk's rows: the main thread, which builds from the last unit back, finds it first.
      const last = batch.at(-1)!;
      batch[batch.length - 1] = { ...last, start: Math.floor(last.start / CHUNK) * CHUNK + ROWS * ROW - 100 };
      expect(() => handOver(builder, batch).finish()).toThrow(/do not lie within chunk xlb_test_mg_/);
      const notPrime = jobs(300, 13);
      notPrime[0] = { ...notPrime[0]!, size: 1000 };
      expect(() => handOver(builder, notPrime).finish()).toThrow('Maglev table size 1000 is not prime');
      expect(mappings()).toBe(before);
      const again = jobs(300, 17);
      handOver(builder, again).finish();
      expectAsInline(again);
    });
  });

  it('maps a chunk bigger than a window a window at a time, moving forward, and every slot written lands in the chunk', () => {
    const rows = 700;
    const fd = chunk(rows, 'xlb_test_mg_big');
    const window = new ChunkWindow(fd, rows);
    try {
      const before = mappings();
      // Regions one after another, some across a window's end, the last at the chunk's end.
      const regions: Array<[number, number]> = [];
      for (let at = 0, i = 0; at < rows * ROW; i++) {
        const size = Math.min([1009, 65537, 2003][i % 3]!, rows * ROW - at);
        regions.push([at, size]);
        at += size;
      }
      for (const [at, size] of regions) {
        window.region(at, size).fill(at + 1);
        expect(mappings()).toBe(before + 1);
      }
      window.close();
      expect(mappings()).toBe(before);
      const whole = new Uint32Array(native().mapMmap(fd));
      try {
        for (const [at, size] of regions) expect(whole.subarray(at, at + size).every((v) => v === at + 1)).toBe(true);
      } finally {
        native().mapUnmap(whole.buffer as ArrayBuffer);
      }
      expect(() => native().mapMmap(fd, rows - 1, 2)).toThrow(/do not lie within its 700/);
    } finally {
      window.close();
      native().closeFd(fd);
    }
  });
});
