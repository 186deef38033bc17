// Ethernet/IPv4/TCP/UDP frames with correct checksums, for BPF_PROG_TEST_RUN: lbctl
// explain runs the datapath's decision on one, and the BPF tests build theirs here too.
import { IPPROTO } from './codec.js';

export const TCP_FLAGS = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10 } as const;

export interface PacketSpec {
  proto: 'TCP' | 'UDP';
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  /** TCP flags, default SYN */
  flags?: number;
  payload?: Buffer;
  /** Leave the UDP checksum 0 ("none"). */
  udpNoChecksum?: boolean;
  /** IPv4 flags/fragment offset field, e.g. 0x2000 = more fragments. */
  fragField?: number;
}

export const ETH_P_IP = 0x0800;

export function ipBytes(ip: string): number[] {
  return ip.split('.').map(Number);
}

export function sum16(buf: Buffer, start = 0, end = buf.length, init = 0): number {
  let s = init;
  for (let i = start; i < end; i += 2) s += (buf[i]! << 8) + (i + 1 < end ? buf[i + 1]! : 0);
  return s;
}

export function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

export function ethHeader(etherType: number): Buffer {
  const eth = Buffer.alloc(14);
  Buffer.from([0x02, 0, 0, 0, 0, 0x01]).copy(eth, 0);
  Buffer.from([0x02, 0, 0, 0, 0, 0x02]).copy(eth, 6);
  eth.writeUInt16BE(etherType, 12);
  return eth;
}

export function pseudoSum(ip: Buffer, l4len: number): number {
  return sum16(ip, 12, 20) + ip[9]! + l4len;
}

export function buildPacket(p: PacketSpec): Buffer {
  const payload = p.payload ?? Buffer.from('xlb');
  const l4 = Buffer.alloc((p.proto === 'TCP' ? 20 : 8) + payload.length);
  l4.writeUInt16BE(p.sport, 0);
  l4.writeUInt16BE(p.dport, 2);
  if (p.proto === 'TCP') {
    l4.writeUInt32BE(1000, 4);
    l4[12] = 5 << 4;
    l4[13] = p.flags ?? TCP_FLAGS.SYN;
    l4.writeUInt16BE(65535, 14);
    payload.copy(l4, 20);
  } else {
    l4.writeUInt16BE(l4.length, 4);
    payload.copy(l4, 8);
  }
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + l4.length, 2);
  ip.writeUInt16BE(0x1234, 4);
  ip.writeUInt16BE(p.fragField ?? 0x4000, 6);
  ip[8] = 64;
  ip[9] = IPPROTO[p.proto];
  Buffer.from(ipBytes(p.saddr)).copy(ip, 12);
  Buffer.from(ipBytes(p.daddr)).copy(ip, 16);
  ip.writeUInt16BE(~fold(sum16(ip)) & 0xffff, 10);
  if (!(p.proto === 'UDP' && p.udpNoChecksum)) {
    const off = p.proto === 'TCP' ? 16 : 6;
    let c = ~fold(sum16(l4, 0, l4.length, pseudoSum(ip, l4.length))) & 0xffff;
    if (p.proto === 'UDP' && c === 0) c = 0xffff;
    l4.writeUInt16BE(c, off);
  }
  return Buffer.concat([ethHeader(ETH_P_IP), ip, l4]);
}

