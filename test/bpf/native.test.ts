// The addon's error contract: errno, code and a hint; misuse is a TypeError, not a crash.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { bpf_map_type } from '../../src/dataplane/bpf/contract.js';
import { BPF_F_MMAPABLE } from '../../src/dataplane/bpf/kernel.js';
import { native, type NativeError } from '../../src/dataplane/bpf/native.js';
import * as codec from '../../src/dataplane/bpf/codec.js';
import { SlotArray, TypedMap } from '../../src/dataplane/bpf/maps.js';

function thrown(f: () => unknown): NativeError {
  try {
    f();
  } catch (err) {
    return err as NativeError;
  }
  throw new Error('expected an error');
}

describe('native addon', () => {
  it('turns a failed syscall into an Error with errno, code and what to do', () => {
    const err = thrown(() => native().objGet('/sys/fs/bpf/xlb-no-such-pin'));
    expect(err).toMatchObject({ errno: 2, code: 'ENOENT' });
    expect(err.message).toContain('/sys/fs/bpf/xlb-no-such-pin');
    expect(err.message).toContain('--bpffs');
  });

  it('loads on a worker thread as on the calling one: a failure rejects with errno, what failed and libbpf\'s words', async () => {
    const bogus = '/tmp/xlb-not-a-bpf-object.o';
    fs.writeFileSync(bogus, 'not ELF');
    try {
      const sync = thrown(() => native().loadObject(bogus, '/sys/fs/bpf'));
      const async = await native().loadObjectAsync(bogus, '/sys/fs/bpf').then(() => undefined, (e: NativeError) => e);
      expect(async).toMatchObject({ errno: sync.errno, code: sync.code });
      expect(async!.message).toBe(sync.message);
      expect(async!.message).toContain(`opening BPF object ${bogus}`);
      expect(async!.message).toContain('make bpf');
    } finally {
      fs.rmSync(bogus, { force: true });
    }
  });

  it('rejects bad arguments with a TypeError naming the argument', () => {
    const bad = native() as unknown as { mapLookup(...a: unknown[]): unknown };
    expect(() => bad.mapLookup('3', Buffer.alloc(4), 4)).toThrow(TypeError);
    expect(() => bad.mapLookup(3, 'key', 4)).toThrow(/key must be a Buffer/);
  });

  it('deletes the entries whose leading expiry has passed, and counts the rest', () => {
    const fd = native().mapCreate(1 /* HASH */, 4, 16, 64, 0, 'xlb_test_exp');
    try {
      const now = native().monotonicNs();
      const entry = (i: number, expires: bigint) => {
        const v = Buffer.alloc(16);
        v.writeBigUInt64LE(expires, 0);
        native().mapUpdate(fd, Buffer.from([i, 0, 0, 0]), v, 0);
      };
      for (let i = 0; i < 20; i++) entry(i, i % 2 ? now - 1n : now + 60_000_000_000n);
      expect(native().mapDeleteExpired(fd)).toEqual({ deleted: 10, remaining: 10 });
      expect(native().mapDump(fd, 4, 16)).toHaveLength(10);
      expect(native().mapDump(fd, 4, 16).every(({ key }) => key[0]! % 2 === 0)).toBe(true);
    } finally {
      native().closeFd(fd);
    }
  });

  it('creates, fills, reads and deletes from maps, reporting absent keys without throwing', () => {
    const fd = native().mapCreate(1 /* HASH */, 4, 8, 16, 0, 'xlb_test');
    try {
      const k = Buffer.from([1, 0, 0, 0]);
      expect(native().mapLookup(fd, k, 8)).toBeNull();
      native().mapUpdate(fd, k, Buffer.alloc(8, 7), 0);
      expect([...native().mapLookup(fd, k, 8)!]).toEqual(Array(8).fill(7));
      expect(native().mapDump(fd, 4, 8)).toHaveLength(1);
      expect(native().mapDelete(fd, k)).toBe(true);
      expect(native().mapDelete(fd, k)).toBe(false);
      expect(native().mapInfo(fd)).toMatchObject({ type: 1, keySize: 4, valueSize: 8, maxEntries: 16, name: 'xlb_test' });
    } finally {
      native().closeFd(fd);
    }
  });

  it('updates many entries in one call, and rejects keys and values that do not pair up', () => {
    const fd = native().mapCreate(2 /* ARRAY */, 4, 4, 5, 0, 'xlb_test_arr');
    const u32s = (xs: number[]) => Buffer.from(new Uint32Array(xs).buffer);
    try {
      native().mapUpdateBatch(fd, u32s([0, 1, 2, 3, 4]), u32s([5, 4, 3, 2, 1]));
      expect(native().mapDump(fd, 4, 4).map(({ value }) => value.readUInt32LE(0))).toEqual([5, 4, 3, 2, 1]);
      expect(() => native().mapUpdateBatch(fd, u32s([0, 1]), u32s([1]))).toThrow(RangeError);
    } finally {
      native().closeFd(fd);
    }
  });

  it('writes a TypedMap batch whole, across the growth of its buffers, and reuses it emptied', () => {
    const fd = native().mapCreate(1 /* HASH */, 4, codec.backend.size, 512, 0, 'xlb_test_batch');
    try {
      const map = new TypedMap('xlb_test_batch', fd, codec.u32, codec.backend);
      const value = (i: number) => ({ addr: `198.18.${i >> 8}.${i & 255}`, port: 1000 + i, proto: i % 2 ? 17 : 6, flags: i % 3 === 0 ? codec.BACKEND_F_REMOTE : 0 });
      const batch = map.batch();
      for (let i = 0; i < 300; i++) batch.add(i, value(i));
      expect(batch.length).toBe(300);
      expect(map.entries()).toHaveLength(0); // nothing before write()
      batch.write();
      expect(batch.length).toBe(0);
      const got = map.entries().sort((a, b) => a[0] - b[0]);
      expect(got).toEqual(Array.from({ length: 300 }, (_, i) => [i, value(i)]));
      batch.write(); // empty: no syscall, no error
      batch.add(300, value(300));
      batch.write();
      expect(map.get(300)).toEqual(value(300));
      expect(map.entries()).toHaveLength(301);
    } finally {
      native().closeFd(fd);
    }
  });

  it.each([
    ['in batches', 0],
    ['through its memory, a window at a time', BPF_F_MMAPABLE],
  ])('reads an array %s, a slot of zeros as an empty one: a SlotArray gets, deletes, dumps and counts only filled slots', (_how, flags) => {
    const fd = native().mapCreate(bpf_map_type.BPF_MAP_TYPE_ARRAY, 4, codec.backend.size, 300_000, flags, 'xlb_test_slots');
    try {
      const slots = new SlotArray('xlb_test_slots', fd, codec.backend);
      const value = (i: number) => ({ addr: `198.18.${(i >> 8) & 255}.${i & 255}`, port: 1 + (i % 65_000), proto: 6, flags: 0 });
      // Ids on both sides of the addon's batches (4,096 slots) and windows (1 MiB: 131,072 slots), the last slot included.
      const ids = [1, 2, 4095, 4096, 4097, 131_071, 131_072, 262_144, 299_999];
      const batch = slots.batch();
      for (const id of ids) batch.add(id, value(id));
      batch.write();
      expect(slots.entries()).toEqual(ids.map((id) => [id, value(id)]));
      expect(native().mapCount(fd)).toBe(ids.length);
      expect(slots.get(3)).toBeUndefined();
      expect(slots.get(4096)).toEqual(value(4096));
      expect(slots.delete(4096)).toBe(true);
      expect(slots.delete(4096)).toBe(false);
      expect(slots.get(4096)).toBeUndefined();
      expect(slots.entries().map(([id]) => id)).toEqual(ids.filter((id) => id !== 4096));
      expect(native().mapCount(fd)).toBe(ids.length - 1);
      // Slots are read in place: a dump that asks for more than a slot holds is refused.
      expect(() => native().mapDump(fd, 4, codec.backend.size + 8)).toThrow(/keys are 4 bytes and values 8, not 4 and 16/);
    } finally {
      native().closeFd(fd);
    }
  });

  it('maps a whole mmapable array into memory shared with the kernel, rows laid out densely', () => {
    const fd = native().mapCreate(bpf_map_type.BPF_MAP_TYPE_ARRAY, 4, 8, 5, BPF_F_MMAPABLE, 'xlb_test_mmap');
    try {
      const view = new Uint32Array(native().mapMmap(fd));
      expect(view.length).toBe(10);
      view.set([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
      expect(native().mapDump(fd, 4, 8).map(({ value }) => [value.readUInt32LE(0), value.readUInt32LE(4)])).toEqual([[9, 8], [7, 6], [5, 4], [3, 2], [1, 0]]);
      native().mapUpdate(fd, Buffer.from(Uint32Array.of(2).buffer), Buffer.from(Uint32Array.of(70, 71).buffer), 0);
      expect([...view.subarray(4, 6)]).toEqual([70, 71]);
      // Unmapped on demand (it counts in resident memory while mapped): the view empties, the map keeps its values.
      const mappings = () => fs.readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes('bpf-map')).length;
      const before = mappings();
      native().mapUnmap(view.buffer as ArrayBuffer);
      expect([view.length, mappings()]).toEqual([0, before - 1]);
      expect(() => native().mapUnmap(view.buffer as ArrayBuffer)).toThrow(/not a live mapping/);
      expect(new Uint32Array(native().mapMmap(fd))[4]).toBe(70);
      // A part of it only from a page boundary.
      expect(() => native().mapMmap(fd, 1, 2)).toThrow(/do not start on a page/);
    } finally {
      native().closeFd(fd);
    }
    // A range of pages: the third page of 4-KiB elements is the third element.
    const pages = native().mapCreate(bpf_map_type.BPF_MAP_TYPE_ARRAY, 4, 4096, 4, BPF_F_MMAPABLE, 'xlb_test_mmap_pg');
    try {
      native().mapUpdate(pages, Buffer.from(Uint32Array.of(2).buffer), Buffer.alloc(4096, 7), 0);
      const part = new Uint32Array(native().mapMmap(pages, 2, 1));
      expect([part.length, part[0], part[1023]]).toEqual([1024, 0x07070707, 0x07070707]);
      native().mapUnmap(part.buffer as ArrayBuffer);
    } finally {
      native().closeFd(pages);
    }
    const plain = native().mapCreate(bpf_map_type.BPF_MAP_TYPE_ARRAY, 4, 8, 5, 0, 'xlb_test_nommap');
    try {
      expect(() => native().mapMmap(plain)).toThrow(/BPF_F_MMAPABLE/);
    } finally {
      native().closeFd(plain);
    }
  });

});
