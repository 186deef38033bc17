// Maglev tables as the datapath reads them: slot -> backend id, written straight into
// the regions of the pool planned for them. A sync that writes many tables (an agent
// start: 10,000 of them) hands some to worker threads, which build them while the main
// thread writes backends and members; a few are built inline. Work is split by pool
// chunk, so that each chunk is mapped by one thread only (a mapping counts in resident
// memory once per mapping), and each thread writes its tables in pool order, so that
// a chunk's window of mapped rows only moves forward (see ChunkWindow).
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
/** The main thread's share of a batch, against one worker's 1: it writes the maps first. */
const MAIN_SHARE = 0.5;
const DONE = 1;
const FAILED = 2;

/** What a worker is sent: its jobs, the fds of the chunks they are in (pool key -> fd), and its flag. */
export interface WorkerBatch {
  jobs: PackedJobs;
  fds: Array<[key: number, fd: number]>;
  flags: SharedArrayBuffer;
  index: number;
}

/**
 * Jobs as typed arrays, whose buffers move to the worker without a copy: cloning a
 * start's arrays of numbers element by element cost the main thread 100 ms at 10,000
 * Services. `shape` holds each job's backend count, size and start.
 */
export interface PackedJobs {
  shape: Float64Array;
  endpoints: Float64Array;
  weights: Uint32Array;
  backendIds: Uint32Array;
}

export function packJobs(jobs: TableJob[]): PackedJobs {
  let total = 0;
  for (const j of jobs) total += j.endpoints.length;
  const p: PackedJobs = { shape: new Float64Array(jobs.length * 3), endpoints: new Float64Array(total), weights: new Uint32Array(total), backendIds: new Uint32Array(total) };
  let at = 0;
  jobs.forEach((j, i) => {
    p.shape[i * 3] = j.endpoints.length;
    p.shape[i * 3 + 1] = j.size;
    p.shape[i * 3 + 2] = j.start;
    p.endpoints.set(j.endpoints, at);
    p.weights.set(j.weights, at);
    p.backendIds.set(j.backendIds, at);
    at += j.endpoints.length;
  });
  return p;
}

/** The jobs `packJobs` packed, as views of its arrays. */
export function* unpackJobs(p: PackedJobs): Generator<TableJob> {
  for (let i = 0, at = 0; i < p.shape.length; i += 3) {
    const n = p.shape[i]!;
    const part = <T extends Float64Array | Uint32Array>(a: T) => a.subarray(at, at + n) as T;
    yield { endpoints: part(p.endpoints), weights: part(p.weights), backendIds: part(p.backendIds), size: p.shape[i + 1]!, start: p.shape[i + 2]! };
    at += n;
  }
}

const buffersOf = (p: PackedJobs) => [p.shape.buffer, p.endpoints.buffer, p.weights.buffer, p.backendIds.buffer] as ArrayBuffer[];

/** The jobs by chunk, given to `shares.length` threads so that each gets about its share of slots. */
function split(jobs: TableJob[], shares: number[]): TableJob[][] {
  const byChunk = new Map<number, { jobs: TableJob[]; slots: number }>();
  for (const j of jobs) {
    const key = chunkKey(j.start);
    let g = byChunk.get(key);
    if (!g) byChunk.set(key, (g = { jobs: [], slots: 0 }));
    g.jobs.push(j);
    g.slots += j.size;
  }
  const out = shares.map(() => [] as TableJob[]);
  const load = shares.map(() => 0);
  // Biggest chunks first, each to the thread that is least loaded for its share.
  for (const g of [...byChunk.values()].sort((a, b) => b.slots - a.slots)) {
    let t = 0;
    for (let i = 1; i < shares.length; i++) if ((load[i]! + g.slots) / shares[i]! < (load[t]! + g.slots) / shares[t]!) t = i;
    out[t]!.push(...g.jobs);
    load[t]! += g.slots;
  }
  return out.map(inPoolOrder);
}

/** Builds big batches on `threads` worker threads (the compiled table-worker.js next to this module). */
export function workerTables(threads = Math.max(1, os.availableParallelism() - 1)): TableBuilder {
  const workers = Array.from({ length: threads }, () => {
    const w = new Worker(new URL('./table-worker.js', import.meta.url));
    w.unref(); // an idle builder never keeps the agent alive
    return w;
  });
  return {
    build(jobs, into) {
      if (jobs.length < MIN_JOBS_FOR_WORKERS) return inlineTables.build(jobs, into);
      const flags = new Int32Array(new SharedArrayBuffer(workers.length * 4));
      const [mine, ...theirs] = split(jobs, [MAIN_SHARE, ...workers.map(() => 1)]);
      workers.forEach((w, index) => {
        const batch = theirs[index]!;
        const fds = new Map(batch.map((j) => [chunkKey(j.start), into.chunkFd(j.start)]));
        const packed = packJobs(batch);
        w.postMessage({ jobs: packed, fds: [...fds], flags: flags.buffer as SharedArrayBuffer, index } satisfies WorkerBatch, buffersOf(packed));
      });
      return () => {
        // The main thread builds its share once it has written the backends and members.
        for (const j of mine!) fillTable(j, into.view(j.start, j.size));
        for (let i = 0; i < workers.length; i++) {
          if (Atomics.wait(flags, i, 0, WAIT_MS) === 'timed-out') throw new Error(`a Maglev worker built no table within ${WAIT_MS} ms`);
          if (Atomics.load(flags, i) === FAILED) throw new Error('a Maglev worker failed to build its tables');
        }
      };
    },
    close() {
      for (const w of workers) void w.terminate();
    },
  };
}

export const WORKER_FLAGS = { DONE, FAILED } as const;
