// A Maglev worker thread (table-builder.ts): writes the tables of its batch into their
// pool chunks through windows (see ChunkWindow), unmaps them and says so through its flag.
import { parentPort } from 'node:worker_threads';
import { native } from './native.js';
import { ChunkWindow } from './chunk-window.js';
import { chunkKey, chunkOffset } from './maglev-pool.js';
import { fillTable, unpackJobs, WORKER_FLAGS, type WorkerBatch } from './table-builder.js';

parentPort!.on('message', ({ jobs, fds, flags, index }: WorkerBatch) => {
  const flag = new Int32Array(flags);
  const windows = new Map(fds.map(([key, fd]) => [key, new ChunkWindow(fd, native().mapInfo(fd).maxEntries)]));
  try {
    for (const job of unpackJobs(jobs)) fillTable(job, windows.get(chunkKey(job.start))!.region(chunkOffset(job.start), job.size));
    Atomics.store(flag, index, WORKER_FLAGS.DONE);
  } catch {
    Atomics.store(flag, index, WORKER_FLAGS.FAILED);
  } finally {
    for (const w of windows.values()) w.close();
  }
  Atomics.notify(flag, index);
});
