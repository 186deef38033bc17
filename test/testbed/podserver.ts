// A pod for the testbed: answers HTTP on each TCP port and any UDP datagram with its
// name, so a client can see which backend a load balancer picked.
import http from 'node:http';
import dgram from 'node:dgram';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { name: { type: 'string' }, tcp: { type: 'string', default: '' }, udp: { type: 'string', default: '' } },
});
const name = values.name ?? 'pod';
const ports = (s: string) => s.split(',').filter(Boolean).map(Number);

const listening: Array<Promise<void>> = [];
for (const port of ports(values.tcp)) {
  const server = http.createServer((req, res) => {
    res.setHeader('x-pod', name);
    res.setHeader('x-port', String(port));
    // The address the pod sees its client at (SNAT shows the node's).
    res.setHeader('x-client', req.socket.remoteAddress ?? '');
    res.end(`${name}\n`);
    req.resume();
  });
  server.keepAliveTimeout = 60_000;
  listening.push(new Promise((resolve) => server.listen(port, '0.0.0.0', resolve)));
}
for (const port of ports(values.udp)) {
  const sock = dgram.createSocket('udp4');
  sock.on('message', (_msg, from) => sock.send(name, from.port, from.address));
  listening.push(new Promise((resolve) => sock.bind(port, '0.0.0.0', resolve)));
}
await Promise.all(listening);
process.stdout.write(`ready ${name}\n`);
process.on('SIGTERM', () => process.exit(0));
