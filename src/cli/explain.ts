// `lbctl explain FRONTEND --from SRC_IP[:PORT]`: argument parsing and the answer for
// people (the decision itself: dataplane/bpf/explain.ts).
import { isIPv4 } from 'node:net';
import { DEFAULT_SOURCE_PORT, type Explanation, type Flow } from '../dataplane/bpf/explain.js';
import { renderTable } from '../observe/table.js';
import { UsageError } from './agent-command.js';


const port = (s: string, what: string): number => {
  const n = Number(s);
  if (!/^\d+$/.test(s) || n < 1 || n > 65535) throw new UsageError(`${what}: port ${s} is not 1-65535`);
  return n;
};

/** "IP:PORT/PROTO" (PROTO TCP or UDP, default TCP) and "IP[:PORT]". */
export function parseFlow(frontend: string, from: string): Flow {
  const f = frontend.match(/^([^:/]+):(\d+)(?:\/(\w+))?$/);
  if (!f || !isIPv4(f[1]!)) throw new UsageError(`FRONTEND ${frontend}: expected IP:PORT/PROTO, e.g. 10.96.0.10:53/UDP`);
  const proto = (f[3] ?? 'TCP').toUpperCase();
  if (proto !== 'TCP' && proto !== 'UDP') throw new UsageError(`FRONTEND ${frontend}: protocol must be TCP or UDP`);
  const c = from.match(/^([^:]+)(?::(\d+))?$/);
  if (!c || !isIPv4(c[1]!)) throw new UsageError(`--from ${from}: expected SRC_IP or SRC_IP:PORT, e.g. 192.0.2.7:51000`);
  return {
    proto,
    frontend: f[1]!,
    frontendPort: port(f[2]!, `FRONTEND ${frontend}`),
    client: c[1]!,
    clientPort: c[2] === undefined ? undefined : port(c[2], `--from ${from}`),
  };
}

const REASON_TEXT: Record<string, string> = {
  no_endpoints: 'the Service has no endpoints: the client is refused at once (TCP reset, ICMP port unreachable)',
  policy: 'no endpoint this node may use: a Local traffic policy and none of its endpoints run here',
  source_range: 'the client is outside the Service\'s loadBalancerSourceRanges',
};

export function renderExplanation(e: Explanation): string {
  const rows: Array<[string, string]> = [['frontend', `${e.frontend}${e.service ? `  ${e.service} (${e.type})` : ''}`]];
  rows.push(['client', e.client + (e.sourcePortAssumed ? `  (no port given: ${DEFAULT_SOURCE_PORT} assumed; other ports may pick other backends unless affinity holds)` : '')]);
  if (e.verdict === 'pass') {
    rows.push(['verdict', 'PASS: not a Service frontend on this node; the packet goes on untouched']);
    return render(rows);
  }
  const where = e.verdict === 'snat' ? 'on another node: SNATed to this node\'s address, so its replies come back here' : 'on this node';
  if (e.verdict === 'dnat' || e.verdict === 'snat') rows.push(['verdict', `${e.verdict.toUpperCase()} to ${e.backend} (${where})`]);
  else rows.push(['verdict', `${e.verdict.toUpperCase()}: ${REASON_TEXT[e.reason ?? ''] ?? e.reason ?? 'unknown'}`]);
  if (e.via === 'conntrack') rows.push(['why', 'an established flow: conntrack keeps it on its backend']);
  if (e.via === 'affinity') rows.push(['why', 'session affinity: the client\'s entry names this backend']);
  if (e.via === 'maglev' && e.maglev) rows.push(['why', `new flow: Maglev slot ${e.maglev.slot} of ${e.maglev.size} (flow hash 0x${e.maglev.hash.toString(16).padStart(8, '0')})`]);
  if (e.policy) {
    const p = e.policy;
    const which = e.type === 'ClusterIP' ? 'internalTrafficPolicy' : 'externalTrafficPolicy';
    rows.push(['policy', `${which} ${p.local ? 'Local (only this node\'s endpoints)' : 'Cluster'}; ${p.backends} backend(s)`]);
    rows.push(['endpoints', p.terminatingFallback ? 'none ready: serving terminating endpoints (fallback)' : 'ready ones']);
    rows.push(['affinity', p.affinitySeconds ? `ClientIP, ${p.affinitySeconds} s` : 'none']);
    if (p.sourceRanges) rows.push(['source ranges', 'checked (loadBalancerSourceRanges)']);
  }
  rows.push(['conntrack', e.conntrack ? `this flow is tracked to ${e.conntrack.backend}${e.conntrack.snat ? ` via ${e.conntrack.snat}` : ''}, expires in ${e.conntrack.expiresInS} s${e.conntrack.closing ? ' (closing)' : ''}` : e.sourcePortAssumed ? '(give the client port to look up a live flow)' : 'no live entry for this flow']);
  rows.push(['affinity entry', e.affinity ? `${e.client.split(':')[0]} -> ${e.affinity.backend}, expires in ${e.affinity.expiresInS} s` : 'none']);
  return render(rows);
}

function render(rows: Array<[string, string]>): string {
  return renderTable(['', ''], rows).split('\n').slice(2).join('\n');
}
