// Declarative packet fixtures for BPF_PROG_TEST_RUN: build Ethernet/IPv4/TCP/UDP
// frames with correct checksums, and parse frames back with checksum verification.

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

const ETH_P_IP = 0x0800;
const IPPROTO = { TCP: 6, UDP: 17 } as const;

function ipBytes(ip: string): number[] {
  return ip.split('.').map(Number);
}

function sum16(buf: Buffer, start = 0, end = buf.length, init = 0): number {
  let s = init;
  for (let i = start; i < end; i += 2) s += (buf[i]! << 8) + (i + 1 < end ? buf[i + 1]! : 0);
  return s;
}

function fold(s: number): number {
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

function pseudoSum(ip: Buffer, l4len: number): number {
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
