// A Maglev worker thread (table-builder.ts): maps the pool chunks of its batch, writes
// their tables, unmaps them and says so through its flag.
import { parentPort } from 'node:worker_threads';
import { native } from './native.js';
import { chunkKey, fillTable, WORKER_FLAGS, type WorkerBatch } from './table-builder.js';
import { xlb_limits } from './contract.js';

parentPort!.on('message', ({ jobs, fds, flags, index }: WorkerBatch) => {
  const flag = new Int32Array(flags);
  const views = new Map<number, Uint32Array>();
  try {
    for (const [key, fd] of fds) views.set(key, new Uint32Array(native().mapMmap(fd)));
    for (const job of jobs) {
      const at = job.start % xlb_limits.XLB_MAGLEV_CHUNK_SLOTS;
      fillTable(job, views.get(chunkKey(job.start))!.subarray(at, at + job.size));
    }
    Atomics.store(flag, index, WORKER_FLAGS.DONE);
  } catch {
    Atomics.store(flag, index, WORKER_FLAGS.FAILED);
  } finally {
    for (const v of views.values()) native().mapUnmap(v.buffer as ArrayBuffer);
  }
  Atomics.notify(flag, index);
});
