// Connect latency (SYN -> established) as a pod sees it, measured by bench/connect-latency.c
// in the pod. `p99` is the median of the p99s of `batches` equal batches of consecutive
// connects: the p99 of all of them is the 1% slowest, which one stall of the host (a few
// ms on these VMs) fills alone.
import path from 'node:path';
import { REPO } from '../test/testbed/topology.js';
import { summarize, type Summary } from './stats.js';

/** Built by `make bench` (Makefile). */
export const CONNECT_LATENCY = path.join(REPO, 'build/bench/connect-latency');

export interface ConnectTimes {
  /** every connect's time, in µs */
  us: Summary;
  /** the median of the batches' p99s, in µs */
  p99: number;
  errors: number;
}

/** `count` connects to `target` (IP:PORT, or IP,IP,…:PORT for each address in turn), run where the pod lives by `run`. */
export function measureConnects(run: (cmd: string, args: string[]) => string, target: string, count: number, batches = 5): ConnectTimes {
  const [ip, port] = target.split(':');
  const all = JSON.parse(run(CONNECT_LATENCY, [ip!, port!, String(count)])) as number[];
  const parts: number[][] = Array.from({ length: batches }, () => []);
  let errors = 0;
  all.forEach((us, i) => {
    if (us < 0) errors++;
    // Batches of consecutive connects: a stall falls in one of them.
    else parts[Math.floor((i * batches) / all.length)]!.push(us);
  });
  if (parts.some((b) => b.length === 0)) throw new Error(`connect-latency: ${all.length - errors} of ${count} connections to ${target} succeeded, too few for ${batches} batches`);
  return { us: summarize(parts.flat()), p99: summarize(parts.map((b) => summarize(b).p99)).median, errors };
}
