// What the rule tracers (iptables-tracer.ts, nft-tracer.ts) follow and report: a new
// connection's first packet, and each way it can end with its probability.
import { ipv4ToInt } from '../../src/model/ipv4.js';

export interface Packet {
  src: string;
  dst: string;
  proto: 'tcp' | 'udp';
  dport: number;
  /** dst is an address of this node (addrtype LOCAL, fib daddr type local) */
  local?: boolean;
}

export interface Outcome {
  /** "IP:PORT" after DNAT, or undefined when not translated */
  dnat?: string;
  masquerade: boolean;
  /** filter verdict before routing to the endpoint */
  verdict: 'ACCEPT' | 'DROP' | 'REJECT';
  probability: number;
}

export function inCidr(ip: string, cidr: string): boolean {
  const [net, len] = cidr.split('/');
  const bits = Number(len ?? 32);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return ((ipv4ToInt(ip) & mask) >>> 0) === ((ipv4ToInt(net!) & mask) >>> 0);
}
