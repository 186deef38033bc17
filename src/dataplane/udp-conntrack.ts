// A UDP "connection" never ends, so conntrack would keep sending a client to an
// endpoint that is gone: the rule-based datapaths delete such entries, as kube-proxy
// does. (eBPF mode moves UDP flows in its own maps.)
import { execFileSync } from 'node:child_process';
import type { Logger } from 'pino';
import type { DesiredState } from '../model/state.js';
import { backendId } from '../model/state.js';

export class UdpConntrackFlusher {
  /** UDP frontend "IP:port" -> its backends as last applied */
  private udp = new Map<string, Set<string>>();
  private missing = false;

  constructor(private readonly log: Logger) {}

  /** Deletes the entries of UDP backends the state no longer has for a frontend. */
  flush(state: DesiredState): void {
    const next = new Map<string, Set<string>>();
    for (const svc of state.services.values()) {
      if (svc.protocol !== 'UDP') continue;
      for (const f of svc.frontends) next.set(`${f.addr}:${f.port}`, new Set(svc.backends.map(backendId)));
    }
    for (const [frontend, before] of this.udp) {
      const now = next.get(frontend) ?? new Set<string>();
      for (const b of before) if (!now.has(b)) this.delete(frontend, b);
    }
    this.udp = next;
  }

  private delete(frontend: string, backend: string): void {
    if (this.missing) return;
    const [faddr, fport] = frontend.split(':');
    const [baddr] = backend.split(':');
    try {
      execFileSync('conntrack', ['-D', '-p', 'udp', '--orig-dst', faddr!, '--dport', fport!, '--reply-src', baddr!], { stdio: 'ignore' });
    } catch (err) {
      // Exit status 1 means no entry matched; a missing tool is reported once.
      if ((err as { code?: string }).code === 'ENOENT') {
        this.missing = true;
        this.log.warn('conntrack tool not found: UDP flows of removed endpoints are not flushed (install conntrack)');
      }
    }
  }
}
