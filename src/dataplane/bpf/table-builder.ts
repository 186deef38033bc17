// Maglev tables as the datapath reads them: slot -> backend id. A sync that writes many
// tables (an agent start: 10,000 of them) hands them to worker threads, which build them
// while the main thread writes backends and members; a few are built inline.
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { buildMaglevTable } from '../../model/maglev.js';

/** One table: its backends' Maglev identities and weights, the ids the datapath knows them by, and M. */
export interface TableJob {
  ids: string[];
  weights: number[];
  backendIds: number[];
  size: number;
}

export interface TableBuilder {
  /** Starts building; the returned function waits for the tables (slots in job order). */
  build(jobs: TableJob[]): () => Uint32Array[];
  /** Stops its threads. */
  close(): void;
}

/** Fills `out` (job.size slots) with the backend id of each slot. Permutations come from
 * the identities, so every node builds the same table. */
export function fillTable(job: TableJob, out: Uint32Array): void {
  const { table, order } = buildMaglevTable(job.ids.map((id, i) => ({ id, weight: job.weights[i]! })), job.size);
  const idOf = new Map(job.ids.map((id, i) => [id, job.backendIds[i]!]));
  const byIndex = Uint32Array.from(order, (b) => idOf.get(b.id)!);
  for (let i = 0; i < job.size; i++) out[i] = byIndex[table[i]!]!;
}

export const inlineTables: TableBuilder = {
  build(jobs) {
    const out = jobs.map((j) => {
      const slots = new Uint32Array(j.size);
      fillTable(j, slots);
      return slots;
    });
    return () => out;
  },
  close() {},
};

/** Fewer tables than this are built inline: handing them over costs more than it saves. */
const MIN_JOBS_FOR_WORKERS = 256;
/** A worker that has not finished by then is taken for lost: the sync fails and is retried. */
const WAIT_MS = 60_000;
/** The main thread's share of a batch, against one worker's 1: it writes the maps first. */
const MAIN_SHARE = 0.5;
const DONE = 1;
const FAILED = 2;

/** What a worker is sent: its jobs, and where in `slots` each one's table goes. */
export interface WorkerBatch {
  jobs: TableJob[];
  offsets: number[];
  slots: SharedArrayBuffer;
  flags: SharedArrayBuffer;
  index: number;
}

/** Builds big batches on `threads` worker threads (the compiled table-worker.js next to this module). */
export function workerTables(threads = Math.max(1, os.availableParallelism() - 1)): TableBuilder {
  const workers = Array.from({ length: threads }, () => {
    const w = new Worker(new URL('./table-worker.js', import.meta.url));
    w.unref(); // an idle builder never keeps the agent alive
    return w;
  });
  return {
    build(jobs) {
      if (jobs.length < MIN_JOBS_FOR_WORKERS) return inlineTables.build(jobs);
      const offsets: number[] = [];
      let total = 0;
      for (const j of jobs) offsets.push(total), (total += j.size);
      const slots = new SharedArrayBuffer(total * 4);
      const flags = new Int32Array(new SharedArrayBuffer(workers.length * 4));
      // The main thread builds a share too, once it has written the backends and members.
      const per = Math.ceil(jobs.length / (workers.length + MAIN_SHARE));
      workers.forEach((w, index) => {
        const [from, to] = [index * per, (index + 1) * per];
        const batch: WorkerBatch = { jobs: jobs.slice(from, to), offsets: offsets.slice(from, to), slots, flags: flags.buffer as SharedArrayBuffer, index };
        w.postMessage(batch);
      });
      return () => {
        for (let i = workers.length * per; i < jobs.length; i++) fillTable(jobs[i]!, new Uint32Array(slots, offsets[i]! * 4, jobs[i]!.size));
        for (let i = 0; i < workers.length; i++) {
          if (Atomics.wait(flags, i, 0, WAIT_MS) === 'timed-out') throw new Error(`a Maglev worker built no table within ${WAIT_MS} ms`);
          if (Atomics.load(flags, i) === FAILED) throw new Error('a Maglev worker failed to build its tables');
        }
        return jobs.map((j, i) => new Uint32Array(slots, offsets[i]! * 4, j.size));
      };
    },
    close() {
      for (const w of workers) void w.terminate();
    },
  };
}

export const WORKER_FLAGS = { DONE, FAILED } as const;
