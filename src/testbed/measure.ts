// `make measure`: Maglev build time (M=65537, 1000 backends) and the agent's time from
// a manifest change to the maps updated, with the real agent in a network namespace.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildMaglevTable, MAGLEV_MAX_SIZE } from '../model/maglev.js';
import { renderTable } from '../cli/table.js';
import { summarize } from '../bench/stats.js';
import { Cluster, writeFileAtomic } from './topology.js';
import { AgentProcess } from './agent-process.js';

const SERVICES = 100;
const CHANGES = 30;

function maglevTimes(): number[] {
  const backends = Array.from({ length: 1000 }, (_, i) => ({ id: `198.18.${i >> 8}.${i & 255}:8080`, weight: 1 }));
  for (let i = 0; i < 5; i++) buildMaglevTable(backends, MAGLEV_MAX_SIZE); // warm up the JIT
  return Array.from({ length: 30 }, () => {
    const t0 = performance.now();
    buildMaglevTable(backends, MAGLEV_MAX_SIZE);
    return performance.now() - t0;
  });
}

function manifests(i: number, extraEndpoint: boolean): string {
  const items = [];
  for (let s = 0; s < SERVICES; s++) {
    const ips = Array.from({ length: 10 }, (_, e) => `198.18.${2 + s}.${10 + e}`);
    if (s === i % SERVICES && extraEndpoint) ips.push(`198.18.${2 + s}.200`);
    items.push(
      { apiVersion: 'v1', kind: 'Service', metadata: { name: `svc${s}`, namespace: 'm' }, spec: { clusterIP: `198.19.${s >> 8}.${s & 255}`, ports: [{ port: 80 }] } },
      {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: `svc${s}-a`, namespace: 'm', labels: { 'kubernetes.io/service-name': `svc${s}` } },
        addressType: 'IPv4',
        ports: [{ port: 8080 }],
        endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
      },
    );
  }
  return JSON.stringify({ kind: 'List', items });
}

async function agentLatency(): Promise<{ endToEnd: number[]; sync: number[] }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlb-measure-'));
  const cluster = await Cluster.create('measure', { pods: 1 });
  const agent = new AgentProcess(cluster, ['--manifests', dir], '/sys/fs/bpf/xlb-measure');
  const file = path.join(dir, 'services.json');
  try {
    writeFileAtomic(file, manifests(0, false));
    agent.start();
    await agent.waitForSync();
    const endToEnd: number[] = [];
    const sync: number[] = [];
    for (let i = 1; i <= CHANGES; i++) {
      const before = agent.syncs();
      const t0 = Date.now();
      writeFileAtomic(file, manifests(i, i % 2 === 1));
      await agent.waitForSync(before);
      const line = JSON.parse(agent.log.filter((l) => l.includes('"dataplane synced"'))[before]!) as { time: number; ms: number };
      endToEnd.push(line.time - t0);
      sync.push(line.ms);
    }
    return { endToEnd, sync };
  } finally {
    await agent.stop();
    try {
      agent.cleanup();
    } finally {
      cluster.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}

const mg = summarize(maglevTimes());
const lat = await agentLatency();
const e2e = summarize(lat.endToEnd);
const sy = summarize(lat.sync);
process.stdout.write(
  renderTable(
    ['MEASUREMENT', 'MEDIAN ms', 'P90 ms', 'MIN ms', 'MAX ms'],
    [
      ['Maglev build, M=65537, 1000 backends', mg.median, mg.p90, mg.min, mg.max],
      [`manifest change -> maps updated (${SERVICES} services x 10 endpoints, ${CHANGES} changes)`, e2e.median, e2e.p90, e2e.min, e2e.max],
      ['  of which the agent\'s sync (model, diff, map writes)', sy.median, sy.p90, sy.min, sy.max],
    ],
  ) + '\n',
);
