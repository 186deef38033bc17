// Run in a pod: opens `count` TCP connections one after another and reports how long
// each took from connect() to established (SYN -> SYN-ACK -> ACK), in microseconds.
// `p99` is the median of the p99s of `batches` equal batches: the p99 of all of them is
// the 1% slowest, which one stall of the host (a few ms on these VMs) fills alone.
import net from 'node:net';
import { parseArgs } from 'node:util';
import { summarize } from './stats.js';

const { values } = parseArgs({ options: { target: { type: 'string' }, count: { type: 'string', default: '1000' }, batches: { type: 'string', default: '5' } } });
const [host, port] = (values.target ?? '').split(':');
if (!host || !port) {
  process.stderr.write('connect-latency: --target IP:PORT is required\n');
  process.exit(2);
}

function once(): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const sock = net.connect({ host, port: Number(port) }, () => {
      const us = Number(process.hrtime.bigint() - t0) / 1000;
      // Closed with a RST, so that no TIME_WAIT is left: thousands of them towards one
      // address (the no-LB path's one pod IP, against a Service's ten) make connect()'s
      // search for a free port slower, and that is not what is measured here.
      sock.resetAndDestroy();
      resolve(us);
    });
    sock.setTimeout(2000, () => sock.destroy(new Error('timeout')));
    sock.on('error', reject);
  });
}

const count = Number(values.count);
const batches = Array.from({ length: Math.max(1, Number(values.batches)) }, () => [] as number[]);
let errors = 0;
for (let i = 0; i < count; i++) {
  try {
    // Batches of consecutive connects: a stall falls in one of them.
    batches[Math.floor((i * batches.length) / count)]!.push(await once());
  } catch {
    errors++;
  }
}
const times = batches.flat();
if (batches.some((b) => b.length === 0)) {
  process.stderr.write(`connect-latency: ${times.length} of ${count} connections to ${values.target} succeeded, too few for ${batches.length} batches\n`);
  process.exit(1);
}
const p99 = summarize(batches.map((b) => summarize(b).p99)).median;
process.stdout.write(JSON.stringify({ us: summarize(times), p99, errors }) + '\n');
