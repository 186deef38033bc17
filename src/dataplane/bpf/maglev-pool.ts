// The Maglev pool (bpf/maps.h): every service's table is a region of M slots in one
// chunk of xlb_maglev, named by its frontends' xlb_svc_value.table. A table is written
// into a free region through the chunk's shared mapping (memory writes, no syscall) and
// the frontends then name it; the region they named before is reused only after an RCU
// grace period, so a packet never reads a half-written table. Chunks are added as
// tables need room, in growing sizes, so memory follows the backends. A chunk is mapped
// only while a sync writes to it, a window at a time (see ChunkWindow): the tables live
// in the kernel anyway.
import { native } from './native.js';
import { ChunkWindow } from './chunk-window.js';
import { FreeRegions } from './free-regions.js';
import { bpf_map_type, xlb_limits } from './contract.js';
import { BPF_F_INNER_MAP, BPF_F_MMAPABLE } from './kernel.js';
import type { TypedMap } from './maps.js';

const { XLB_MAGLEV_ROW_SLOTS: ROW, XLB_MAGLEV_CHUNK_SLOTS: CHUNK, XLB_MAGLEV_CHUNKS: CHUNKS } = xlb_limits;
/** The chunk (its key in xlb_maglev) a pool slot lies in, and the slot's place in it, as bpf/select.h reads them. */
export const chunkKey = (slot: number) => Math.floor(slot / CHUNK);
export const chunkOffset = (slot: number) => slot % CHUNK;
/** Chunk 0 holds no table: rewriting it waits for a grace period. */
const GRACE_KEY = 0;
/** The first chunk's slots (1 MiB); each next one doubles, up to CHUNK. */
const FIRST_CHUNK = 1 << 18;

export interface MaglevTables {
  /** Room for a table of `size` slots now (a reserve of that size, or smaller, then succeeds). */
  fits(size: number): boolean;
  /** Takes a free region of `size` slots and returns where it starts (for xlb_svc_value.table). */
  reserve(size: number): number;
  /** A reserved region, to write its table into: mapped until release(), or until a view of a region elsewhere in its chunk. */
  view(start: number, size: number): Uint32Array;
  /** A region's table as it is, to read (mapped as view() maps it). */
  read(start: number, size: number): Uint32Array;
  /** The fd of the chunk holding `start`, for a thread of the addon to map (open until reset()). */
  chunkFd(start: number): number;
  /** Unmaps the chunks view() mapped (at the end of each sync). */
  release(): void;
  /** No frontend names the region any more: reusable after a grace period. */
  retire(start: number, size: number): void;
  /**
   * Puts the chunks added since the last call into xlb_maglev, before any frontend names
   * a region of them: in one batch, since each write to a map of maps waits for an RCU
   * grace period (one per batch), which for the chunks of an agent start at 10,000
   * Services came to a tenth of a second.
   */
  publish(): void;
  /** Starts the grace period of the regions retired since the last commit (the frontends have moved). */
  commit(): void;
  /**
   * Forgets what it knew and takes the chunks in the maps, with `used` (start, size)
   * the regions frontends name: at start, and after a failed apply. The rest is free
   * at once at start (`settled`: no program reads what a process before us named);
   * after a failed apply, only after a grace period.
   */
  reset(used: Iterable<readonly [number, number]>, settled: boolean): void;
}

interface Chunk {
  /** its first slot's pool index: key * CHUNK */
  base: number;
  slots: number;
  /** slots below it are (or were) regions; above it, never used */
  top: number;
  fd: number;
  /** while a sync writes to it */
  window?: ChunkWindow;
}

const u32 = (n: number) => Buffer.from(Uint32Array.of(n).buffer);

/** Slots of chunk `key` (from 1): doubling from FIRST_CHUNK up to CHUNK, in whole rows, never less than `atLeast`. */
export function chunkSlots(key: number, atLeast: number): number {
  return Math.max(Math.min(FIRST_CHUNK * 2 ** (key - 1), CHUNK), Math.ceil(atLeast / ROW) * ROW);
}

export function bpfMaglevTables(outer: TypedMap<number, number>): MaglevTables {
  const chunks: Chunk[] = [];
  let free = new FreeRegions(chunkKey);
  let retired: Array<[number, number]> = [];
  /** Bumped by reset(): grace periods started before it free nothing. */
  let epoch = 0;
  let graceFd: number | undefined;
  /** chunks not in xlb_maglev yet (see publish) */
  let unpublished: Chunk[] = [];

  const create = (rows: number, name: string) =>
    // BPF_F_INNER_MAP: chunks differ in size; BPF_F_MMAPABLE: written through mmap.
    native().mapCreate(bpf_map_type.BPF_MAP_TYPE_ARRAY, 4, ROW * 4, rows, BPF_F_INNER_MAP | BPF_F_MMAPABLE, name);

  const open = (key: number, fd: number): Chunk => ({ base: key * CHUNK, slots: native().mapInfo(fd).maxEntries * ROW, top: 0, fd });

  function addChunk(atLeast: number): Chunk | undefined {
    const key = chunks.length + 1;
    if (key >= CHUNKS) return undefined;
    const chunk = open(key, create(chunkSlots(key, atLeast) / ROW, `xlb_mg_${key}`));
    chunks.push(chunk);
    unpublished.push(chunk);
    return chunk;
  }

  function unmapAll(): void {
    for (const c of chunks) c.window?.close();
  }

  /**
   * A free region of `size` slots: one that fits exactly, else from the last chunk's
   * never used rest, else a larger one split (big free regions are kept for big tables
   * while there is room); none when every chunk is full.
   */
  function allocate(size: number): number | undefined {
    const exact = free.take(size, false);
    if (exact !== undefined) return exact;
    const last = chunks.at(-1);
    if (last && last.slots - last.top >= size) {
      last.top += size;
      return last.base + last.top - size;
    }
    const split = free.take(size, true);
    if (split !== undefined) return split;
    if (chunks.length + 1 >= CHUNKS) return undefined;
    if (last && last.top < last.slots) {
      free.release(last.base + last.top, last.slots - last.top);
      last.top = last.slots;
    }
    const chunk = addChunk(size)!;
    chunk.top = size;
    return chunk.base;
  }

  function commit(): void {
    if (retired.length === 0) return;
    const done = retired;
    const started = epoch;
    retired = [];
    graceFd ??= create(1, 'xlb_mg_grace');
    // Rewriting chunk 0 returns once no program can still be reading a region that
    // was named before the frontends moved: then those regions are free again.
    native()
      .mapUpdateAsync(outer.fd, u32(GRACE_KEY), u32(graceFd))
      .then(
        () => {
          if (started === epoch) for (const [start, size] of done) free.release(start, size);
        },
        // A failed wait leaves the regions in use: the pool grows instead.
        () => undefined,
      );
  }

  function chunkOf(start: number): Chunk {
    const chunk = chunks[chunkKey(start) - 1];
    if (!chunk) throw new Error(`Maglev table at ${start} is outside the pool's ${chunks.length} chunks`);
    return chunk;
  }

  return {
    fits(size) {
      return free.fits(size) || chunks.length + 1 < CHUNKS || (chunks.at(-1)?.slots ?? 0) - (chunks.at(-1)?.top ?? 0) >= size;
    },
    reserve(size) {
      const start = allocate(size);
      if (start === undefined) throw new Error(`the Maglev pool is full (${chunks.length} chunks): no region of ${size} slots`);
      return start;
    },
    view(start, size) {
      const chunk = chunkOf(start);
      chunk.window ??= new ChunkWindow(chunk.fd, chunk.slots / ROW);
      return chunk.window.region(chunkOffset(start), size);
    },
    read(start, size) {
      return this.view(start, size);
    },
    chunkFd(start) {
      return chunkOf(start).fd;
    },
    release: unmapAll,
    publish() {
      if (unpublished.length === 0) return;
      outer.setMany(unpublished.map((c) => [chunkKey(c.base), c.fd]));
      unpublished = [];
    },
    retire(start, size) {
      retired.push([start, size]);
    },
    commit,
    reset(used, settled) {
      epoch++;
      retired = [];
      unpublished = [];
      free = new FreeRegions(chunkKey);
      unmapAll();
      for (const c of chunks) native().closeFd(c.fd);
      chunks.length = 0;
      for (const [key, id] of outer.entries().sort((a, b) => a[0] - b[0])) {
        if (key === GRACE_KEY) continue;
        if (key !== chunks.length + 1) break; // chunks are added in order; a gap ends them
        chunks.push(open(key, native().mapFdById(id)));
      }
      // The gaps between the regions in use are free, but only after a grace period:
      // a frontend may have named them until a moment ago (a failed apply, a restart).
      const byChunk = new Map<Chunk, Array<readonly [number, number]>>();
      for (const r of used) {
        const chunk = chunkOf(r[0]);
        let list = byChunk.get(chunk);
        if (!list) byChunk.set(chunk, (list = []));
        list.push(r);
      }
      const gaps: Array<[number, number]> = [];
      for (const chunk of chunks) {
        let at = chunk.base;
        for (const [start, size] of (byChunk.get(chunk) ?? []).sort((a, b) => a[0] - b[0])) {
          if (start > at) gaps.push([at, start - at]);
          at = Math.max(at, start + size);
        }
        if (settled) chunk.top = at - chunk.base;
        else {
          if (at < chunk.base + chunk.slots) gaps.push([at, chunk.base + chunk.slots - at]);
          chunk.top = chunk.slots;
        }
      }
      if (settled) for (const [start, size] of gaps) free.release(start, size);
      else {
        retired = gaps;
        commit();
      }
    },
  };
}
