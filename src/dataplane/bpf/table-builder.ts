// Maglev tables as the datapath reads them: slot -> backend id, written straight into
// the regions of the pool planned for them. A sync that writes many tables (an agent
// start: 10,000 of them) shares them with worker threads while it is still planning:
// jobs are cut into units of consecutive regions as the plan makes them, and each unit
// goes to a worker, which builds it at once. The main thread, once it has planned and
// written backends and members, builds the units no worker has taken yet, from the
// last one back, so the threads end together. Each thread writes through windows of
// its own (a mapping counts in resident memory in full; see ChunkWindow).
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { fillEndpointTable, maglevSize } from '../../model/maglev.js';
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

/** The tables one sync writes, handed over as they are planned. */
export interface TableBatch {
  /** A table to write into its region, now or by finish(). */
  add(job: TableJob): void;
  /** Writes what is not written yet and waits until every table is. */
  finish(): void;
  /** Ends the batch early (a failed sync): nothing more is built, and what a worker is building is waited for. */
  cancel(): void;
}

export interface TableBuilder {
  batch(into: TableTarget): TableBatch;
  /** Stops its threads. */
  close(): void;
}

/** Fills `out` (job.size slots) with the backend id of each slot. Permutations come from
 * the identities, so every node builds the same table. */
export function fillTable(job: TableJob, out: Uint32Array): void {
  fillEndpointTable(job.endpoints, job.weights, job.backendIds, out.subarray(0, job.size));
}

/**
 * Builds throwaway tables (of ten backends, as packed jobs carry them) until V8 has
 * compiled the fill, which it does only after the code has run a while: a new
 * worker's first units of an agent start took 15 times as long as the rest (100 ms).
 * A worker runs it as it starts, while the agent is still listing.
 */
export function warmUp(tables = 200): void {
  const backends = 10;
  const size = maglevSize(backends);
  const out = new Uint32Array(size);
  const endpoints = new Float64Array(backends);
  const weights = new Uint32Array(backends).fill(1);
  const backendIds = new Uint32Array(backends);
  for (let t = 0; t < tables; t++) {
    for (let i = 0; i < backends; i++) {
      endpoints[i] = (0xc6120000 + t * backends + i) * 65536 + 8080; // 198.18.x.y:8080
      backendIds[i] = i + 1;
    }
    fillTable({ endpoints, weights, backendIds, size, start: 0 }, out);
  }
}

const inPoolOrder = (jobs: TableJob[]) => [...jobs].sort((a, b) => a.start - b.start);

function buildInline(jobs: TableJob[], into: TableTarget): void {
  for (const j of inPoolOrder(jobs)) fillTable(j, into.view(j.start, j.size));
}

export const inlineTables: TableBuilder = {
  batch(into) {
    let jobs: TableJob[] = [];
    return {
      add: (job) => void jobs.push(job),
      finish: () => buildInline(jobs.splice(0), into),
      cancel: () => void (jobs = []),
    };
  },
  close() {},
};

/** Fewer tables than this are built inline: handing them over costs more than it saves. */
const MIN_JOBS_FOR_WORKERS = 256;
/** A worker that has not finished a unit by then is taken for lost: the sync fails and is retried. */
const WAIT_MS = 60_000;
/** Slots of a unit of work (about 1.5 ms of it): small enough that the threads end together. */
const UNIT_SLOTS = 65_536;
/** A unit's cell: who took it, then whether it is built. */
const TAKEN = 0;
const STATE = 1;
const BY_WORKER = 1;
const BY_MAIN = 2;
const DONE = 1;
const FAILED = 2;

/** What a worker is sent: one unit's jobs, the fd of the pool chunk they are in, and the unit's cell. */
export interface WorkerUnit {
  jobs: PackedJobs;
  fd: number;
  /** shared: [TAKEN] 0 until a thread takes the unit (BY_WORKER, BY_MAIN), [STATE] DONE or FAILED once a worker is through */
  cell: Int32Array;
}

/** Jobs as typed arrays, whose buffers move to the worker without a copy. `shape` holds each job's backend count, size and start. */
export interface PackedJobs {
  shape: Float64Array;
  endpoints: Float64Array;
  weights: Uint32Array;
  backendIds: Uint32Array;
}

const SHAPE = 3;

export function packJobs(jobs: TableJob[]): PackedJobs {
  let total = 0;
  for (const j of jobs) total += j.endpoints.length;
  const p: PackedJobs = { shape: new Float64Array(jobs.length * SHAPE), endpoints: new Float64Array(total), weights: new Uint32Array(total), backendIds: new Uint32Array(total) };
  let at = 0;
  jobs.forEach((j, i) => {
    p.shape[i * SHAPE] = j.endpoints.length;
    p.shape[i * SHAPE + 1] = j.size;
    p.shape[i * SHAPE + 2] = j.start;
    p.endpoints.set(j.endpoints, at);
    p.weights.set(j.weights, at);
    p.backendIds.set(j.backendIds, at);
    at += j.endpoints.length;
  });
  return p;
}

/** The jobs `packJobs` packed, as views of its arrays. */
export function* unpackJobs(p: PackedJobs): Generator<TableJob> {
  for (let i = 0, at = 0; i < p.shape.length; i += SHAPE) {
    const n = p.shape[i]!;
    yield { endpoints: p.endpoints.subarray(at, at + n), weights: p.weights.subarray(at, at + n), backendIds: p.backendIds.subarray(at, at + n), size: p.shape[i + 1]!, start: p.shape[i + 2]! };
    at += n;
  }
}

const buffersOf = (p: PackedJobs) => [p.shape.buffer, p.endpoints.buffer, p.weights.buffer, p.backendIds.buffer] as ArrayBuffer[];

/** Whether this thread takes the unit (no other thread has). */
export function takeUnit(cell: Int32Array, by: 'worker' | 'main'): boolean {
  return Atomics.compareExchange(cell, TAKEN, 0, by === 'worker' ? BY_WORKER : BY_MAIN) === 0;
}

/** Says a worker is through with its unit (built, or failed). */
export function unitDone(cell: Int32Array, ok: boolean): void {
  Atomics.store(cell, STATE, ok ? DONE : FAILED);
  Atomics.notify(cell, STATE);
}

interface Unit {
  jobs: TableJob[];
  cell: Int32Array;
}

/**
 * A batch whose jobs go to the workers in units as they come (once there are enough
 * of them to be worth it); a unit is consecutive regions in one chunk.
 */
class SharedBatch implements TableBatch {
  private early: TableJob[] = [];
  private current: TableJob[] = [];
  private slots = 0;
  private readonly units: Unit[] = [];
  private next = 0;

  constructor(
    private readonly workers: Worker[],
    private readonly into: TableTarget,
  ) {}

  add(job: TableJob): void {
    if (this.early.length < MIN_JOBS_FOR_WORKERS) {
      this.early.push(job);
      if (this.early.length < MIN_JOBS_FOR_WORKERS) return;
      for (const j of inPoolOrder(this.early)) this.cut(j);
      return;
    }
    this.cut(job);
  }

  private cut(job: TableJob): void {
    const last = this.current.at(-1);
    if (last && (this.slots + job.size > UNIT_SLOTS || chunkKey(job.start) !== chunkKey(last.start) || job.start < last.start)) this.post();
    this.current.push(job);
    this.slots += job.size;
  }

  /** Hands the current unit to the next worker. */
  private post(): void {
    const jobs = this.current;
    this.current = [];
    this.slots = 0;
    const cell = new Int32Array(new SharedArrayBuffer(8));
    this.units.push({ jobs, cell });
    const packed = packJobs(jobs);
    // A unit lies in one chunk (cut() makes it so).
    const fd = this.into.chunkFd(jobs[0]!.start);
    this.workers[this.next++ % this.workers.length]!.postMessage({ jobs: packed, fd, cell } satisfies WorkerUnit, buffersOf(packed));
  }

  finish(): void {
    if (this.early.length < MIN_JOBS_FOR_WORKERS) return buildInline(this.early.splice(0), this.into);
    if (this.current.length) this.post();
    // From the last unit back: the workers take them from the first.
    for (let i = this.units.length - 1; i >= 0; i--) {
      const u = this.units[i]!;
      if (takeUnit(u.cell, 'main')) for (const j of u.jobs) fillTable(j, this.into.view(j.start, j.size));
    }
    const trouble = this.waitForWorkers();
    if (trouble) throw new Error(trouble);
  }

  cancel(): void {
    this.early = [];
    this.current = [];
    for (const u of this.units) takeUnit(u.cell, 'main');
    // A worker may be writing into the pool's chunks: their fds must stay open until it is through.
    // (The sync failed already; what went wrong in a worker adds nothing to that.)
    this.waitForWorkers();
  }

  /** Waits for the units the workers took; says what went wrong, if anything. */
  private waitForWorkers(): string | undefined {
    let trouble: string | undefined;
    for (const { cell } of this.units.splice(0)) {
      if (Atomics.load(cell, TAKEN) !== BY_WORKER) continue;
      if (Atomics.wait(cell, STATE, 0, WAIT_MS) === 'timed-out') trouble = `a Maglev worker built no table within ${WAIT_MS} ms`;
      else if (Atomics.load(cell, STATE) === FAILED) trouble ??= 'a Maglev worker failed to build its tables';
    }
    return trouble;
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
    batch: (into) => new SharedBatch(workers, into),
    close() {
      for (const w of workers) void w.terminate();
    },
  };
}
