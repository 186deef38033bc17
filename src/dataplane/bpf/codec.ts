// Binary layouts of the structs in bpf/xlb.h. Each layout is declared once, with
// C alignment rules, and drives both encoding and decoding; a test compares these
// layouts with the BTF of the compiled objects so the two sides cannot drift.
// Integers are host order (little-endian on the x86_64/arm64 hosts we support);
// addresses and ports are network order, as in packets.

import { ipv4ToInt } from '../../model/ipv4.js';
import { xlb_action, xlb_backend_flags, xlb_ct_flags, xlb_device_flags, xlb_drop_reason, xlb_limits, xlb_svc_flags, xlb_svc_type, xlb_via } from './contract.js';

type FieldKind = 'u8' | 'u16' | 'u32' | 'u64' | 'ipv4' | 'be16' | 'char';
type Field = readonly [name: string, kind: FieldKind, count?: number];

const SIZE: Record<FieldKind, number> = { u8: 1, u16: 2, u32: 4, u64: 8, ipv4: 4, be16: 2, char: 1 };

export interface FieldLayout {
  name: string;
  kind: FieldKind;
  offset: number;
  size: number;
}

type Value<K extends FieldKind> = K extends 'u64' ? bigint : K extends 'ipv4' | 'char' ? string : number;

export class StructCodec<T extends Record<string, unknown>> {
  readonly fields: FieldLayout[] = [];
  readonly size: number;
  /** Writes the struct at `base` of a zeroed buffer (many entries, one allocation); fields left undefined stay as they are. */
  readonly encodeInto: (value: T, buf: Buffer, base: number) => Buffer;

  constructor(
    readonly cName: string,
    spec: readonly Field[],
  ) {
    let off = 0;
    let align = 1;
    for (const [name, kind, count = 1] of spec) {
      const a = SIZE[kind];
      off = Math.ceil(off / a) * a;
      this.fields.push({ name, kind, offset: off, size: a * count });
      off += a * count;
      align = Math.max(align, a);
    }
    this.size = Math.ceil(off / align) * align;
    this.encodeInto = compileEncoder<T>(this.fields);
  }

  encode(value: T): Buffer {
    return this.encodeInto(value, Buffer.alloc(this.size), 0);
  }

  decode(buf: Buffer): T {
    if (buf.length < this.size) throw new RangeError(`${this.cName}: need ${this.size} bytes, got ${buf.length}`);
    const out: Record<string, unknown> = {};
    for (const f of this.fields) if (!f.name.startsWith('pad')) out[f.name] = readField(buf, f);
    return out as T;
  }
}

/** How each kind of field is written at `at`: the Buffer method that checks its range. */
const WRITE: Record<FieldKind, (at: string, f: FieldLayout) => string> = {
  u8: (at) => `buf.writeUInt8(v, ${at})`,
  u16: (at) => `buf.writeUInt16LE(v, ${at})`,
  u32: (at) => `buf.writeUInt32LE(v, ${at})`,
  u64: (at) => `buf.writeBigUInt64LE(v, ${at})`,
  be16: (at) => `buf.writeUInt16BE(v, ${at})`,
  // NUL-terminated, truncated to fit.
  char: (at, f) => `buf.write(v, ${at}, ${f.size - 1}, 'utf8')`,
  ipv4: (at) => `writeIPv4(buf, v, ${at})`,
};

function writeIPv4(buf: Buffer, v: string, at: number): void {
  const n = ipv4ToInt(v);
  if (n < 0) throw new TypeError(`not an IPv4 address: ${String(v)}`);
  buf.writeUInt32BE(n, at);
}

/**
 * A struct's writer, generated once from its layout (as protobuf.js does): a read of
 * each field by its own name and a write of its kind at its own offset. A loop over the
 * fields made each read a lookup by a changing name, and one writer for every kind
 * branched on it per field: a start writes 100,000 backends and member keys.
 */
function compileEncoder<T>(fields: readonly FieldLayout[]): (value: T, buf: Buffer, base: number) => Buffer {
  const body = fields.map((f) => `v = value[${JSON.stringify(f.name)}]; if (v !== undefined) ${WRITE[f.kind](`base + ${f.offset}`, f)};`).join('\n');
  const make = new Function('writeIPv4', `return function encodeInto(value, buf, base) {\nlet v;\n${body}\nreturn buf;\n};`);
  return make(writeIPv4) as (value: T, buf: Buffer, base: number) => Buffer;
}

function readField(buf: Buffer, f: FieldLayout): Value<FieldKind> {
  switch (f.kind) {
    case 'u8':
      return buf.readUInt8(f.offset);
    case 'u16':
      return buf.readUInt16LE(f.offset);
    case 'u32':
      return buf.readUInt32LE(f.offset);
    case 'u64':
      return buf.readBigUInt64LE(f.offset);
    case 'be16':
      return buf.readUInt16BE(f.offset);
    case 'char': {
      const bytes = buf.subarray(f.offset, f.offset + f.size);
      const end = bytes.indexOf(0);
      return bytes.subarray(0, end < 0 ? bytes.length : end).toString('utf8');
    }
    case 'ipv4':
      return [...buf.subarray(f.offset, f.offset + 4)].join('.');
  }
}

export const IPPROTO = { TCP: 6, UDP: 17 } as const;
export const PROTO_NAME: Record<number, 'TCP' | 'UDP'> = { 6: 'TCP', 17: 'UDP' };

/** enum xlb_svc_type, by the model's frontend type */
export const SVC_TYPE = {
  ClusterIP: xlb_svc_type.XLB_SVC_CLUSTER_IP,
  NodePort: xlb_svc_type.XLB_SVC_NODE_PORT,
  ExternalIP: xlb_svc_type.XLB_SVC_EXTERNAL_IP,
  LoadBalancer: xlb_svc_type.XLB_SVC_LOAD_BALANCER,
} as const;
export const SVC_TYPE_NAME = Object.fromEntries(Object.entries(SVC_TYPE).map(([k, v]) => [v, k])) as Record<number, keyof typeof SVC_TYPE>;

export const { XLB_SVC_F_DROP: SVC_F_DROP, XLB_SVC_F_SOURCE_RANGES: SVC_F_SOURCE_RANGES, XLB_SVC_F_LOCAL: SVC_F_LOCAL, XLB_SVC_F_TERMINATING: SVC_F_TERMINATING } =
  xlb_svc_flags;
export const { XLB_CT_CLOSING: CT_CLOSING } = xlb_ct_flags;
export const { XLB_BACKEND_F_REMOTE: BACKEND_F_REMOTE } = xlb_backend_flags;
export const { XLB_DEVICE_F_XDP: DEVICE_F_XDP } = xlb_device_flags;

/** An enum's member names by value, without `prefix`, in lower case (XLB_DROP_NO_ENDPOINTS: 'no_endpoints'). */
function namesByValue(e: Record<string, number>, prefix: string, except: string[] = []): string[] {
  const out: string[] = [];
  for (const [name, v] of Object.entries(e)) if (!except.includes(name)) out[v] = name.slice(prefix.length).toLowerCase();
  return out;
}

/** enum xlb_drop_reason, by value: the `reason` label of xlb_drops_total. */
export const DROP_REASONS: readonly string[] = namesByValue(xlb_drop_reason, 'XLB_DROP_', ['XLB_DROP_REASONS']);
/** enum xlb_action, by value */
export const ACTIONS: readonly string[] = namesByValue(xlb_action, 'XLB_ACT_');
/** enum xlb_via, by value */
export const VIA: readonly string[] = namesByValue(xlb_via, 'XLB_VIA_');


export interface SvcKey extends Record<string, unknown> {
  addr: string;
  port: number;
  proto: number;
}
export interface SvcValue extends Record<string, unknown> {
  svc_id: number;
  maglev_size: number;
  backend_count: number;
  type: number;
  flags: number;
  affinity_timeout_s: number;
  /** its table's first slot in the Maglev pool (bpf/maps.h) */
  table: number;
}
export interface SvcName extends Record<string, unknown> {
  name: string;
}
export interface MemberKey extends Record<string, unknown> {
  svc_id: number;
  backend_id: number;
}
export interface SourceRangeKey extends Record<string, unknown> {
  prefixlen: number;
  svc_id: number;
  addr: string;
}
export interface AffinityKey extends Record<string, unknown> {
  /** packet path: the client's address ("0.0.0.0" at the socket) */
  client: string;
  svc_id: number;
  /** socket path: the client's network namespace cookie (0n on the packet path) */
  netns: bigint;
}
export interface AffinityValue extends Record<string, unknown> {
  expires_ns: bigint;
  backend_id: number;
}
export interface BackendValue extends Record<string, unknown> {
  addr: string;
  port: number;
  proto: number;
  /** XLB_BACKEND_F_* */
  flags: number;
}
export interface SockKey extends Record<string, unknown> {
  cookie: bigint;
  backend_addr: string;
  backend_port: number;
  proto: number;
}
export interface SockValue extends Record<string, unknown> {
  frontend_addr: string;
  frontend_port: number;
  svc_id: number;
  backend_id: number;
}
export interface FlowKey extends Record<string, unknown> {
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  proto: number;
}
export interface CtValue extends Record<string, unknown> {
  expires_ns: bigint;
  backend_id: number;
  svc_id: number;
  backend_addr: string;
  backend_port: number;
  flags: number;
  /** the SNAT source of a flow to a remote backend ("0.0.0.0", 0: none) */
  nat_addr: string;
  nat_port: number;
}
export interface NatValue extends Record<string, unknown> {
  expires_ns: bigint;
  client_addr: string;
  client_port: number;
  flags: number;
  frontend_addr: string;
  frontend_port: number;
}
export interface DeviceValue extends Record<string, unknown> {
  /** "0.0.0.0": flows to remote backends through it are not SNATed */
  snat_addr: string;
  flags: number;
}
export interface ReplyBudget extends Record<string, unknown> {
  refilled_ns: bigint;
  tokens: number;
}
export interface RnatValue extends Record<string, unknown> {
  expires_ns: bigint;
  frontend_addr: string;
  frontend_port: number;
  flags: number;
}

export interface SvcStats extends Record<string, unknown> {
  packets: bigint;
  bytes: bigint;
  sock_calls: bigint;
}
export interface Trace extends Record<string, unknown> {
  action: number;
  svc_id: number;
  svc_flags: number;
  backend_id: number;
  via: number;
  hash: number;
  maglev_size: number;
  maglev_slot: number;
  drop_reason: number;
  expires_ns: bigint;
  now_ns: bigint;
}

export const svcKey = new StructCodec<SvcKey>('xlb_svc_key', [
  ['addr', 'ipv4'],
  ['port', 'be16'],
  ['proto', 'u8'],
  ['pad', 'u8'],
]);
export const svcValue = new StructCodec<SvcValue>('xlb_svc_value', [
  ['svc_id', 'u32'],
  ['maglev_size', 'u32'],
  ['backend_count', 'u16'],
  ['type', 'u8'],
  ['flags', 'u8'],
  ['affinity_timeout_s', 'u32'],
  ['table', 'u32'],
]);
export const svcName = new StructCodec<SvcName>('xlb_svc_name', [['name', 'char', xlb_limits.XLB_SVC_NAME_LEN]]);
export const memberKey = new StructCodec<MemberKey>('xlb_member_key', [
  ['svc_id', 'u32'],
  ['backend_id', 'u32'],
]);
export const sourceRangeKey = new StructCodec<SourceRangeKey>('xlb_source_range_key', [
  ['prefixlen', 'u32'],
  ['svc_id', 'u32'],
  ['addr', 'ipv4'],
]);
export const affinityKey = new StructCodec<AffinityKey>('xlb_affinity_key', [
  ['client', 'ipv4'],
  ['svc_id', 'u32'],
  ['netns', 'u64'],
]);
export const affinityValue = new StructCodec<AffinityValue>('xlb_affinity_value', [
  ['expires_ns', 'u64'],
  ['backend_id', 'u32'],
  ['pad', 'u32'],
]);
export const backend = new StructCodec<BackendValue>('xlb_backend', [
  ['addr', 'ipv4'],
  ['port', 'be16'],
  ['proto', 'u8'],
  ['flags', 'u8'],
]);
export const flowKey = new StructCodec<FlowKey>('xlb_flow_key', [
  ['saddr', 'ipv4'],
  ['daddr', 'ipv4'],
  ['sport', 'be16'],
  ['dport', 'be16'],
  ['proto', 'u8'],
  ['pad', 'u8', 3],
]);
export const ctValue = new StructCodec<CtValue>('xlb_ct_value', [
  ['expires_ns', 'u64'],
  ['backend_id', 'u32'],
  ['svc_id', 'u32'],
  ['backend_addr', 'ipv4'],
  ['backend_port', 'be16'],
  ['flags', 'u16'],
  ['nat_addr', 'ipv4'],
  ['nat_port', 'be16'],
  ['pad', 'u16'],
]);
export const natValue = new StructCodec<NatValue>('xlb_nat_value', [
  ['expires_ns', 'u64'],
  ['client_addr', 'ipv4'],
  ['client_port', 'be16'],
  ['flags', 'u16'],
  ['frontend_addr', 'ipv4'],
  ['frontend_port', 'be16'],
  ['pad', 'u16'],
]);
export const device = new StructCodec<DeviceValue>('xlb_device', [
  ['snat_addr', 'ipv4'],
  ['flags', 'u32'],
]);
export const replyBudget = new StructCodec<ReplyBudget>('xlb_reply_budget', [
  ['refilled_ns', 'u64'],
  ['tokens', 'u32'],
  ['pad', 'u32'],
]);
export const rnatValue = new StructCodec<RnatValue>('xlb_rnat_value', [
  ['expires_ns', 'u64'],
  ['frontend_addr', 'ipv4'],
  ['frontend_port', 'be16'],
  ['flags', 'u16'],
]);

export const sockKey = new StructCodec<SockKey>('xlb_sock_key', [
  ['cookie', 'u64'],
  ['backend_addr', 'ipv4'],
  ['backend_port', 'be16'],
  ['proto', 'u8'],
  ['pad', 'u8'],
]);
export const sockValue = new StructCodec<SockValue>('xlb_sock_value', [
  ['frontend_addr', 'ipv4'],
  ['frontend_port', 'be16'],
  ['pad', 'u16'],
  ['svc_id', 'u32'],
  ['backend_id', 'u32'],
]);

export interface SockPeer {
  key: SockKey;
  value: SockValue;
}
/** struct xlb_sock_peer: a connected socket's key and value, one after the other. */
export const sockPeer = {
  cName: 'xlb_sock_peer',
  size: sockKey.size + sockValue.size,
  encodeInto(p: SockPeer, buf: Buffer, base: number): Buffer {
    sockKey.encodeInto(p.key, buf, base);
    return sockValue.encodeInto(p.value, buf, base + sockKey.size);
  },
  encode(p: SockPeer): Buffer {
    return sockPeer.encodeInto(p, Buffer.alloc(sockPeer.size), 0);
  },
  decode: (b: Buffer): SockPeer => ({ key: sockKey.decode(b), value: sockValue.decode(b.subarray(sockKey.size)) }),
};

export const svcStats = new StructCodec<SvcStats>('xlb_svc_stats', [
  ['packets', 'u64'],
  ['bytes', 'u64'],
  ['sock_calls', 'u64'],
]);
export const trace = new StructCodec<Trace>('xlb_trace', [
  ['action', 'u32'],
  ['svc_id', 'u32'],
  ['svc_flags', 'u32'],
  ['backend_id', 'u32'],
  ['via', 'u32'],
  ['hash', 'u32'],
  ['maglev_size', 'u32'],
  ['maglev_slot', 'u32'],
  ['drop_reason', 'u32'],
  ['pad', 'u32'],
  ['expires_ns', 'u64'],
  ['now_ns', 'u64'],
]);

/** A plain u64 counter (xlb_drops' value). */
export const counter = new StructCodec<{ count: bigint }>('__u64', [['count', 'u64']]);

/** A scalar key or value, with the same interface as a struct's codec. */
function scalar(size: 1 | 4, write: (b: Buffer, n: number, at: number) => void, read: (b: Buffer) => number) {
  const encodeInto = (n: number, b: Buffer, at: number): Buffer => (write(b, n, at), b);
  return { size, encodeInto, encode: (n: number) => encodeInto(n, Buffer.alloc(size), 0), decode: read };
}

/** A set member's value: present means member. */
export const u8 = scalar(1, (b, n, at) => b.writeUInt8(n, at), (b) => b.readUInt8(0));
export const u32 = scalar(4, (b, n, at) => b.writeUInt32LE(n, at), (b) => b.readUInt32LE(0));
/** An IPv4 address key (network order). */
export const ipv4 = new StructCodec<{ addr: string }>('__be32', [['addr', 'ipv4']]);

/** The structs of bpf/xlb.h that the datapath programs use, for the BTF layout test. */
export const ALL_STRUCTS = [svcKey, svcValue, svcName, memberKey, sourceRangeKey, affinityKey, affinityValue, backend, flowKey, ctValue, rnatValue, sockKey, sockValue, natValue, device, replyBudget, svcStats];
