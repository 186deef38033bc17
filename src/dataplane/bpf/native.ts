// Typed binding to the native addon (native/*.cc, built by `make native`).
// Every failure is thrown as a NativeError carrying the errno and a hint.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { INSTALL_ROOT } from '../../install-root.js';

export interface LoadedObject {
  /** map name -> fd; maps declared with LIBBPF_PIN_BY_NAME are pinned/reused under pinDir */
  maps: Record<string, number>;
  /** program name (C function name) -> fd */
  progs: Record<string, number>;
  /** program name -> its expected attach type (enum bpf_attach_type), from its section */
  attachTypes: Record<string, number>;
}

/** A type as the bytes it lays out, from BTF (typedefs looked through): what a map's layout is compared by. */
export type Layout =
  | { kind: 'struct' | 'union'; name: string; size: number; members: LayoutMember[] }
  | { kind: 'array'; size: number; count: number; elem: Layout }
  | { kind: 'int'; size: number; signed: boolean; bits?: number; bitOffset?: number }
  | { kind: 'enum'; name: string; size: number }
  | { kind: 'ptr' | 'float' | 'other'; size: number };

/** offset in bytes; bitOffset and bits for bitfields only */
export interface LayoutMember {
  name: string;
  offset: number;
  bitOffset?: number;
  bits?: number;
  type: Layout;
}

/** A map's definition: key and value null without BTF; inner null unless a map-in-map (pinned: holding no inner map). */
export interface MapDefinition {
  type: number;
  /** libbpf's name of the type: "hash", "lru_hash", ... */
  typeName: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  key: Layout | null;
  value: Layout | null;
  inner: MapDefinition | null;
}

/** Bytes [from, from + length) of an old key or value go to [to, to + length) of the new one. */
export type ByteRange = [from: number, to: number, length: number];

export interface ObjectInfo {
  maps: Array<MapDefinition & { name: string; pinned: boolean }>;
  progs: string[];
}

export interface MapInfo {
  id: number;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  name: string;
}

export interface TestRunResult {
  retval: number;
  data: Buffer;
  durationNs: number;
}

export interface ProgInfo {
  id: number;
  name: string;
  tag: string;
  type: number;
  jited: boolean;
  /** instructions the verifier went through to accept it (its load cost) */
  verifiedInsns: number;
}

export type XdpMode = 'native' | 'generic';
export type TcDirection = 'ingress' | 'egress';

/** Threads of the addon that build Maglev tables straight into pool chunks (native/maglev.cc). */
export interface MaglevThreads {
  /** A unit: tables in the chunk `fd`; `shape` holds each one's backend count, size and first slot in the chunk. */
  post(fd: number, shape: Float64Array, endpoints: Float64Array, weights: Uint32Array, backendIds: Uint32Array): void;
  /** Builds on this thread the units no thread has taken, waits for the rest; throws what went wrong. */
  finish(): void;
  /** Builds nothing more; waits for the units the threads are building. */
  cancel(): void;
  /** Stops the threads. */
  close(): void;
}

export interface NativeAddon {
  /**
   * Open and load a BPF object; pinned maps under pinDir are reused, missing ones created
   * (with `maxEntries` overriding the object's sizes by map name) and pinned.
   */
  loadObject(objectPath: string, pinDir: string, maxEntries?: Record<string, number>): LoadedObject;
  /** loadObject on a worker thread: the verifier's time blocks no JavaScript. */
  loadObjectAsync(objectPath: string, pinDir: string, maxEntries?: Record<string, number>): Promise<LoadedObject>;
  /** What an object defines (maps, programs), read without loading it. */
  objectInfo(objectPath: string): ObjectInfo;
  /** Creates one map of an object as loading the object would, with maxEntries, pinned at pinPath. Returns an fd the caller must close. */
  createObjectMap(objectPath: string, mapName: string, pinPath: string, maxEntries: number): number;
  /** The definition of the map pinned at pinPath (inner: that of an inner map it holds); null when nothing is pinned there. */
  pinnedMapInfo(pinPath: string): (MapDefinition & { id: number }) | null;
  /**
   * Copies a hash map's entries into another, each key and value made of zeroes and byte
   * ranges of the old one. Dropped: keys already there (old keys converting to one),
   * entries that do not fit, and all of them when nothing converts (null key ranges, or
   * per-CPU values against shared ones).
   */
  mapMigrate(fromFd: number, toFd: number, keyRanges: ByteRange[] | null, valueRanges: ByteRange[]): { copied: number; dropped: number };
  /** Create a map (used for Maglev inner maps). Returns an fd the caller must close. */
  mapCreate(type: number, keySize: number, valueSize: number, maxEntries: number, flags: number, name: string): number;
  mapUpdate(fd: number, key: Buffer, value: Buffer, flags: number): void;
  /** Updates many entries: keys and values packed back to back (one batch syscall where supported). */
  mapUpdateBatch(fd: number, keys: Buffer, values: Buffer): void;
  /**
   * An update on a worker thread. For a map-in-map the kernel returns only after an RCU
   * grace period, so the promise settling means no program still uses what was replaced.
   */
  mapUpdateAsync(fd: number, key: Buffer, value: Buffer): Promise<void>;
  /**
   * A BPF_F_MMAPABLE array map's memory, shared with the kernel (elements 8-byte aligned):
   * all of it, or `count` elements from `first` (on a page boundary). Unmapped by
   * mapUnmap or when collected.
   */
  mapMmap(fd: number, first?: number, count?: number): ArrayBuffer;
  /** Unmaps a buffer of mapMmap now and detaches it (it counts in resident memory while mapped). */
  mapUnmap(buffer: ArrayBuffer): void;
  /** Returns null when the key is absent (ENOENT). */
  mapLookup(fd: number, key: Buffer, valueSize: number): Buffer | null;
  /** Returns false when the key was absent (ENOENT). */
  mapDelete(fd: number, key: Buffer): boolean;
  /** All entries; keys and values are copies. */
  mapDump(fd: number, keySize: number, valueSize: number): Array<{ key: Buffer; value: Buffer }>;
  mapInfo(fd: number): MapInfo;
  /** Deletes entries whose value starts with a CLOCK_MONOTONIC expiry (u64 ns) in the past; says how many went and stay. */
  mapDeleteExpired(fd: number): { deleted: number; remaining: number };
  /** How many entries a map holds. */
  mapCount(fd: number): number;
  mapFdById(id: number): number;
  objGet(pinPath: string): number;
  closeFd(fd: number): void;
  /** if_nametoindex in the caller's network namespace (sysfs may show another one). */
  ifIndex(name: string): number;
  /** Attach at XDP, replacing whatever is there. Returns the mode actually used. */
  xdpAttach(ifindex: number, progFd: number, mode: XdpMode | 'auto'): XdpMode;
  xdpDetach(ifindex: number): void;
  /** tc clsact, handle 1 prio 1, replacing ours if present. */
  tcAttach(ifindex: number, progFd: number, direction: TcDirection): void;
  tcDetach(ifindex: number, direction: TcDirection): void;
  /** The device's driver as ethtool reports it ("veth", "virtio_net", ...); "" if none. */
  ifDriver(name: string): string;
  /** The program at our place in a device's clsact hook; 0: none. */
  tcQuery(ifindex: number, direction: TcDirection): number;
  /** The device's XDP program (id 0, mode "": none). */
  xdpQuery(ifindex: number): { id: number; mode: XdpMode | '' };
  /** A loaded program by id, or by an fd of ours (tag as bpftool prints it). */
  progInfo(ref: number | { fd: number }): ProgInfo;
  /** The id of the program a pinned bpf_link runs. */
  linkProgId(pinPath: string): number;
  /**
   * Attaches a program to a cgroup v2 directory through a bpf_link pinned at pinPath; a
   * link already pinned there for the same cgroup gets the new program atomically.
   */
  cgroupAttach(progFd: number, attachType: number, cgroupPath: string, pinPath: string): 'created' | 'updated';
  /** Detaches every link on the cgroup whose program name starts with progPrefix; returns how many. */
  cgroupDetach(cgroupPath: string, progPrefix: string): number;
  /** Runs an iterator program once in each network namespace (paths like /proc/PID/ns/net); returns path -> why it failed. */
  iterRun(progFd: number, netnsPaths: string[]): Record<string, string>;
  /** BPF_PROG_TEST_RUN, in the network namespace at `netnsPath` when given (its FIB and devices). */
  progTestRun(progFd: number, data: Buffer, repeat: number, netnsPath?: string): TestRunResult;
  /** CLOCK_MONOTONIC in ns, the clock of bpf_ktime_get_ns. */
  monotonicNs(): bigint;
  /** Fills `out` (a prime number of slots) with the Maglev table of these backends (endpoint numbers): each slot the value of its backend. */
  maglevFill(endpoints: Float64Array, weights: Uint32Array, values: Uint32Array, out: Uint32Array): void;
  MaglevBuilder: new (threads: number) => MaglevThreads;
}

export interface NativeError extends Error {
  errno: number;
  code: string;
}

let cached: NativeAddon | undefined;

/** The addon, loaded on first use so commands that do not touch BPF work without it. */
export function native(): NativeAddon {
  if (cached) return cached;
  const found = path.join(INSTALL_ROOT, 'native/build/Release/xlb_addon.node');
  if (!fs.existsSync(found)) {
    throw new Error(`native addon not found at ${found}: run "make native"`);
  }
  const require = createRequire(import.meta.url);
  cached = require(found) as NativeAddon;
  return cached;
}
