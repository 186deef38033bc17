// The benchmark's backend: a minimal HTTP/1.1 responder on raw sockets, so that the
// server costs as little as possible next to the path being measured. Answers every
// request with a fixed 200; honours keep-alive and `Connection: close`.
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { port: { type: 'string', default: '8080' } } });
const BODY = 'ok\n';
const KEEP = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`);
const CLOSE = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${BODY.length}\r\nConnection: close\r\n\r\n${BODY}`);

const server = net.createServer((sock) => {
  let pending = '';
  sock.setNoDelay(true);
  sock.on('data', (chunk) => {
    pending += chunk.toString('latin1');
    let end: number;
    while ((end = pending.indexOf('\r\n\r\n')) >= 0) {
      const head = pending.slice(0, end);
      pending = pending.slice(end + 4);
      if (/\r\nconnection:\s*close/i.test(head)) {
        sock.end(CLOSE);
        return;
      }
      sock.write(KEEP);
    }
  });
  sock.on('error', () => sock.destroy());
});
server.listen(Number(values.port), '0.0.0.0', () => process.stdout.write(`ready ${values.port}\n`));
process.on('SIGTERM', () => process.exit(0));
