// The agent builds big batches of Maglev tables on worker threads: the compiled builder
// (the one the agent runs; a worker runs the compiled table-worker.js) must give the
// tables the inline builder gives.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { inlineTables, type TableBuilder, type TableJob } from '../../src/dataplane/bpf/table-builder.js';
import { maglevSize } from '../../src/model/maglev.js';
import { REPO } from '../testbed/topology.js';

const compiled = (await import(pathToFileURL(path.join(REPO, 'dist/dataplane/bpf/table-builder.js')).href)) as { workerTables(threads?: number): TableBuilder };

function jobs(count: number): TableJob[] {
  return Array.from({ length: count }, (_, s) => {
    const n = 1 + (s % 12);
    const ids = Array.from({ length: n }, (_, b) => `198.18.${s % 200}.${b}:8080`);
    return { ids, weights: ids.map((_, b) => 1 + (b % 3)), backendIds: ids.map((_, b) => s * 100 + b + 1), size: maglevSize(n) };
  });
}

describe('Maglev tables on worker threads', () => {
  it('builds a big batch on two threads exactly as inline, every slot naming one of its backends', () => {
    const builder = compiled.workerTables(2);
    try {
      const batch = jobs(600);
      const got = builder.build(batch)();
      const want = inlineTables.build(batch)();
      expect(got).toHaveLength(600);
      got.forEach((slots, i) => {
        expect([...slots]).toEqual([...want[i]!]);
        expect(new Set(slots)).toEqual(new Set(batch[i]!.backendIds));
      });
      // A second batch on the same threads.
      const again = jobs(300).reverse();
      expect(builder.build(again)().map((s) => [...s])).toEqual(inlineTables.build(again)().map((s) => [...s]));
    } finally {
      builder.close();
    }
  });
});
