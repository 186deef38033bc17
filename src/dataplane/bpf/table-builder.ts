// Maglev tables as the datapath reads them: slot -> backend id, written straight into
// the regions of the pool planned for them, by the addon (native/maglev.cc). A sync that
// writes many tables (an agent start: 10,000 of them) hands them to the addon's threads
// while it is still planning: jobs are cut into units of consecutive regions as the plan
// makes them, and a thread builds each unit at once. The main thread, once it has
// planned and written backends and members, builds the units no thread has taken yet,
// from the last one back, so that all end together. A unit is written through a
// mapping of its rows only (a mapping counts in resident memory in full; see ChunkWindow).
import os from 'node:os';
import { chunkKey, chunkOffset } from './maglev-pool.js';
import { native, type MaglevThreads } from './native.js';

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
  /** Ends the batch early (a failed sync): nothing more is built, and what a thread is building is waited for. */
  cancel(): void;
}

export interface TableBuilder {
  batch(into: TableTarget): TableBatch;
  /** Stops its threads. */
  close(): void;
}

const f64 = (a: ArrayLike<number>) => (a instanceof Float64Array ? a : Float64Array.from(a));
const u32 = (a: ArrayLike<number>) => (a instanceof Uint32Array ? a : Uint32Array.from(a));

/**
 * Fills `out` (job.size slots, a prime) with the backend id of each slot. Permutations
 * come from the endpoints' identities (backendId), so every node builds the same table.
 */
export function fillTable(job: TableJob, out: Uint32Array): void {
  native().maglevFill(f64(job.endpoints), u32(job.weights), u32(job.backendIds), out.subarray(0, job.size));
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
const MIN_JOBS_FOR_THREADS = 256;
/** Slots of a unit of work (about 1 ms of it): small enough that the threads end together. */
const UNIT_SLOTS = 65_536;

/** Jobs as typed arrays, as the addon takes them. `shape` holds each job's backend count, size and first slot in its chunk. */
interface PackedJobs {
  shape: Float64Array;
  endpoints: Float64Array;
  weights: Uint32Array;
  backendIds: Uint32Array;
}

const SHAPE = 3;

function packJobs(jobs: TableJob[]): PackedJobs {
  let total = 0;
  for (const j of jobs) total += j.endpoints.length;
  const p: PackedJobs = { shape: new Float64Array(jobs.length * SHAPE), endpoints: new Float64Array(total), weights: new Uint32Array(total), backendIds: new Uint32Array(total) };
  let at = 0;
  jobs.forEach((j, i) => {
    p.shape[i * SHAPE] = j.endpoints.length;
    p.shape[i * SHAPE + 1] = j.size;
    p.shape[i * SHAPE + 2] = chunkOffset(j.start);
    p.endpoints.set(j.endpoints, at);
    p.weights.set(j.weights, at);
    p.backendIds.set(j.backendIds, at);
    at += j.endpoints.length;
  });
  return p;
}

/**
 * A batch whose jobs go to the addon's threads in units as they come (once there are
 * enough of them to be worth it); a unit is consecutive regions in one chunk.
 */
class SharedBatch implements TableBatch {
  private early: TableJob[] = [];
  private current: TableJob[] = [];
  private slots = 0;

  constructor(
    private readonly threads: MaglevThreads,
    private readonly into: TableTarget,
  ) {}

  add(job: TableJob): void {
    if (this.early.length < MIN_JOBS_FOR_THREADS) {
      this.early.push(job);
      if (this.early.length < MIN_JOBS_FOR_THREADS) return;
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

  /** Hands the current unit to the threads. */
  private post(): void {
    const jobs = this.current;
    this.current = [];
    this.slots = 0;
    const p = packJobs(jobs);
    // A unit lies in one chunk (cut() makes it so).
    this.threads.post(this.into.chunkFd(jobs[0]!.start), p.shape, p.endpoints, p.weights, p.backendIds);
  }

  finish(): void {
    if (this.early.length < MIN_JOBS_FOR_THREADS) return buildInline(this.early.splice(0), this.into);
    if (this.current.length) this.post();
    this.threads.finish();
  }

  cancel(): void {
    this.early = [];
    this.current = [];
    this.threads.cancel();
  }
}

/** Builds big batches on `count` threads of the addon and the main thread. */
export function threadTables(count = Math.max(1, os.availableParallelism() - 1)): TableBuilder {
  const threads = new (native().MaglevBuilder)(count);
  return {
    batch: (into) => new SharedBatch(threads, into),
    close: () => threads.close(),
  };
}
