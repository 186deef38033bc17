// Per-service Maglev tables as inner maps of xlb_maglev, in two banks per service
// (bpf/maps.h). A new table is written completely into the bank the service's
// frontends do not name; the reconciler then flips the frontends' bank flag, so the
// datapath never sees a half-written table. Writing in place needs no outer-map
// update, each of which waits for an RCU grace period (~10 ms): one endpoint change
// costs a Maglev build and one memcpy. A bank left behind by a flip is rewritten in
// place only after a grace period has passed (waited for on a worker thread).
import { native } from './native.js';
import { tableKey as key } from './codec.js';
import { bpf_map_type } from './contract.js';
import { BPF_F_INNER_MAP, BPF_F_MMAPABLE } from './kernel.js';
import type { TypedMap } from './maps.js';
import { MAGLEV_MAX_SIZE } from '../../model/maglev.js';

export type Bank = 0 | 1;

/** New inner maps held open at most before they go in (file descriptors run out). */
const MAX_STAGED = 4096;
/** Outer key of no service (ids start at 1): rewritten to wait for a grace period. */
const GRACE_KEY = 0;

export interface MaglevTables {
  /**
   * Writes a complete table for the service into the bank its frontends do not name
   * (the other one than `active`) and returns that bank. A bank rewritten in place is
   * ready at once; a new inner map goes in at commit(), before frontends name it.
   */
  write(svcId: number, slots: Uint32Array, active: Bank | undefined): Bank;
  /** The service's frontends stopped naming `bank`: reusable after a grace period. */
  retire(svcId: number, bank: Bank): void;
  /** Drops both of the service's tables at commit(). */
  remove(svcId: number): void;
  /**
   * Puts new inner maps in and removed ones out with one batch update of the outer
   * map (one RCU wait per batch, not per table), and starts the grace period of
   * retired banks.
   */
  commit(): void;
  /** Forgets what was written or removed and not committed. */
  abort(): void;
}

interface BankState {
  /** slots the inner map holds, element 0 included */
  capacity: number;
  /** no packet can be reading it: a table may be written into it in place */
  free: boolean;
}

const u32s = (xs: ArrayLike<number>) => Buffer.from(Uint32Array.from(xs).buffer);
/** Room for a quarter more backends, so growing a service rarely needs a new inner map. */
const capacityFor = (size: number) => Math.min(MAGLEV_MAX_SIZE, Math.ceil(size * 1.25)) + 1;

export function bpfMaglevTables(outer: TypedMap<number, number>): MaglevTables {
  const banks = new Map<number, [BankState | undefined, BankState | undefined]>();
  const staged = new Map<number, number>(); // outer key -> fd of a new inner map
  const removed = new Set<number>();
  let retired: Array<[number, Bank]> = [];
  /** Bumped by abort(): grace periods started before it free nothing (bank states were forgotten). */
  let epoch = 0;
  /** An empty table: removed banks point at it, and grace periods rewrite it. */
  let emptyFd: number | undefined;
  /** Reused for every table (the kernel copies it): no allocation per service. */
  let scratch = new Uint32Array(0);

  const create = (capacity: number, svcId: number) =>
    // BPF_F_INNER_MAP: inner arrays of one outer map may differ in size (kernel >= 5.10);
    // BPF_F_MMAPABLE: written through mmap, as bpf/maps.h declares the template.
    native().mapCreate(bpf_map_type.BPF_MAP_TYPE_ARRAY, 4, 4, capacity, BPF_F_INNER_MAP | BPF_F_MMAPABLE, `xlb_mg_${svcId}`);
  const empty = () => (emptyFd ??= create(1, 0));

  /** Element 0 holds the size, so the datapath never pairs a table with a stale size. */
  function fill(fd: number, slots: Uint32Array, capacity: number): void {
    if (scratch.length < capacity) scratch = new Uint32Array(Math.max(capacity, 2 * scratch.length));
    const table = scratch.subarray(0, capacity).fill(0);
    table[0] = slots.length;
    table.set(slots, 1);
    native().mapWriteMmap(fd, Buffer.from(table.buffer, 0, table.byteLength));
  }

  function stage(k: number, fd: number): void {
    const old = staged.get(k);
    if (old !== undefined) native().closeFd(old);
    staged.set(k, fd);
    // Staged maps are for banks no frontend names yet: putting them in early is safe.
    if (staged.size >= MAX_STAGED) putStaged([], []);
  }

  /** One batch update of the outer map: the staged inner maps and `keys` -> `fds`. */
  function putStaged(keys: number[], fds: number[]): void {
    for (const [k, fd] of staged) keys.push(k), fds.push(fd);
    try {
      if (keys.length) native().mapUpdateBatch(outer.fd, u32s(keys), u32s(fds));
    } finally {
      // The outer map holds its own references to the inner maps.
      for (const fd of staged.values()) native().closeFd(fd);
      staged.clear();
    }
  }

  /** What a bank found in the maps (after a restart) holds; in use until retired. */
  function probe(svcId: number, bank: Bank): BankState | undefined {
    const id = outer.get(key(svcId, bank));
    if (!id) return undefined;
    const fd = native().mapFdById(id);
    try {
      return { capacity: native().mapInfo(fd).maxEntries, free: false };
    } finally {
      native().closeFd(fd);
    }
  }

  return {
    write(svcId, slots, active) {
      const target: Bank = active === 0 ? 1 : 0;
      removed.delete(svcId);
      let state = banks.get(svcId);
      if (!state) {
        state = [undefined, undefined];
        if (active !== undefined) state[active] = probe(svcId, active);
        banks.set(svcId, state);
      }
      const b = state[target];
      if (b?.free && b.capacity >= slots.length + 1 && !staged.has(key(svcId, target))) {
        const fd = native().mapFdById(outer.get(key(svcId, target))!);
        try {
          fill(fd, slots, b.capacity);
        } finally {
          native().closeFd(fd);
        }
        return target;
      }
      const capacity = capacityFor(slots.length);
      const fd = create(capacity, svcId);
      try {
        fill(fd, slots, capacity);
      } catch (err) {
        native().closeFd(fd);
        throw err;
      }
      stage(key(svcId, target), fd);
      state[target] = { capacity, free: true };
      // A new service gets its spare bank now, in the same batch, so its first change
      // is written in place too.
      const other: Bank = target === 0 ? 1 : 0;
      if (!state[other]) {
        stage(key(svcId, other), create(capacity, svcId));
        state[other] = { capacity, free: true };
      }
      return target;
    },
    retire(svcId, bank) {
      const b = banks.get(svcId)?.[bank];
      if (!b) return;
      b.free = false;
      retired.push([svcId, bank]);
    },
    remove(svcId) {
      for (const bank of [0, 1] as const) {
        const fd = staged.get(key(svcId, bank));
        if (fd !== undefined) native().closeFd(fd);
        staged.delete(key(svcId, bank));
      }
      banks.delete(svcId);
      removed.add(svcId);
    },
    commit() {
      const keys: number[] = [];
      const fds: number[] = [];
      for (const svcId of removed) keys.push(key(svcId, 0), key(svcId, 1)), fds.push(empty(), empty());
      try {
        putStaged(keys, fds);
      } finally {
        removed.clear();
      }
      if (retired.length === 0) return;
      const done = retired;
      const started = epoch;
      retired = [];
      // Rewriting the spare slot returns once no program can still be reading a bank
      // that was named before the flips: then those banks are free again.
      native()
        .mapUpdateAsync(outer.fd, u32s([GRACE_KEY]), u32s([empty()]))
        .then(
          () => {
            if (started !== epoch) return;
            for (const [svcId, bank] of done) {
              const b = banks.get(svcId)?.[bank];
              if (b) b.free = true;
            }
          },
          // A failed wait leaves the banks in use: their next tables get new inner maps.
          () => undefined,
        );
    },
    abort() {
      epoch++;
      for (const fd of staged.values()) native().closeFd(fd);
      staged.clear();
      removed.clear();
      retired = [];
      banks.clear();
    },
  };
}
