// The agent's status (readiness), its metrics and the endpoints serving them.
import { afterEach, describe, expect, it } from 'vitest';
import type http from 'node:http';
import { pino } from 'pino';
import { AgentStatus } from '../../src/observe/status.js';
import { AgentMetrics, type DatapathFacts } from '../../src/observe/metrics.js';
import { parseAddr, serveMetrics } from '../../src/observe/http.js';

const log = pino({ level: 'silent' });
/** What a dataplane says it holds: one NodePort service port, two endpoints. */
const size = { services: 1, frontends: 2, backends: 2 };

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('AgentStatus readiness', () => {
  it('is not ready before the first sync, ready after it, with what it programmed', () => {
    const c = clock();
    const s = new AgentStatus({ bpffs: '/sys/fs/bpf/x', node: { name: 'n', ips: [] }, graceMs: 5000, now: c.now }, log);
    expect(s.current).toMatchObject({ ready: false, notReady: expect.stringContaining('first full state') as unknown });
    s.synced(size, 3.5, 0);
    expect(s.current).toMatchObject({ ready: true, syncs: 1, lastSync: { durationMs: 3.5, services: 1, frontends: 2, backends: 2, overCapacity: 0 } });
  });

  it('stays ready through a short API outage and is not ready past the grace period, until the API is back', () => {
    const c = clock();
    const s = new AgentStatus({ bpffs: '/sys/fs/bpf/x', node: { name: 'n', ips: [] }, graceMs: 5000, now: c.now }, log);
    s.synced(size, 1, 0);
    s.source(c.now());
    c.advance(4000);
    expect(s.ready).toBe(true);
    c.advance(2000);
    expect(s.current).toMatchObject({ ready: false, notReady: expect.stringContaining('unreachable for 6 s') as unknown });
    s.source(undefined);
    expect(s.ready).toBe(true);
  });

  it('keeps the last error beside the last good sync', () => {
    const s = new AgentStatus({ bpffs: '/sys/fs/bpf/x', node: { name: 'n', ips: [] }, graceMs: 5000 }, log);
    s.synced(size, 1, 0);
    s.failed('map full');
    expect(s.current).toMatchObject({ ready: true, lastError: { message: 'map full' }, lastSync: { services: 1 } });
  });
});

describe('metrics endpoint', () => {
  let server: http.Server | undefined;
  afterEach(() => void server?.close());

  const facts: DatapathFacts = {
    services: [{ service: 'it/web:http/TCP', packets: 7, bytes: 700, sockCalls: 3 }],
    drops: { no_endpoints: 2, policy: 0 },
    maps: [{ map: 'xlb_ct', entries: 5, capacity: 262144 }],
  };

  async function serve(s: AgentStatus, f?: DatapathFacts) {
    const metrics = new AgentMetrics(s, () => (f ? { facts: () => f } : undefined));
    server = serveMetrics('127.0.0.1:0', s, metrics, log);
    await new Promise((r) => server!.once('listening', r));
    const port = (server.address() as { port: number }).port;
    const get = async (p: string) => {
      const res = await fetch(`http://127.0.0.1:${port}${p}`);
      return { status: res.status, body: await res.text() };
    };
    return { metrics, get };
  }

  it('answers /healthz always, /readyz 503 until the first sync and 200 after', async () => {
    const s = new AgentStatus({ bpffs: '/x', node: { name: 'n', ips: [] }, graceMs: 1000 }, log);
    const { get } = await serve(s);
    expect((await get('/healthz')).status).toBe(200);
    expect(await get('/readyz')).toMatchObject({ status: 503, body: expect.stringContaining('first full state') as unknown });
    s.synced(size, 1, 0);
    expect((await get('/readyz')).status).toBe(200);
    expect((await get('/nope')).status).toBe(404);
  });

  it('reads the kernel once per scrape, and afresh at each: a scrape right after another sees what happened between', async () => {
    const s = new AgentStatus({ bpffs: '/x', node: { name: 'n', ips: [] }, graceMs: 1000 }, log);
    let reads = 0;
    const now: DatapathFacts = structuredClone(facts);
    const metrics = new AgentMetrics(s, () => ({ facts: () => (reads++, structuredClone(now)) }));
    const calls = (text: string) => text.split('\n').find((l) => l.startsWith('xlb_service_socket_calls_total{'));
    expect(calls(await metrics.scrape())).toBe('xlb_service_socket_calls_total{service="it/web:http/TCP"} 3');
    expect(reads).toBe(1);
    now.services[0]!.sockCalls = 8;
    expect(calls(await metrics.scrape())).toBe('xlb_service_socket_calls_total{service="it/web:http/TCP"} 8');
    expect(reads).toBe(2);
  });

  it('exports the datapath counters and the sync figures under Prometheus names', async () => {
    const s = new AgentStatus({ bpffs: '/x', node: { name: 'n', ips: [] }, graceMs: 1000 }, log);
    s.dataplane({ mode: 'bpf', devices: { eth0: { hook: 'tc', ifindex: 2 } } });
    const { metrics, get } = await serve(s, facts);
    s.synced(size, 2, 0);
    metrics.synced(0.002);
    metrics.programmed(Date.now() - 40);
    const { body } = await get('/metrics');
    const lines = body.split('\n');
    for (const expected of [
      'xlb_service_packets_total{service="it/web:http/TCP"} 7',
      'xlb_service_bytes_total{service="it/web:http/TCP"} 700',
      'xlb_service_socket_calls_total{service="it/web:http/TCP"} 3',
      'xlb_drops_total{reason="no_endpoints"} 2',
      'xlb_map_entries{map="xlb_ct"} 5',
      'xlb_map_capacity{map="xlb_ct"} 262144',
      'xlb_mode{mode="bpf"} 1',
      'xlb_device_hook{device="eth0",hook="tc"} 1',
      'xlb_programmed{kind="frontends"} 2',
      'xlb_ready 1',
      'xlb_sync_duration_seconds_count 1',
      'xlb_network_programming_duration_seconds_count 1',
    ]) {
      expect(lines).toContain(expected);
    }
    // Conventions: counters end in _total, durations are histograms in seconds.
    for (const l of lines.filter((x) => x.startsWith('# TYPE xlb_'))) {
      const [, , name, type] = l.split(' ');
      if (type === 'counter') expect(name).toMatch(/_total$/);
      if (type === 'histogram') expect(name).toMatch(/_seconds$/);
    }
  });

  it('rejects a malformed --metrics-addr with the expected form', () => {
    expect(parseAddr('127.0.0.1:10249')).toEqual({ host: '127.0.0.1', port: 10249 });
    expect(parseAddr('[::1]:9000')).toEqual({ host: '::1', port: 9000 });
    expect(() => parseAddr('localhost')).toThrow(/expected HOST:PORT/);
  });
});
