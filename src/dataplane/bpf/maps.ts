// Typed views of the pinned maps. Names match bpf/maps.h.
import { MAPS } from './contract.js';
import fs from 'node:fs';
import path from 'node:path';
import { native } from './native.js';
import * as codec from './codec.js';
import { chunkKey, chunkOffset } from './maglev-pool.js';

interface Codec<T> {
  size: number;
  encode(v: T): Buffer;
  encodeInto(v: T, buf: Buffer, base: number): Buffer;
  decode(b: Buffer): T;
}

/** Updates gathered for one write; nothing reaches the map before write(). */
export interface MapBatch<K, V> {
  add(k: K, v: V): void;
  readonly length: number;
  /** Writes what was added (one syscall for a real map) and empties the batch. */
  write(): void;
}

/** The operations the reconciler needs; in-memory twins stand in for it in unit tests. */
export interface MapLike<K, V> {
  get(k: K): V | undefined;
  set(k: K, v: V): void;
  /** Many updates in one call (one syscall for a real map). */
  setMany(entries: Array<[K, V]>): void;
  /** An empty batch for this map. */
  batch(): MapBatch<K, V>;
  delete(k: K): boolean;
  entries(): Array<[K, V]>;
}

/**
 * A real map's batch: each entry is encoded as it is added, into buffers that double
 * as they fill, so a start's million backends and members leave no object behind for
 * the collector to carry until the write.
 */
class EncodedBatch<K, V> implements MapBatch<K, V> {
  private keys: Buffer = Buffer.alloc(0);
  private values: Buffer = Buffer.alloc(0);
  length = 0;

  constructor(
    private readonly map: { readonly fd: number },
    private readonly key: Codec<K>,
    private readonly value: Codec<V>,
  ) {}

  add(k: K, v: V): void {
    if (this.length * this.key.size === this.keys.length) {
      const room = Math.max(64, this.length * 2);
      this.keys = grown(this.keys, room * this.key.size);
      this.values = grown(this.values, room * this.value.size);
    }
    this.key.encodeInto(k, this.keys, this.length * this.key.size);
    this.value.encodeInto(v, this.values, this.length * this.value.size);
    this.length++;
  }

  write(): void {
    if (this.length === 0) return;
    const n = this.length;
    this.length = 0;
    native().mapUpdateBatch(this.map.fd, this.keys.subarray(0, n * this.key.size), this.values.subarray(0, n * this.value.size));
    this.keys = Buffer.alloc(0);
    this.values = Buffer.alloc(0);
  }
}

/** A zeroed buffer of `size` bytes that starts with `buf` (encodeInto leaves padding as it finds it). */
function grown(buf: Buffer, size: number): Buffer {
  const out = Buffer.alloc(size);
  buf.copy(out);
  return out;
}

export class TypedMap<K, V> implements MapLike<K, V> {
  constructor(
    readonly name: string,
    readonly fd: number,
    private readonly key: Codec<K>,
    private readonly value: Codec<V>,
  ) {}

  get(k: K): V | undefined {
    const v = native().mapLookup(this.fd, this.key.encode(k), this.value.size);
    return v ? this.value.decode(v) : undefined;
  }

  set(k: K, v: V): void {
    native().mapUpdate(this.fd, this.key.encode(k), this.value.encode(v), 0);
  }

  setMany(entries: Array<[K, V]>): void {
    const batch = this.batch();
    for (const [k, v] of entries) batch.add(k, v);
    batch.write();
  }

  batch(): MapBatch<K, V> {
    return new EncodedBatch(this, this.key, this.value);
  }

  delete(k: K): boolean {
    return native().mapDelete(this.fd, this.key.encode(k));
  }

  entries(): Array<[K, V]> {
    return native()
      .mapDump(this.fd, this.key.size, this.value.size)
      .map(({ key, value }) => [this.key.decode(key), this.value.decode(value)]);
  }
}

/**
 * An array map whose slot of zeros is an empty one (xlb_backends, by id): a deleted
 * entry is a slot written with zeros; lookups and dumps (native) leave such slots out.
 */
export class SlotArray<V> extends TypedMap<number, V> {
  private readonly empty: Buffer;

  constructor(name: string, fd: number, private readonly slot: Codec<V>) {
    super(name, fd, codec.u32, slot);
    this.empty = Buffer.alloc(slot.size);
  }

  override get(k: number): V | undefined {
    const v = native().mapLookup(this.fd, codec.u32.encode(k), this.slot.size);
    return v && !v.equals(this.empty) ? this.slot.decode(v) : undefined;
  }

  override delete(k: number): boolean {
    const had = this.get(k) !== undefined;
    if (had) native().mapUpdate(this.fd, codec.u32.encode(k), this.empty, 0);
    return had;
  }
}

/**
 * A per-CPU map read as the sum over CPUs. The kernel hands userspace one value per
 * possible CPU, each padded to 8 bytes; the codec's integers are all u64 here.
 */
export class PerCpuMap<V extends Record<string, unknown>> {
  private readonly stride: number;
  private readonly size: number;

  constructor(
    readonly name: string,
    readonly fd: number,
    private readonly value: { size: number; fields: ReadonlyArray<{ name: string; offset: number }> },
  ) {
    this.stride = Math.ceil(value.size / 8) * 8;
    this.size = this.stride * possibleCpus();
  }

  /** Sums of every key's values. */
  entries(): Array<[number, V]> {
    return native()
      .mapDump(this.fd, 4, this.size)
      .map(({ key, value }) => [key.readUInt32LE(0), this.sum(value)]);
  }

  delete(key: number): boolean {
    return native().mapDelete(this.fd, codec.u32.encode(key));
  }

  private sum(buf: Buffer): V {
    const out: Record<string, unknown> = {};
    for (const f of this.value.fields) {
      if (f.name.startsWith('pad')) continue;
      let n = 0n;
      for (let at = f.offset; at < buf.length; at += this.stride) n += buf.readBigUInt64LE(at);
      out[f.name] = n;
    }
    return out as V;
  }
}

let cpus: number | undefined;
/** How many CPUs the kernel sizes per-CPU values for (/sys/devices/system/cpu/possible, e.g. "0-3"). */
export function possibleCpus(): number {
  if (cpus !== undefined) return cpus;
  const ranges = fs.readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim().split(',');
  let max = 0;
  for (const r of ranges) max = Math.max(max, Number(r.split('-').at(-1)));
  return (cpus = max + 1);
}

/** A map the objects pin by name under --bpffs: one the agent reads or writes, and cleanup removes. */
export type MapName = { [K in keyof typeof MAPS]: (typeof MAPS)[K]['pinned'] extends true ? K : never }[keyof typeof MAPS];
export const MAP_NAMES = (Object.keys(MAPS) as Array<keyof typeof MAPS>).filter((n): n is MapName => MAPS[n].pinned);

export interface XlbMaps {
  services: TypedMap<codec.SvcKey, codec.SvcValue>;
  backends: SlotArray<codec.BackendValue>;
  names: TypedMap<number, codec.SvcName>;
  members: TypedMap<codec.MemberKey, number>;
  sourceRanges: TypedMap<codec.SourceRangeKey, number>;
  affinity: TypedMap<codec.AffinityKey, codec.AffinityValue>;
  /** chunk of the Maglev pool -> its map: an fd on update, a map id on lookup */
  maglev: TypedMap<number, number>;
  ct: TypedMap<codec.FlowKey, codec.CtValue>;
  rnat: TypedMap<codec.FlowKey, codec.RnatValue>;
  /** (cookie, backend) -> frontend: unconnected UDP sockets balanced at sendmsg, and connected sockets moved out of their slots */
  sockets: TypedMap<codec.SockKey, codec.SockValue>;
  /** sockets balanced at connect, each in the slot its cookie indexes */
  sockPeers: SlotArray<codec.SockPeer>;
  /** SNATed flows by their replies' tuple (backend -> SNAT address) */
  nat: TypedMap<codec.FlowKey, codec.NatValue>;
  /** ifindex -> the SNAT address of a --devices device */
  devices: TypedMap<number, codec.DeviceValue>;
  /** source address -> its budget of RST/ICMP answers */
  replyBudget: TypedMap<{ addr: string }, codec.ReplyBudget>;
  /** svc_id -> traffic the datapath sent to its backends */
  svcStats: PerCpuMap<codec.SvcStats>;
  /** enum xlb_drop_reason -> packets and socket calls refused for it */
  drops: PerCpuMap<{ count: bigint }>;
}

export function typedMaps(fds: Record<MapName, number>): XlbMaps {
  return {
    services: new TypedMap('xlb_services', fds.xlb_services, codec.svcKey, codec.svcValue),
    backends: new SlotArray('xlb_backends', fds.xlb_backends, codec.backend),
    names: new TypedMap('xlb_svc_names', fds.xlb_svc_names, codec.u32, codec.svcName),
    members: new TypedMap('xlb_members', fds.xlb_members, codec.memberKey, codec.u8),
    sourceRanges: new TypedMap('xlb_source_ranges', fds.xlb_source_ranges, codec.sourceRangeKey, codec.u8),
    affinity: new TypedMap('xlb_affinity', fds.xlb_affinity, codec.affinityKey, codec.affinityValue),
    maglev: new TypedMap('xlb_maglev', fds.xlb_maglev, codec.u32, codec.u32),
    ct: new TypedMap('xlb_ct', fds.xlb_ct, codec.flowKey, codec.ctValue),
    rnat: new TypedMap('xlb_rnat', fds.xlb_rnat, codec.flowKey, codec.rnatValue),
    sockets: new TypedMap('xlb_sockets', fds.xlb_sockets, codec.sockKey, codec.sockValue),
    sockPeers: new SlotArray('xlb_sock_peers', fds.xlb_sock_peers, codec.sockPeer),
    nat: new TypedMap('xlb_nat', fds.xlb_nat, codec.flowKey, codec.natValue),
    devices: new TypedMap('xlb_devices', fds.xlb_devices, codec.u32, codec.device),
    replyBudget: new TypedMap('xlb_reply_budget', fds.xlb_reply_budget, codec.ipv4, codec.replyBudget),
    svcStats: new PerCpuMap('xlb_svc_stats', fds.xlb_svc_stats, codec.svcStats),
    drops: new PerCpuMap('xlb_drops', fds.xlb_drops, codec.counter),
  };
}

/** Opens the maps an agent pinned under `bpffs`, for inspection without loading programs. */
export function openPinnedMaps(bpffs: string): XlbMaps {
  const fds = {} as Record<MapName, number>;
  for (const name of MAP_NAMES) {
    const pin = path.join(bpffs, name);
    try {
      fds[name] = native().objGet(pin);
    } catch (err) {
      throw new Error(`no xlb maps under ${bpffs}: ${(err as Error).message}`);
    }
  }
  return typedMaps(fds);
}

/**
 * Reads services' Maglev tables from the pool (bpf/maps.h): the table a frontend's
 * value names, slot -> backend id. Each chunk is mapped once per reader.
 */
export function maglevReader(maps: XlbMaps): (v: Pick<codec.SvcValue, 'table' | 'maglev_size'>) => number[] {
  const chunks = new Map<number, Uint32Array | undefined>();
  const chunk = (key: number) => {
    if (!chunks.has(key)) {
      const id = maps.maglev.get(key);
      let view: Uint32Array | undefined;
      if (id) {
        const fd = native().mapFdById(id);
        try {
          view = new Uint32Array(native().mapMmap(fd));
        } finally {
          native().closeFd(fd);
        }
      }
      chunks.set(key, view);
    }
    return chunks.get(key);
  };
  return ({ table, maglev_size: size }) => {
    const view = size ? chunk(chunkKey(table)) : undefined;
    const at = chunkOffset(table);
    return view ? Array.from(view.subarray(at, at + size)) : [];
  };
}
