// Maglev tables as the datapath reads them: slot -> backend id, written straight into
// the regions of the pool planned for them. A sync that writes many tables (an agent
// start: 10,000 of them) shares them with worker threads: the jobs, in pool order, are
// cut into units of consecutive regions, and each thread takes the next unit not taken
// yet, the workers at once and the main thread once it has written backends and members,
// so the threads end together however long the kernel took for those. Each thread
// writes through windows of its own (a mapping counts in resident memory in full; see
// ChunkWindow), which only move forward since units are taken in pool order.
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { fillEndpointTable } from '../../model/maglev.js';
import { chunkKey } from './maglev-pool.js';

/** One table: its backends (as backendNumber: their Maglev identities) and weights, the ids the datapath knows them by, M, and its region. */
export interface TableJob {
  endpoints: ArrayLike<number>;
  weights: ArrayLike<number>;
  backendIds: ArrayLike<number>;
  size: number;
  /** the region's first slot in the pool */
  start: number;
}

/** Where tables go: the pool's regions (see MaglevTables). */
export interface TableTarget {
  view(start: number, size: number): Uint32Array;
  chunkFd(start: number): number;
}

export interface TableBuilder {
  /** Starts writing the tables into their regions; the returned function waits until all are written. */
  build(jobs: TableJob[], into: TableTarget): () => void;
  /** Stops its threads. */
  close(): void;
}

/** Fills `out` (job.size slots) with the backend id of each slot. Permutations come from
 * the identities, so every node builds the same table. */
export function fillTable(job: TableJob, out: Uint32Array): void {
  fillEndpointTable(job.endpoints, job.weights, job.backendIds, out.subarray(0, job.size));
}

const inPoolOrder = (jobs: TableJob[]) => [...jobs].sort((a, b) => a.start - b.start);

export const inlineTables: TableBuilder = {
  build(jobs, into) {
    for (const j of inPoolOrder(jobs)) fillTable(j, into.view(j.start, j.size));
    return () => undefined;
  },
  close() {},
};

/** Fewer tables than this are built inline: handing them over costs more than it saves. */
const MIN_JOBS_FOR_WORKERS = 256;
/** A worker that has not finished by then is taken for lost: the sync fails and is retried. */
const WAIT_MS = 60_000;
/** Slots of a unit of work (about 1.5 ms of it): small enough that the threads end together. */
const UNIT_SLOTS = 65_536;
const DONE = 1;
const FAILED = 2;

/**
 * What a worker is sent, all of it in shared memory: the jobs, where each unit's
 * begin (`units[u]` to `units[u + 1]`), the fds of the pool's chunks by key, and
 * `state`: the next unit to take, then each worker's flag.
 */
export interface WorkerBatch {
  jobs: PackedJobs;
  units: Uint32Array;
  fds: Array<[key: number, fd: number]>;
  state: Int32Array;
  index: number;
}

/** Jobs as typed arrays in shared memory. `shape` holds each job's backend count, size, start and first backend. */
export interface PackedJobs {
  shape: Float64Array;
  endpoints: Float64Array;
  weights: Uint32Array;
  backendIds: Uint32Array;
}

const SHAPE = 4;
const shared = <T extends Float64Array | Uint32Array | Int32Array>(of: { new (b: SharedArrayBuffer): T; BYTES_PER_ELEMENT: number }, n: number): T =>
  new of(new SharedArrayBuffer(n * of.BYTES_PER_ELEMENT));

export function packJobs(jobs: TableJob[]): PackedJobs {
  let total = 0;
  for (const j of jobs) total += j.endpoints.length;
  const p: PackedJobs = { shape: shared(Float64Array, jobs.length * SHAPE), endpoints: shared(Float64Array, total), weights: shared(Uint32Array, total), backendIds: shared(Uint32Array, total) };
  let at = 0;
  jobs.forEach((j, i) => {
    p.shape[i * SHAPE] = j.endpoints.length;
    p.shape[i * SHAPE + 1] = j.size;
    p.shape[i * SHAPE + 2] = j.start;
    p.shape[i * SHAPE + 3] = at;
    p.endpoints.set(j.endpoints, at);
    p.weights.set(j.weights, at);
    p.backendIds.set(j.backendIds, at);
    at += j.endpoints.length;
  });
  return p;
}

/** Job `i` of a pack, as views of its arrays. */
export function packedJob(p: PackedJobs, i: number): TableJob {
  const [n, size, start, at] = [p.shape[i * SHAPE]!, p.shape[i * SHAPE + 1]!, p.shape[i * SHAPE + 2]!, p.shape[i * SHAPE + 3]!];
  return { endpoints: p.endpoints.subarray(at, at + n), weights: p.weights.subarray(at, at + n), backendIds: p.backendIds.subarray(at, at + n), size, start };
}

/** Where units begin, for jobs in pool order: a unit's regions are consecutive, in one chunk, UNIT_SLOTS at most (or one table). */
function unitsOf(jobs: TableJob[]): Uint32Array {
  const bounds = [0];
  let slots = 0;
  jobs.forEach((j, i) => {
    if (i > 0 && (slots + j.size > UNIT_SLOTS || chunkKey(j.start) !== chunkKey(jobs[i - 1]!.start))) {
      bounds.push(i);
      slots = 0;
    }
    slots += j.size;
  });
  bounds.push(jobs.length);
  const units = shared(Uint32Array, bounds.length);
  units.set(bounds);
  return units;
}

/** Builds units not taken yet, one at a time, until none is left (on the main thread and the workers alike). */
export function takeUnits(batch: Pick<WorkerBatch, 'units' | 'state'>, job: (i: number) => TableJob, out: (j: TableJob) => Uint32Array): void {
  const count = batch.units.length - 1;
  for (let u = Atomics.add(batch.state, 0, 1); u < count; u = Atomics.add(batch.state, 0, 1)) {
    for (let i = batch.units[u]!; i < batch.units[u + 1]!; i++) {
      const j = job(i);
      fillTable(j, out(j));
    }
  }
}

/** Builds big batches on `threads` worker threads (the compiled table-worker.js next to this module) and the main thread. */
export function workerTables(threads = Math.max(1, os.availableParallelism() - 1)): TableBuilder {
  const workers = Array.from({ length: threads }, () => {
    const w = new Worker(new URL('./table-worker.js', import.meta.url));
    w.unref(); // an idle builder never keeps the agent alive
    return w;
  });
  return {
    build(jobs, into) {
      if (jobs.length < MIN_JOBS_FOR_WORKERS) return inlineTables.build(jobs, into);
      const ordered = inPoolOrder(jobs);
      const packed = packJobs(ordered);
      const units = unitsOf(ordered);
      const state = shared(Int32Array, 1 + workers.length);
      const fds = [...new Map(ordered.map((j) => [chunkKey(j.start), into.chunkFd(j.start)]))];
      workers.forEach((w, index) => w.postMessage({ jobs: packed, units, fds, state, index } satisfies WorkerBatch));
      return () => {
        // The main thread takes units once it has written the backends and members.
        takeUnits({ units, state }, (i) => ordered[i]!, (j) => into.view(j.start, j.size));
        for (let i = 0; i < workers.length; i++) {
          if (Atomics.wait(state, 1 + i, 0, WAIT_MS) === 'timed-out') throw new Error(`a Maglev worker built no table within ${WAIT_MS} ms`);
          if (Atomics.load(state, 1 + i) === FAILED) throw new Error('a Maglev worker failed to build its tables');
        }
      };
    },
    close() {
      for (const w of workers) void w.terminate();
    },
  };
}

export const WORKER_FLAGS = { DONE, FAILED } as const;
