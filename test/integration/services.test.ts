// The real agent in a network-namespace cluster, with real TCP and UDP traffic.
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { NODE_IP, writeFileAtomic, type Cluster, type Pod } from '../testbed/topology.js';
import { inNs } from '../testbed/netns.js';
import type { AgentProcess } from '../testbed/agent-process.js';
import { endpointsOf, MODES, NS, useAgentCluster } from '../helpers/agent-cluster.js';
import { attachedPrograms, BPF_ATTACHED } from '../helpers/attached.js';
import { list, makeService, makeSlice, withIngress } from '../fixtures/k8s.js';

const WEB_VIP = '198.19.0.10';
const LB_IP = '198.19.255.1';
let cluster: Cluster;
let agent: AgentProcess;
let dir: string;
let pods: Pod[];

const HTTP = [{ name: 'http', port: 8080, protocol: 'TCP' as const }];
const DNS = [{ name: 'dns', port: 5353, protocol: 'UDP' as const }];

/** web: ClusterIP TCP+UDP over the given pods; shop: LoadBalancer; multi: named target ports. */
function writeManifests(webPods: Pod[]): void {
  writeFileAtomic(
    path.join(dir, 'web.json'),
    list(
      makeService(NS, 'web', {
        clusterIP: WEB_VIP,
        ports: [
          { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' },
          { name: 'dns', port: 53, targetPort: 'dns', protocol: 'UDP' },
        ],
      }),
      // Split over two slices, as the EndpointSlice controller does.
      makeSlice(NS, 'web-a', 'web', { ports: [...HTTP, ...DNS], endpoints: endpointsOf(webPods.slice(0, 2)) }),
      makeSlice(NS, 'web-b', 'web', { ports: [...HTTP, ...DNS], endpoints: endpointsOf(webPods.slice(2)) }),
    ),
  );
}

function writeStatic(stickiness = 1, allowed = '198.18.0.0/24'): void {
  writeFileAtomic(
    path.join(dir, 'shop.json'),
    list(
      withIngress(makeService(NS, 'shop', { type: 'LoadBalancer', clusterIP: '198.19.0.20', ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30080 }] }), LB_IP),
      withIngress(
        makeService(NS, 'guarded', {
          type: 'LoadBalancer',
          clusterIP: '198.19.0.80',
          ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30081 }],
          loadBalancerSourceRanges: [allowed],
        }),
        '198.19.255.2',
      ),
      makeSlice(NS, 'guarded-a', 'guarded', { ports: HTTP, endpoints: endpointsOf(pods.slice(0, 3)) }),
      makeSlice(NS, 'shop-a', 'shop', { ports: HTTP, endpoints: endpointsOf(pods.slice(0, 3)) }),
      makeService(NS, 'multi', {
        clusterIP: '198.19.0.30',
        ports: [
          { name: 'web', port: 80, targetPort: 'web' },
          { name: 'admin', port: 81, targetPort: 'admin' },
        ],
      }),
      makeSlice(NS, 'multi-a', 'multi', { ports: [{ name: 'web', port: 8080 }, { name: 'admin', port: 8443 }], endpoints: endpointsOf(pods.slice(0, 3)) }),
      makeService(NS, 'local', {
        type: 'LoadBalancer',
        clusterIP: '198.19.0.40',
        ports: [{ port: 80, targetPort: 8080, nodePort: 30040 }],
        externalTrafficPolicy: 'Local',
        healthCheckNodePort: 32040,
      }),
      // pod-1 runs on another node: NodePort traffic must stay on this node's pod-0.
      makeSlice(NS, 'local-a', 'local', { ports: [{ port: 8080 }], endpoints: endpointsOf([pods[0]!, { ...pods[1]!, nodeName: 'node-b' }]) }),
      makeService(NS, 'sticky', {
        clusterIP: '198.19.0.70',
        ports: [{ name: 'http', port: 80, targetPort: 8080 }],
        sessionAffinity: stickiness > 0 ? 'ClientIP' : 'None',
        ...(stickiness > 0 ? { sessionAffinityConfig: { clientIP: { timeoutSeconds: stickiness } } } : {}),
      }),
      makeSlice(NS, 'sticky-a', 'sticky', { ports: HTTP, endpoints: endpointsOf(pods.slice(0, 3)) }),
      makeService(NS, 'empty', { clusterIP: '198.19.0.50', ports: [{ name: 'tcp', port: 80 }, { name: 'udp', port: 53, protocol: 'UDP' }] }),
      makeService(NS, 'remote', {
        type: 'LoadBalancer',
        clusterIP: '198.19.0.60',
        ports: [{ port: 80, targetPort: 8080, nodePort: 30060 }],
        externalTrafficPolicy: 'Local',
        healthCheckNodePort: 32060,
      }),
      makeSlice(NS, 'remote-a', 'remote', { ports: [{ port: 8080 }], endpoints: endpointsOf([{ ...pods[1]!, nodeName: 'node-b' }]) }),
    ),
  );
}

const names = (ps: Pod[]) => ps.map((p) => p.name).sort();

/** Makes a change to the manifests and waits for the agent's sync that follows it. */
async function change(write: () => void): Promise<void> {
  const syncs = agent.syncs();
  write();
  await agent.waitForSync(syncs);
}

describe.each(MODES)('%s datapath with the real agent', (mode) => {
  const ctx = useAgentCluster(`it${mode[0]}`, { pods: 4, tcpPorts: [8080, 8443], udpPorts: [5353] }, mode, (c) => {
    ({ dir, pods } = c);
    writeManifests(pods.slice(0, 3));
    writeStatic();
  });
  beforeAll(() => void ({ cluster, agent } = ctx));

  it('balances ClusterIP TCP over every backend', () => {
    const r = cluster.probe(`${WEB_VIP}:80`, 'tcp', 60);
    expect(r.errors).toEqual({});
    expect(Object.keys(r.answers).sort()).toEqual(names(pods.slice(0, 3)));
  });

  it('balances ClusterIP UDP over every backend', () => {
    const r = cluster.probe(`${WEB_VIP}:53`, 'udp', 60);
    expect(r.errors).toEqual({});
    expect(Object.keys(r.answers).sort()).toEqual(names(pods.slice(0, 3)));
  });

  it('serves a NodePort on the node IP and a LoadBalancer ingress IP', () => {
    for (const target of [`${NODE_IP}:30080`, `${LB_IP}:80`, '198.19.0.20:80']) {
      const r = cluster.probe(target, 'tcp', 30);
      expect(r.errors, target).toEqual({});
      expect(Object.keys(r.answers).sort(), target).toEqual(names(pods.slice(0, 3)));
    }
  });

  it('sends each port of a multi-port Service to its named target port', () => {
    expect(cluster.probe('198.19.0.30:80', 'tcp', 10).ports).toEqual({ 8080: 10 });
    expect(cluster.probe('198.19.0.30:81', 'tcp', 10).ports).toEqual({ 8443: 10 });
  });

  it('externalTrafficPolicy Local: NodePort traffic only to this node\'s endpoint, ClusterIP to all', () => {
    expect(cluster.probe(`${NODE_IP}:30040`, 'tcp', 20).answers).toEqual({ [pods[0]!.name]: 20 });
    expect(Object.keys(cluster.probe('198.19.0.40:80', 'tcp', 40).answers).sort()).toEqual(names(pods.slice(0, 2)));
  });

  it('refuses clients of a Service without endpoints at once: TCP RST, ICMP port unreachable', () => {
    for (const [target, proto] of [['198.19.0.50:80', 'tcp'], ['198.19.0.50:53', 'udp']] as const) {
      const r = cluster.probe(target, proto, 5, ['--timeout-ms', '2000']);
      expect(r.errors, target).toEqual({ ECONNREFUSED: 5 });
      expect(r.maxMs, target).toBeLessThan(100);
    }
  });

  it('drops NodePort traffic when externalTrafficPolicy Local leaves this node no endpoint', () => {
    expect(cluster.probe(`${NODE_IP}:30060`, 'tcp', 1, ['--timeout-ms', '300']).errors).toEqual({ timeout: 1 });
    expect(cluster.probe('198.19.0.60:80', 'tcp', 3).answers).toEqual({ [pods[1]!.name]: 3 });
  });

  it('sessionAffinity ClientIP: one client stays on one backend until the timeout; switching it is live', async () => {
    const sticky = () => Object.keys(cluster.probe('198.19.0.70:80', 'tcp', 15).answers);
    expect(sticky()).toHaveLength(1);
    // After the 1 s timeout each new request is placed afresh: over 8 rounds
    // more than one backend answers (all alike has probability 3 x (1/3)^8).
    const seen = new Set<string>();
    for (let i = 0; i < 8; i++) {
      await new Promise((r) => setTimeout(r, 1100));
      seen.add(Object.keys(cluster.probe('198.19.0.70:80', 'tcp', 1).answers)[0]!);
    }
    expect(seen.size).toBeGreaterThan(1);
    await change(() => writeStatic(0));
    expect(sticky().length).toBeGreaterThan(1);
    await change(() => writeStatic(30));
    expect(sticky()).toHaveLength(1);
  });

  it('loadBalancerSourceRanges: the LB IP admits only listed clients; changes apply live', async () => {
    expect(cluster.probe('198.19.255.2:80', 'tcp', 5).errors).toEqual({});
    await change(() => writeStatic(1, '198.18.200.0/24'));
    expect(cluster.probe('198.19.255.2:80', 'tcp', 1, ['--timeout-ms', '300']).errors).toEqual({ timeout: 1 });
    // The same Service's ClusterIP and NodePort stay open.
    expect(cluster.probe('198.19.0.80:80', 'tcp', 3).errors).toEqual({});
    expect(cluster.probe(`${NODE_IP}:30081`, 'tcp', 3).errors).toEqual({});
    await change(() => writeStatic());
    expect(cluster.probe('198.19.255.2:80', 'tcp', 5).errors).toEqual({});
  });

  it('answers healthCheckNodePort with 200 and the local endpoint count, or 503 with none here', () => {
    const health = (port: number) => {
      const out = inNs(cluster.client, 'curl', ['-s', '-m', '2', '-w', '\\n%{http_code}', `http://${NODE_IP}:${port}/healthz`]).trim().split('\n');
      return { body: JSON.parse(out[0]!) as unknown, status: Number(out[1]) };
    };
    expect(health(32040)).toEqual({ status: 200, body: { service: { namespace: 'it', name: 'local' }, localEndpoints: 1, serviceProxyHealthy: true } });
    expect(health(32060)).toMatchObject({ status: 503, body: { localEndpoints: 0 } });
  });

  if (mode === 'bpf') it('shows the services in lbctl maps dump --json', () => {
    const d = agent.dump();
    const byFrontend = new Map(d.services.map((s) => [s.frontend, s]));
    expect(byFrontend.get(`${WEB_VIP}:80/TCP`)).toMatchObject({
      service: 'it/web:http/TCP',
      type: 'ClusterIP',
      backends: pods.slice(0, 3).map((p) => `${p.ip}:8080`),
    });
    expect(byFrontend.get(`${WEB_VIP}:53/UDP`)?.backends).toEqual(pods.slice(0, 3).map((p) => `${p.ip}:5353`));
    expect(byFrontend.get(`${NODE_IP}:30080/TCP`)?.type).toBe('NodePort');
    expect(byFrontend.get(`${LB_IP}:80/TCP`)?.type).toBe('LoadBalancer');
  });

  it('stops sending new flows to a removed endpoint within 2 s, while traffic flows', async () => {
    const removed = pods[2]!;
    await change(() => writeManifests(pods.slice(0, 3)));
    const syncs = agent.syncs();
    const t0 = Date.now();
    writeManifests(pods.slice(0, 2));
    // Probes go on past the deadline: no batch started after it may reach the removed
    // pod. 5 requests over 3 pods miss one with p = 0.13, so 5 such batches all miss a
    // pod still programmed with p < 1e-4.
    const late: number[] = [];
    let batchesLate = 0;
    while (batchesLate < 5) {
      const start = Date.now() - t0;
      const r = cluster.probe(`${WEB_VIP}:80`, 'tcp', 5);
      expect(r.errors).toEqual({});
      if (start < 2000) continue;
      batchesLate++;
      if (r.answers[removed.name]) late.push(start);
    }
    expect(late).toEqual([]);
    // The probes block this process, so the agent's log is read only now; its
    // timestamps tell when the change was programmed.
    await agent.waitForSync(syncs);
    expect(agent.syncLines()[syncs]!.time - t0).toBeLessThan(2000);
    for (const proto of ['tcp', 'udp'] as const) {
      const after = cluster.probe(`${WEB_VIP}:${proto === 'tcp' ? 80 : 53}`, proto, 40);
      expect(after.errors).toEqual({});
      expect(Object.keys(after.answers).sort()).toEqual(names(pods.slice(0, 2)));
    }
  });

  it('keeps an open TCP connection on its backend when a backend is added', async () => {
    await change(() => writeManifests(pods.slice(0, 3)));
    const conn = await cluster.keepAliveClient(`${WEB_VIP}:80`);
    try {
      const first = await conn.ask();
      expect(names(pods.slice(0, 3))).toContain(first);
      await change(() => writeManifests(pods));
      for (let i = 0; i < 5; i++) expect(await conn.ask()).toBe(first);
      const fresh = cluster.probe(`${WEB_VIP}:80`, 'tcp', 80);
      expect(Object.keys(fresh.answers).sort()).toEqual(names(pods));
    } finally {
      conn.close();
    }
  });

  it('never rewrites a later direct flow that reuses a service flow\'s client port', () => {
    const sport = ['--sport', '40555'];
    const viaService = cluster.probe(`${WEB_VIP}:80`, 'tcp', 1, sport);
    const pod = pods.find((p) => viaService.answers[p.name])!;
    expect(pod).toBeDefined();
    const direct = cluster.probe(`${pod.ip}:8080`, 'tcp', 1, sport);
    expect(direct.errors).toEqual({});
    expect(direct.answers).toEqual({ [pod.name]: 1 });
  });

  it('reports a bad manifest by file and field and keeps the last good state', async () => {
    const bad = path.join(dir, 'zz-bad.json');
    // A Service with one good port and one out of range, and its endpoints: serving
    // the good port would show the object was half-taken instead of skipped.
    const broken = makeService(NS, 'broken', {
      clusterIP: '198.19.0.99',
      ports: [
        { name: 'http', port: 80, targetPort: 8080 },
        { name: 'bad', port: 70000, targetPort: 8080 },
      ],
    });
    const brokenSlice = makeSlice(NS, 'broken-a', 'broken', { ports: HTTP, endpoints: endpointsOf(pods.slice(0, 3)) });
    try {
      await change(() => writeFileAtomic(bad, list(broken, brokenSlice)));
      expect(agent.log.some((l) => l.includes('zz-bad.json') && l.includes('spec.ports[1].port'))).toBe(true);
      expect(cluster.probe(`${WEB_VIP}:80`, 'tcp', 5).errors).toEqual({});
      const r = cluster.probe('198.19.0.99:80', 'tcp', 1, ['--timeout-ms', '300']);
      expect(r.answers).toEqual({});
      expect(r.errors).not.toEqual({});
    } finally {
      await change(() => fs.rmSync(bad));
    }
  });

  it('survives an agent restart: traffic flows while it is down, open connections keep their backend', async () => {
    const conn = await cluster.keepAliveClient(`${WEB_VIP}:80`);
    try {
      const first = await conn.ask();
      expect(await agent.stop()).toBe(0);
      expect(cluster.probe(`${WEB_VIP}:80`, 'tcp', 10).errors).toEqual({});
      expect(await conn.ask()).toBe(first);
      agent.start();
      await agent.waitForSync(agent.syncs());
      if (mode === 'bpf') {
        // The restarted agent found everything already programmed in the pinned maps.
        const line = agent.log.filter((l) => l.includes('"dataplane synced"')).at(-1)!;
        expect(JSON.parse(line)).toMatchObject({ frontendsWritten: 0, frontendsRemoved: 0, backendsAdded: 0, backendsRemoved: 0 });
      }
      expect(await conn.ask()).toBe(first);
    } finally {
      conn.close();
    }
  });

  it('lbctl cleanup removes everything the agent made', async () => {
    const attached = () => attachedPrograms(cluster.nodes[0]);
    const chains = () => inNs(cluster.node, 'iptables-save', []).split('\n').filter((l) => l.includes('XLB-'));
    const table = () => inNs(cluster.node, 'nft', ['list', 'tables', 'ip']).includes('table ip xlb');
    // Each mode runs alone: the other modes' leftovers were removed at start.
    expect(attached()).toEqual(mode === 'bpf' ? BPF_ATTACHED : []);
    expect(chains().length > 0).toBe(mode === 'iptables');
    expect(table()).toBe(mode === 'nftables');
    expect(await agent.stop()).toBe(0);
    agent.cleanup();
    expect(attached()).toEqual([]);
    expect(chains()).toEqual([]);
    expect(table()).toBe(false);
    expect(fs.existsSync(agent.bpffs)).toBe(false);
  });
});
