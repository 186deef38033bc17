// The real agent fed by a fake API server (real list/watch protocol) in the node's
// network namespace: services served, changes followed, topology from the Node
// object, and traffic untouched by API server trouble.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, NODE_DEVICE, NODE_IP, type Pod } from '../testbed/topology.js';
import { inNs } from '../testbed/netns.js';
import { AgentProcess } from '../testbed/agent-process.js';
import { FakeApiProcess } from '../testbed/fake-api-process.js';
import { endpointsOf, NS } from '../helpers/agent-cluster.js';
import { makeService, makeSlice } from '../fixtures/k8s.js';

const VIP = '198.19.2.10';
const ZONED_VIP = '198.19.2.20';
const NODE_INTERNAL_IP = '198.18.0.5';
let cluster: Cluster;
let agent: AgentProcess;
let api: FakeApiProcess;
let dir: string;
let pods: Pod[];

const HTTP = [{ name: 'http', port: 8080, protocol: 'TCP' as const }];
const webSlice = (ps: Pod[]) => makeSlice(NS, 'web-a', 'web', { ports: HTTP, endpoints: endpointsOf(ps) });
const asObject = (o: unknown) => o as { metadata: { name: string } };

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlb-api-'));
  cluster = await Cluster.create('api', { pods: 3 });
  pods = cluster.pods;
  api = new FakeApiProcess(cluster, cluster.node);
  await api.start();
  // The Node's InternalIP is a second address of the node's device: NodePorts must be
  // served there (no --node-ip given), not on the device's first address.
  inNs(cluster.node, 'ip', ['addr', 'add', `${NODE_INTERNAL_IP}/24`, 'dev', NODE_DEVICE]);
  await api.send({
    op: 'upsert',
    kind: 'nodes',
    object: {
      metadata: { name: 'node-a', labels: { 'topology.kubernetes.io/zone': 'zone-a' } },
      status: { addresses: [{ type: 'InternalIP', address: NODE_INTERNAL_IP }, { type: 'Hostname', address: 'node-a' }] },
    },
  });
  await api.send({
    op: 'upsert',
    kind: 'services',
    object: asObject(makeService(NS, 'web', { type: 'NodePort', clusterIP: VIP, ports: [{ name: 'http', port: 80, targetPort: 'http', nodePort: 30200 }] })),
  });
  await api.send({ op: 'upsert', kind: 'endpointslices', object: asObject(webSlice(pods)) });
  const zoned = makeSlice(NS, 'zoned-a', 'zoned', {
    ports: HTTP,
    endpoints: endpointsOf(pods).map((e, i) => ({ ...e, hints: { forZones: [{ name: i === 0 ? 'zone-a' : 'zone-b' }] } })),
  });
  await api.send({
    op: 'upsert',
    kind: 'services',
    object: asObject(makeService(NS, 'zoned', { clusterIP: ZONED_VIP, ports: [{ name: 'http', port: 80, targetPort: 'http' }], trafficDistribution: 'PreferClose' })),
  });
  await api.send({ op: 'upsert', kind: 'endpointslices', object: asObject(zoned) });
  const kubeconfig = path.join(dir, 'kubeconfig');
  api.writeKubeconfig(kubeconfig);
  agent = new AgentProcess(cluster, ['--kubeconfig', kubeconfig], `/sys/fs/bpf/xlb-api-${process.pid}`, { nodeIp: null });
  // Readiness gives the API server a second, so a test sees it go and come back.
  agent.start(['--unreachable-grace', '1']);
  await agent.waitForSync();
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  try {
    agent?.cleanup();
  } finally {
    cluster?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

afterEach((t) => {
  if (t.task.result?.state === 'fail') process.stderr.write(`agent log:\n${agent.log.slice(-40).join('\n')}\n`);
});

const names = (ps: Pod[]) => ps.map((p) => p.name).sort();
const answering = (target: string, n: number) => Object.keys(cluster.probe(target, 'tcp', n).answers).sort();

describe('agent on the Kubernetes API', () => {
  it('serves the Services it watches', () => {
    expect(answering(`${VIP}:80`, 40)).toEqual(names(pods));
  });

  it('serves NodePorts on the Node object\'s addresses when --node-ip is not given', () => {
    expect(answering(`${NODE_INTERNAL_IP}:30200`, 20)).toEqual(names(pods));
    expect(Object.keys(cluster.probe(`${NODE_IP}:30200`, 'tcp', 1).errors)).toEqual(['ECONNREFUSED']);
  });

  it('keeps traffic on endpoints hinted for this node\'s zone (Node label)', () => {
    expect(answering(`${ZONED_VIP}:80`, 20)).toEqual([pods[0]!.name]);
  });

  it('follows endpoint changes from the watch', async () => {
    const syncs = agent.syncs();
    await api.send({ op: 'upsert', kind: 'endpointslices', object: asObject(webSlice(pods.slice(0, 1))) });
    await agent.waitForSync(syncs);
    expect(answering(`${VIP}:80`, 10)).toEqual([pods[0]!.name]);
  });

  it('re-lists after 410 Gone and changes nothing that is still right', async () => {
    await api.send({ op: 'silence', on: true });
    await api.send({ op: 'upsert', kind: 'endpointslices', object: asObject(webSlice(pods)) });
    await api.send({ op: 'compact' });
    await api.send({ op: 'silence', on: false });
    const syncs = agent.syncs();
    await api.send({ op: 'drop' });
    await agent.waitForSync(syncs);
    expect(answering(`${VIP}:80`, 40)).toEqual(names(pods));
    const line = agent.syncLines().at(-1)!;
    expect(line.frontendsRemoved + line.backendsRemoved).toBe(0);
  });

  it('loses no request while the API server restarts, and follows changes made meanwhile', async () => {
    await api.send({ op: 'stop' });
    const during = cluster.probe(`${VIP}:80`, 'tcp', 30);
    expect(during.errors).toEqual({});
    await api.send({ op: 'upsert', kind: 'endpointslices', object: asObject(webSlice(pods.slice(1))) });
    await api.send({ op: 'start' });
    await expect.poll(() => answering(`${VIP}:80`, 20), { timeout: 10_000, interval: 200 }).toEqual(names(pods.slice(1)));
    expect(agent.log.some((l) => l.includes('"level":40') && l.includes('interrupted'))).toBe(true);
  });

  it('says not ready while the API server is unreachable past the grace period, keeps serving, and resyncs without rewriting', async () => {
    const readyz = () => JSON.parse(agent.http('/readyz').body) as { ready: boolean; reason?: string; sourceUnreachableSince?: string };
    // Every watch answered again after the previous test's restart (readiness is sampled each second).
    await expect.poll(readyz, { timeout: 10_000, interval: 200 }).toEqual({ ready: true });
    await api.send({ op: 'stop' });
    await expect.poll(readyz, { timeout: 10_000, interval: 200 }).toMatchObject({ ready: false, reason: expect.stringContaining('unreachable') as unknown });
    expect(agent.http('/readyz').status).toBe(503);
    expect(agent.http('/healthz').status).toBe(200);
    expect(answering(`${VIP}:80`, 20)).toEqual(names(pods.slice(1)));
    // The agent writes its status file as readiness changes (looked at each second).
    const status = () => (JSON.parse(agent.lbctl(['status', '--json'])) as { agent: { ready: boolean; sourceUnreachableSince?: string } }).agent;
    await expect.poll(status, { timeout: 5000, interval: 300 }).toMatchObject({ ready: false, sourceUnreachableSince: expect.any(String) as unknown });
    const syncs = agent.syncs();
    await api.send({ op: 'start' });
    await expect.poll(() => agent.http('/readyz').status, { timeout: 10_000, interval: 200 }).toBe(200);
    for (const l of agent.syncLines().slice(syncs)) {
      expect(l.servicesWritten + l.frontendsWritten + l.tablesWritten + l.backendsAdded + l.servicesRemoved + l.frontendsRemoved + l.backendsRemoved).toBe(0);
    }
  });
});
