// Declarative packet fixtures for BPF_PROG_TEST_RUN: frames come from the product's
// builder (src/dataplane/bpf/packet.ts); here they are parsed back with checksum
// verification, and ICMP errors about them are built.
import { ETH_P_IP, ethHeader, fold, ipBytes, pseudoSum, sum16 } from '../../src/dataplane/bpf/packet.js';

export { buildPacket, ethHeader, TCP_FLAGS, type PacketSpec } from '../../src/dataplane/bpf/packet.js';

export interface ParsedPacket {
  proto: 'TCP' | 'UDP';
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  ipChecksumOk: boolean;
  l4ChecksumOk: boolean;
  udpChecksum?: number;
}

export function parsePacket(frame: Buffer): ParsedPacket {
  const ip = frame.subarray(14, 34);
  const l4 = frame.subarray(34, 14 + ip.readUInt16BE(2));
  const proto = ip[9] === 6 ? 'TCP' : 'UDP';
  const udpChecksum = proto === 'UDP' ? l4.readUInt16BE(6) : undefined;
  const l4ok = udpChecksum === 0 || fold(sum16(l4, 0, l4.length, pseudoSum(ip, l4.length))) === 0xffff;
  return {
    proto,
    saddr: [...ip.subarray(12, 16)].join('.'),
    daddr: [...ip.subarray(16, 20)].join('.'),
    sport: l4.readUInt16BE(0),
    dport: l4.readUInt16BE(2),
    ipChecksumOk: fold(sum16(ip)) === 0xffff,
    l4ChecksumOk: l4ok,
    udpChecksum,
  };
}

export interface IcmpErrorSpec {
  saddr: string;
  daddr: string;
  /** 3 destination unreachable (code 4: fragmentation needed), 11 time exceeded */
  type: number;
  code: number;
  /** the frame the error is about: its IP header and first bytes are quoted */
  about: Buffer;
}

/** An ICMP error quoting the IP header and 8 bytes of `about` (a frame from buildPacket). */
export function buildIcmpError(e: IcmpErrorSpec): Buffer {
  const quoted = e.about.subarray(14, 14 + 20 + 8);
  const icmp = Buffer.alloc(8 + quoted.length);
  icmp[0] = e.type;
  icmp[1] = e.code;
  if (e.type === 3 && e.code === 4) icmp.writeUInt16BE(1400, 6); // next-hop MTU
  quoted.copy(icmp, 8);
  icmp.writeUInt16BE(~fold(sum16(icmp)) & 0xffff, 2);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + icmp.length, 2);
  ip[8] = 64;
  ip[9] = 1;
  Buffer.from(ipBytes(e.saddr)).copy(ip, 12);
  Buffer.from(ipBytes(e.daddr)).copy(ip, 16);
  ip.writeUInt16BE(~fold(sum16(ip)) & 0xffff, 10);
  return Buffer.concat([ethHeader(ETH_P_IP), ip, icmp]);
}

export interface ParsedIcmpError {
  saddr: string;
  daddr: string;
  type: number;
  code: number;
  quoted: { saddr: string; daddr: string; sport: number; dport: number };
  ipChecksumOk: boolean;
  icmpChecksumOk: boolean;
  quotedIpChecksumOk: boolean;
}

export function parseIcmpError(frame: Buffer): ParsedIcmpError {
  const ip = frame.subarray(14, 34);
  const icmp = frame.subarray(34, 14 + ip.readUInt16BE(2));
  const q = icmp.subarray(8, 28);
  const addr = (b: Buffer, at: number) => [...b.subarray(at, at + 4)].join('.');
  return {
    saddr: addr(ip, 12),
    daddr: addr(ip, 16),
    type: icmp[0]!,
    code: icmp[1]!,
    quoted: { saddr: addr(q, 12), daddr: addr(q, 16), sport: icmp.readUInt16BE(28), dport: icmp.readUInt16BE(30) },
    ipChecksumOk: fold(sum16(ip)) === 0xffff,
    icmpChecksumOk: fold(sum16(icmp)) === 0xffff,
    quotedIpChecksumOk: fold(sum16(q)) === 0xffff,
  };
}
