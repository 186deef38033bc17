// Per-service Maglev tables as inner maps of xlb_maglev. A new table is built
// completely in a fresh inner map and then swapped in with one update of the
// outer map, so the datapath never sees a half-written table.
import { native } from './native.js';
import type { TypedMap } from './maps.js';

const BPF_MAP_TYPE_ARRAY = 2;
/** Lets inner arrays of one outer map differ in size (kernel >= 5.10). */
const BPF_F_INNER_MAP = 1 << 12;

export interface MaglevTables {
  write(svcId: number, slots: Uint32Array): void;
  remove(svcId: number): void;
}

export function bpfMaglevTables(outer: TypedMap<number, number>): MaglevTables {
  return {
    write(svcId, slots) {
      // Element 0 holds the size, so the datapath never pairs a table with a stale size.
      const table = new Uint32Array(slots.length + 1);
      table[0] = slots.length;
      table.set(slots, 1);
      const fd = native().mapCreate(BPF_MAP_TYPE_ARRAY, 4, 4, table.length, BPF_F_INNER_MAP, `xlb_mg_${svcId}`);
      try {
        native().mapUpdateArray(fd, Buffer.from(table.buffer));
        outer.set(svcId, fd);
      } finally {
        // The outer map holds its own reference to the inner map.
        native().closeFd(fd);
      }
    },
    remove(svcId) {
      outer.delete(svcId);
    },
  };
}
