// A Maglev worker thread (table-builder.ts): builds the tables of a batch into shared
// memory and says so through its flag.
import { parentPort } from 'node:worker_threads';
import { fillTable, WORKER_FLAGS, type WorkerBatch } from './table-builder.js';

parentPort!.on('message', ({ jobs, offsets, slots, flags, index }: WorkerBatch) => {
  const flag = new Int32Array(flags);
  try {
    jobs.forEach((job, i) => fillTable(job, new Uint32Array(slots, offsets[i]! * 4, job.size)));
    Atomics.store(flag, index, WORKER_FLAGS.DONE);
  } catch {
    Atomics.store(flag, index, WORKER_FLAGS.FAILED);
  }
  Atomics.notify(flag, index);
});
