// Per-service Maglev tables as inner maps of xlb_maglev. A new table is built
// completely in a fresh inner map and then swapped in with one update of the
// outer map, so the datapath never sees a half-written table.
import { native } from './native.js';
import type { TypedMap } from './maps.js';

const BPF_MAP_TYPE_ARRAY = 2;
/** Lets inner arrays of one outer map differ in size (kernel >= 5.10). */
const BPF_F_INNER_MAP = 1 << 12;
/** Lets userspace write a table through mmap (as bpf/maps.h declares the template). */
const BPF_F_MMAPABLE = 1 << 10;

export interface MaglevTables {
  /** Fills a new table for the service; it takes effect at commit(). */
  write(svcId: number, slots: Uint32Array): void;
  /** Removes the service's table at commit(). */
  remove(svcId: number): void;
  /**
   * Swaps every written table in with one batch update of the outer map (each swap
   * is atomic; the kernel waits for RCU once per batch, not once per table), then
   * removes what was removed.
   */
  commit(): void;
}

const u32s = (xs: ArrayLike<number>) => Buffer.from(Uint32Array.from(xs).buffer);

export function bpfMaglevTables(outer: TypedMap<number, number>): MaglevTables {
  const written = new Map<number, number>(); // svc id -> fd of the filled inner map
  const removed = new Set<number>();
  return {
    write(svcId, slots) {
      // Element 0 holds the size, so the datapath never pairs a table with a stale size.
      const table = new Uint32Array(slots.length + 1);
      table[0] = slots.length;
      table.set(slots, 1);
      const fd = native().mapCreate(BPF_MAP_TYPE_ARRAY, 4, 4, table.length, BPF_F_INNER_MAP | BPF_F_MMAPABLE, `xlb_mg_${svcId}`);
      try {
        native().mapWriteMmap(fd, Buffer.from(table.buffer));
      } catch (err) {
        native().closeFd(fd);
        throw err;
      }
      const old = written.get(svcId);
      if (old !== undefined) native().closeFd(old);
      written.set(svcId, fd);
      removed.delete(svcId);
    },
    remove(svcId) {
      const old = written.get(svcId);
      if (old !== undefined) native().closeFd(old);
      written.delete(svcId);
      removed.add(svcId);
    },
    commit() {
      try {
        if (written.size) native().mapUpdateBatch(outer.fd, u32s([...written.keys()]), u32s([...written.values()]));
      } finally {
        // The outer map holds its own references to the inner maps.
        for (const fd of written.values()) native().closeFd(fd);
        written.clear();
      }
      for (const id of removed) outer.delete(id);
      removed.clear();
    },
  };
}
