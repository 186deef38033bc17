// Run in a pod: opens `count` TCP connections one after another and reports how long
// each took from connect() to established (SYN -> SYN-ACK -> ACK), in microseconds.
import net from 'node:net';
import { parseArgs } from 'node:util';
import { summarize } from './stats.js';

const { values } = parseArgs({ options: { target: { type: 'string' }, count: { type: 'string', default: '1000' } } });
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
      sock.destroy();
      resolve(us);
    });
    sock.setTimeout(2000, () => sock.destroy(new Error('timeout')));
    sock.on('error', reject);
  });
}

const times: number[] = [];
let errors = 0;
for (let i = 0; i < Number(values.count); i++) {
  try {
    times.push(await once());
  } catch {
    errors++;
  }
}
if (times.length === 0) {
  process.stderr.write(`connect-latency: no connection to ${values.target} succeeded\n`);
  process.exit(1);
}
process.stdout.write(JSON.stringify({ us: summarize(times), errors }) + '\n');
