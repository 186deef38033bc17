// --metrics-addr: /healthz (the agent is alive), /readyz (ready to be relied on) and
// /metrics (Prometheus), as kube-proxy serves them.
import http from 'node:http';
import type { Logger } from 'pino';
import type { AgentMetrics } from './metrics.js';
import type { AgentStatus } from './status.js';

/** "HOST:PORT" (IPv6 as [::1]:PORT) -> listen arguments; throws a message naming the problem. */
export function parseAddr(addr: string): { host: string; port: number } {
  const m = addr.match(/^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/);
  const port = Number(m?.[3]);
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--metrics-addr ${addr}: expected HOST:PORT, e.g. 127.0.0.1:10249 (or "" to serve none)`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

export function serveMetrics(addr: string, status: AgentStatus, metrics: AgentMetrics, log: Logger): http.Server {
  const { host, port } = parseAddr(addr);
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    const json = (code: number, body: unknown) => {
      res.writeHead(code, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url === '/healthz' || url === '/livez') {
      const s = status.current;
      return json(200, { status: 'ok', mode: s.mode, syncs: s.syncs, lastSync: s.lastSync?.at });
    }
    if (url === '/readyz') {
      const s = status.current;
      return json(s.ready ? 200 : 503, { ready: s.ready, reason: s.notReady, sourceUnreachableSince: s.sourceUnreachableSince });
    }
    if (url === '/metrics') {
      metrics
        .scrape()
        .then((text) => {
          res.writeHead(200, { 'Content-Type': metrics.registry.contentType });
          res.end(text);
        })
        .catch((err: Error) => {
          log.warn({ err }, 'collecting metrics failed');
          res.writeHead(500, { 'Content-Type': 'text/plain' });
          res.end(`collecting metrics failed: ${err.message}\n`);
        });
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found: try /healthz, /readyz or /metrics\n');
  });
  server.on('error', (err) => log.error({ err, addr }, `cannot serve health and metrics on ${addr}: ${err.message}; pass another --metrics-addr`));
  server.listen(port, host, () => log.info({ addr }, 'serving /healthz, /readyz and /metrics'));
  return server;
}
