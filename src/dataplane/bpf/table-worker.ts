// A Maglev worker thread (table-builder.ts): takes units of its batch until none is
// left, writes their tables into the pool's chunks through windows of its own (see
// ChunkWindow), unmaps them and says so through its flag.
import { parentPort } from 'node:worker_threads';
import { native } from './native.js';
import { ChunkWindow } from './chunk-window.js';
import { chunkKey, chunkOffset } from './maglev-pool.js';
import { packedJob, takeUnits, WORKER_FLAGS, type WorkerBatch } from './table-builder.js';

parentPort!.on('message', (batch: WorkerBatch) => {
  const fds = new Map(batch.fds);
  const windows = new Map<number, ChunkWindow>();
  const window = (key: number) => {
    let w = windows.get(key);
    if (!w) {
      const fd = fds.get(key)!;
      windows.set(key, (w = new ChunkWindow(fd, native().mapInfo(fd).maxEntries)));
    }
    return w;
  };
  let result: number = WORKER_FLAGS.DONE;
  try {
    takeUnits(batch, (i) => packedJob(batch.jobs, i), (j) => window(chunkKey(j.start)).region(chunkOffset(j.start), j.size));
  } catch {
    result = WORKER_FLAGS.FAILED;
  } finally {
    // Unmapped before the main thread goes on: the sync's memory is back when it ends.
    for (const w of windows.values()) w.close();
  }
  Atomics.store(batch.state, 1 + batch.index, result);
  Atomics.notify(batch.state, 1 + batch.index);
});
