// healthCheckNodePort, as kube-proxy serves it: for each externalTrafficPolicy Local
// LoadBalancer Service, HTTP on the node answers 200 while this node has a ready
// endpoint and 503 otherwise, so the cloud load balancer only sends traffic here
// when it can be served locally.
import http from 'node:http';
import type { Logger } from 'pino';
import type { HealthCheck } from '../model/state.js';

interface Listener {
  server: http.Server;
  check: HealthCheck;
}

export class HealthServer {
  private readonly listeners = new Map<number, Listener>();

  constructor(private readonly log: Logger) {}

  /** Opens, updates and closes listeners to match the desired checks. */
  sync(checks: Map<number, HealthCheck>): void {
    for (const [port, l] of this.listeners) {
      if (checks.has(port)) continue;
      l.server.close();
      this.listeners.delete(port);
    }
    for (const [port, check] of checks) {
      const l = this.listeners.get(port);
      if (l) l.check = check;
      else this.listen(port, check);
    }
  }

  close(): void {
    this.sync(new Map());
  }

  private listen(port: number, check: HealthCheck): void {
    const l: Listener = { check, server: http.createServer((_req, res) => this.answer(l.check, res)) };
    l.server.on('error', (err) => this.log.error({ err, port, service: `${check.namespace}/${check.name}` }, 'healthCheckNodePort listener failed; is the port in use?'));
    l.server.listen(port);
    this.listeners.set(port, l);
  }

  private answer(check: HealthCheck, res: http.ServerResponse): void {
    const body = JSON.stringify({
      service: { namespace: check.namespace, name: check.name },
      localEndpoints: check.localEndpoints,
      serviceProxyHealthy: true,
    });
    res.writeHead(check.localEndpoints > 0 ? 200 : 503, {
      'Content-Type': 'application/json',
      'X-Content-Type-Options': 'nosniff',
      'X-Load-Balancing-Endpoint-Weight': String(check.localEndpoints),
    });
    res.end(body);
  }
}
