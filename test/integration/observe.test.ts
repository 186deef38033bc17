// What an operator sees of a running agent, through the CLI contract: /healthz,
// /readyz and /metrics on --metrics-addr, `lbctl status`, and `lbctl explain`, whose
// answer the real traffic then confirms. And what a crash does: kill -9 under
// traffic loses no request, and the restarted agent rewrites nothing.
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_IP, NODE_IP, writeFileAtomic, type Cluster, type Pod } from '../testbed/topology.js';
import type { AgentProcess } from '../testbed/agent-process.js';
import type { StatusReport } from '../../src/observe/status.js';
import type { Explanation } from '../../src/dataplane/bpf/explain.js';
import { endpointsOf, NS, useAgentCluster } from '../helpers/agent-cluster.js';
import { list, makeService, makeSlice } from '../fixtures/k8s.js';

const HTTP = [{ name: 'http', port: 8080, protocol: 'TCP' as const }];
const VIP = '198.19.5.10';
const EMPTY_VIP = '198.19.5.11';

let cluster: Cluster;
let agent: AgentProcess;
let pods: Pod[];

/** The value of one sample of a metric in Prometheus text, or undefined. */
function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

describe('observing the agent', () => {
  const ctx = useAgentCluster('obs', { pods: 3, tcpPorts: [8080] }, 'bpf', (c) => {
    writeFileAtomic(
      path.join(c.dir, 'svc.json'),
      list(
        makeService(NS, 'web', { type: 'NodePort', clusterIP: VIP, ports: [{ name: 'http', port: 80, targetPort: 'http', nodePort: 30500 }] }),
        makeSlice(NS, 'web-a', 'web', { ports: HTTP, endpoints: endpointsOf(c.pods) }),
        makeService(NS, 'empty', { clusterIP: EMPTY_VIP, ports: [{ name: 'http', port: 80, targetPort: 'http' }] }),
      ),
    );
  });
  beforeAll(() => void ({ cluster, agent, pods } = ctx));

  it('serves /healthz and /readyz once the first state is programmed', () => {
    expect(agent.http('/healthz')).toMatchObject({ status: 200 });
    const ready = agent.http('/readyz');
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toMatchObject({ ready: true });
  });

  it('exports sync, programming and datapath metrics in Prometheus format', () => {
    expect(cluster.probe(`${NODE_IP}:30500`, 'tcp', 20).errors).toEqual({});
    expect(Object.keys(cluster.probe(`${EMPTY_VIP}:80`, 'tcp', 3).errors)).not.toEqual([]);
    const m = agent.http('/metrics');
    expect(m.status).toBe(200);
    expect(sample(m.body, 'xlb_sync_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(sample(m.body, 'xlb_syncs_total', 'result="ok"')).toBeGreaterThanOrEqual(1);
    expect(sample(m.body, 'xlb_programmed', 'kind="services"')).toBe(2);
    expect(sample(m.body, 'xlb_programmed', 'kind="backends"')).toBe(3);
    expect(sample(m.body, 'xlb_mode', 'mode="bpf"')).toBe(1);
    expect(sample(m.body, 'xlb_device_hook', 'device="eth0",hook="tc"')).toBe(1);
    expect(sample(m.body, 'xlb_ready')).toBe(1);
    // Each HTTP request is several packets towards the backend: at least 20 SYNs.
    expect(sample(m.body, 'xlb_service_packets_total', `service="${NS}/web:http/TCP"`)).toBeGreaterThanOrEqual(20);
    expect(sample(m.body, 'xlb_service_bytes_total', `service="${NS}/web:http/TCP"`)).toBeGreaterThan(20 * 54);
    expect(sample(m.body, 'xlb_drops_total', 'reason="no_endpoints"')).toBeGreaterThanOrEqual(3);
    expect(sample(m.body, 'xlb_map_capacity', 'map="xlb_ct"')).toBeGreaterThan(0);
    expect(sample(m.body, 'xlb_map_entries', 'map="xlb_ct"')).toBeGreaterThanOrEqual(0);
  });

  it('counts connects balanced at the socket per service', () => {
    expect(cluster.probeFrom(pods[0]!, `${VIP}:80`, 'tcp', 5).errors).toEqual({});
    expect(sample(agent.http('/metrics').body, 'xlb_service_socket_calls_total', `service="${NS}/web:http/TCP"`)).toBeGreaterThanOrEqual(5);
  });

  it('lbctl status: mode, devices and programs by name and tag, last sync, readiness, map fill', () => {
    const r = JSON.parse(agent.lbctl(['status', '--json'])) as StatusReport;
    expect(r.agent).toMatchObject({ running: true, mode: 'bpf', ready: true, node: { name: 'node-a' } });
    expect(r.agent.lastSync!.services).toBe(2);
    expect(r.agent.lastError).toBeUndefined();
    expect(r.devices).toMatchObject({ eth0: { hook: 'tc' } });
    const byPlace = Object.fromEntries(r.programs.map((p) => [p.at, p]));
    expect(byPlace['eth0 tc ingress']).toMatchObject({ name: 'xlb_tc_ingress', state: 'attached', tag: expect.stringMatching(/^[0-9a-f]{16}$/) as unknown });
    expect(byPlace['eth0 tc egress']).toMatchObject({ name: 'xlb_tc_egress', state: 'attached' });
    expect(byPlace['cgroup connect4']).toMatchObject({ name: 'xlb_connect4', state: 'attached' });
    // web's ClusterIP and NodePort, empty's ClusterIP.
    expect(r.maps.find((m) => m.map === 'xlb_services')).toMatchObject({ entries: 3 });
    const table = agent.lbctl(['status']);
    expect(table).toMatch(/^agent\s+running, pid \d+/m);
    expect(table).toMatch(/^PROGRAMS$/m);
  });

  it('lbctl explain names the backend the client\'s next connection from that port reaches', () => {
    for (const port of [47001, 47002, 47003, 47004]) {
      const e = JSON.parse(agent.lbctl(['explain', `${NODE_IP}:30500/TCP`, '--from', `${CLIENT_IP}:${port}`, '--json'])) as Explanation;
      expect(e).toMatchObject({ verdict: 'dnat', via: 'maglev', service: `${NS}/web:http/TCP`, type: 'NodePort' });
      const answer = Object.keys(cluster.probe(`${NODE_IP}:30500`, 'tcp', 1, ['--sport', String(port)]).answers)[0];
      const pod = pods.find((p) => p.name === answer)!;
      expect(e.backend).toBe(`${pod.ip}:8080`);
    }
    const refused = JSON.parse(agent.lbctl(['explain', `${EMPTY_VIP}:80/TCP`, '--from', CLIENT_IP, '--json'])) as Explanation;
    expect(refused).toMatchObject({ verdict: 'reject', reason: 'no_endpoints', sourcePortAssumed: true });
    expect(agent.lbctl(['explain', `${VIP}:80/TCP`, '--from', CLIENT_IP])).toMatch(/^verdict\s+DNAT to 198\.18\.\d+\.\d+:8080/m);
  });

  it('lbctl explain rejects a malformed frontend with a usage message', () => {
    expect(() => agent.lbctl(['explain', '198.19.5.10', '--from', CLIENT_IP])).toThrow(/FRONTEND 198\.19\.5\.10: expected IP:PORT\/PROTO/);
  });

  it('kill -9 under continuous traffic: no request fails, open connections keep their backends, and the restart rewrites nothing', async () => {
    const conn = await cluster.keepAliveClient(`${NODE_IP}:30500`);
    try {
      const first = await conn.ask();
      // A few seconds of back-to-back requests (new connections, each balanced anew).
      let trafficDone = false;
      const traffic = cluster.probeAsync(`${NODE_IP}:30500`, 'tcp', 8000).finally(() => (trafficDone = true));
      await new Promise((r) => setTimeout(r, 200));
      await agent.stop('SIGKILL');
      expect(agent.http('/healthz').status).toBe(0);
      const before = agent.syncs();
      agent.start();
      await agent.waitForSync(before);
      // The traffic ran through the crash and the restart.
      expect(trafficDone).toBe(false);
      const result = await traffic;
      expect(result.errors).toEqual({});
      expect(result.sent).toBe(8000);
      expect(await conn.ask()).toBe(first);
      const resync = agent.syncLines().at(-1)!;
      expect({ written: resync.servicesWritten, frontends: resync.frontendsWritten, tables: resync.tablesWritten, added: resync.backendsAdded, removed: resync.backendsRemoved }).toEqual({
        written: 0,
        frontends: 0,
        tables: 0,
        added: 0,
        removed: 0,
      });
    } finally {
      conn.close();
    }
  });
});
