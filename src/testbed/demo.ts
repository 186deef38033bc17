// `make demo`: a mini cluster in network namespaces, the real agent balancing real
// traffic from a client to every frontend of the example Services, and a table of
// where requests went. Everything it makes is removed at the end, also on failure.
import path from 'node:path';
import { pino } from 'pino';
import { Cluster, NODE_IP, REPO } from './topology.js';
import { AgentProcess } from './agent-process.js';
import { ManifestSource } from '../sources/manifests.js';
import { buildDesiredState } from '../model/desired.js';
import { renderTable } from '../cli/table.js';

const MANIFESTS = path.join(REPO, 'examples/demo');
const BPFFS = '/sys/fs/bpf/xlb-demo';
const REQUESTS = 30;

async function main(): Promise<void> {
  const step = (s: string) => process.stdout.write(`\n==> ${s}\n`);
  step('creating a client, a node and 3 pods in network namespaces (198.18.0.0/15)');
  const cluster = await Cluster.create('demo', { pods: 3, tcpPorts: [8080], udpPorts: [5353] });
  const agent = new AgentProcess(cluster, ['--manifests', MANIFESTS], BPFFS);
  try {
    step(`starting lbctl agent on the node with the manifests in examples/demo`);
    agent.start();
    await agent.waitForSync();

    const snap = new ManifestSource(MANIFESTS, pino({ level: 'silent' })).read();
    const desired = buildDesiredState(snap.services, snap.slices, { name: 'node-a', ips: [NODE_IP] });
    const pods = cluster.pods.map((p) => p.name);
    step(`sending ${REQUESTS} requests from the client to every frontend (a new connection or socket each)`);
    const rows: Array<Array<string | number>> = [];
    for (const svc of desired.services.values()) {
      for (const f of svc.frontends) {
        const r = cluster.probe(`${f.addr}:${f.port}`, f.protocol === 'UDP' ? 'udp' : 'tcp', REQUESTS);
        const failed = Object.values(r.errors).reduce((a, b) => a + b, 0);
        rows.push([`${svc.namespace}/${svc.name}`, f.type, `${f.addr}:${f.port}/${f.protocol}`, ...pods.map((p) => r.answers[p] ?? 0), failed]);
      }
    }
    process.stdout.write(renderTable(['SERVICE', 'TYPE', 'FRONTEND', ...pods, 'FAILED'], rows) + '\n');
    process.stdout.write('\n(api has pod-2 not ready, shop has no pod-0 endpoint: they get no traffic)\n');

    step('lbctl maps dump services / maglev: what the kernel holds');
    process.stdout.write(agent.dumpTable('services') + '\n' + agent.dumpTable('maglev'));
    const flows = agent.dump().conntrack;
    process.stdout.write(`\nconntrack: ${flows.length} flows tracked (lbctl maps dump conntrack lists them)\n`);
  } finally {
    step('cleaning up: agent, programs, pins, namespaces');
    await agent.stop();
    try {
      agent.cleanup();
    } finally {
      cluster.destroy();
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
