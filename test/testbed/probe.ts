// The testbed's client: sends a bounded number of requests to a target and reports
// which pod answered each, and which peer the application saw (getpeername for TCP,
// the source of UDP replies): through a Service, that must be the Service. With
// --interactive it holds one keep-alive TCP connection (or one connected UDP socket)
// and sends one request per line read on stdin, printing the answering pod.
import http from 'node:http';
import dgram from 'node:dgram';
import readline from 'node:readline';
import { parseArgs } from 'node:util';

export interface ProbeResult {
  sent: number;
  answers: Record<string, number>;
  /** TCP: answers per pod port (x-port header), to check target ports */
  ports: Record<string, number>;
  errors: Record<string, number>;
  /** "IP:PORT" the application saw as its peer, per answer */
  peers: Record<string, number>;
  /** TCP: the client address the pod saw (x-client header), per answer */
  seenAs: Record<string, number>;
  /** slowest request, answered or failed */
  maxMs: number;
}

const { values } = parseArgs({
  options: {
    target: { type: 'string' },
    proto: { type: 'string', default: 'tcp' },
    count: { type: 'string', default: '10' },
    'timeout-ms': { type: 'string', default: '1000' },
    sport: { type: 'string' },
    interactive: { type: 'boolean', default: false },
    /** UDP: sendto() on an unconnected socket instead of connect() + send() */
    unconnected: { type: 'boolean', default: false },
    /** an IPv6 socket reaching the IPv4 target through ::ffff:a.b.c.d (dual-stack, as Java's) */
    mapped: { type: 'boolean', default: false },
  },
});
const [target4, portStr] = (values.target ?? '').split(':');
const host = values.mapped && target4 ? `::ffff:${target4}` : target4;
const port = Number(portStr);
if (!host || !port) {
  process.stderr.write('probe: --target IP:PORT is required\n');
  process.exit(2);
}
const timeoutMs = Number(values['timeout-ms']);
const localPort = values.sport ? Number(values.sport) : undefined;

const WHO = Buffer.from('who');
let lastPort = '';
let lastPeer = '';
let lastSeenAs = '';

function httpGet(agent: http.Agent | false): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: '/', agent, localPort, timeout: timeoutMs }, (res) => {
      let body = '';
      lastPort = String(res.headers['x-port'] ?? '');
      lastPeer = `${res.socket.remoteAddress}:${res.socket.remotePort}`;
      lastSeenAs = String(res.headers['x-client'] ?? '');
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body.trim()));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

function udpAsk(): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket(values.mapped ? 'udp6' : 'udp4');
    const timer = setTimeout(() => {
      sock.close();
      reject(new Error('timeout'));
    }, timeoutMs);
    sock.on('message', (msg, from) => {
      clearTimeout(timer);
      sock.close();
      lastPeer = `${from.address}:${from.port}`;
      resolve(msg.toString());
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      sock.close();
      reject(err);
    });
    const fail = (err: Error | null) => {
      if (!err) return;
      clearTimeout(timer);
      sock.close();
      reject(err);
    };
    // Connected, so an ICMP port unreachable surfaces as ECONNREFUSED.
    if (values.unconnected) sock.bind(localPort ?? 0, () => sock.send('who', port, host, fail));
    else sock.bind(localPort ?? 0, () => sock.connect(port, host, (err?: Error) => (err ? fail(err) : sock.send(WHO, 0, WHO.length, fail))));
  });
}

async function batch(count: number): Promise<ProbeResult> {
  const result: ProbeResult = { sent: 0, answers: {}, ports: {}, errors: {}, peers: {}, seenAs: {}, maxMs: 0 };
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    result.sent++;
    try {
      const who = values.proto === 'udp' ? await udpAsk() : await httpGet(false);
      result.answers[who] = (result.answers[who] ?? 0) + 1;
      if (lastPort) result.ports[lastPort] = (result.ports[lastPort] ?? 0) + 1;
      result.peers[lastPeer] = (result.peers[lastPeer] ?? 0) + 1;
      if (lastSeenAs) result.seenAs[lastSeenAs] = (result.seenAs[lastSeenAs] ?? 0) + 1;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      result.errors[code] = (result.errors[code] ?? 0) + 1;
    }
    result.maxMs = Math.max(result.maxMs, Math.round((performance.now() - t0) * 100) / 100);
  }
  return result;
}

async function interactive(ask: () => Promise<string>): Promise<void> {
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (line.trim() === 'quit') break;
    try {
      process.stdout.write(`${await ask()}\n`);
    } catch (err) {
      process.stdout.write(`error ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
    }
  }
}

/** One connected UDP socket for the whole session: each request is one datagram on it. */
function connectedUdp(): Promise<() => Promise<string>> {
  const sock = dgram.createSocket(values.mapped ? 'udp6' : 'udp4');
  let waiting: { resolve(v: string): void; reject(e: Error): void } | undefined;
  /** An error that came while no request was out: the next request reports it. */
  let idleError: Error | undefined;
  const settle = (f: (w: NonNullable<typeof waiting>) => void) => {
    const w = waiting;
    waiting = undefined;
    if (w) f(w);
  };
  sock.on('message', (msg) => settle((w) => w.resolve(msg.toString())));
  // A destroyed socket reports its error here (ECONNABORTED), as do ICMP errors.
  sock.on('error', (err) => (waiting ? settle((w) => w.reject(err)) : (idleError = err)));
  return new Promise((ready) =>
    sock.bind(localPort ?? 0, () =>
      sock.connect(port, host, () =>
        ready(
          () =>
            new Promise<string>((resolve, reject) => {
              if (idleError) return reject(idleError);
              const timer = setTimeout(() => settle((w) => w.reject(new Error('timeout'))), timeoutMs);
              waiting = {
                resolve: (v) => (clearTimeout(timer), resolve(v)),
                reject: (e) => (clearTimeout(timer), reject(e)),
              };
              sock.send(WHO, 0, WHO.length, (err) => err && settle((w) => w.reject(err)));
            }),
        ),
      ),
    ),
  );
}

if (values.interactive) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const ask = values.proto === 'udp' ? await connectedUdp() : () => httpGet(agent);
  process.stdout.write('ready\n');
  await interactive(ask);
  agent.destroy();
  process.exit(0);
} else {
  process.stdout.write(JSON.stringify(await batch(Number(values.count))) + '\n');
}
