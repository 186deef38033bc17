// `make demo`: a two-node mini cluster in network namespaces, an agent on each node
// balancing real traffic, and tables of where requests went: from a client outside
// the cluster (per packet, on node-a) and from pods and host processes inside it (at
// the socket, on the caller's node). Everything it makes is removed at the end, also
// on failure.
import fs from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { CLIENT_IP, Cluster, REPO, type Origin } from './topology.js';
import { AgentProcess } from './agent-process.js';
import { ManifestSource } from '../../src/sources/manifests.js';
import { buildDesiredState } from '../../src/model/desired.js';
import { renderTable } from '../../src/observe/table.js';
import type { ProbeResult } from './probe.js';

const MANIFESTS = path.join(REPO, 'examples/demo');
const REQUESTS = 30;

async function main(): Promise<void> {
  const step = (s: string) => process.stdout.write(`\n==> ${s}\n`);
  step('creating a client, two nodes, 3 pods on node-a and 2 on node-b in network namespaces (198.18.0.0/15)');
  const cluster = await Cluster.create('demo', { pods: 3, podsB: 2, tcpPorts: [8080], udpPorts: [5353] });
  const agents = cluster.nodes.map((node) => new AgentProcess(cluster, ['--manifests', MANIFESTS], `/sys/fs/bpf/xlb-demo-${node.name}`, { node }));
  try {
    step('starting lbctl agent on each node with the manifests in examples/demo');
    for (const a of agents) a.start();
    await Promise.all(agents.map((a) => a.waitForSync()));

    const pods = cluster.pods.map((p) => p.name);
    const row = (what: string, target: string, r: ProbeResult) => [
      what,
      target,
      ...pods.map((p) => r.answers[p] ?? 0),
      Object.values(r.errors).reduce((a, b) => a + b, 0),
    ];
    const headers = ['FROM', 'TO', ...pods, 'FAILED'];

    const snap = new ManifestSource(MANIFESTS, pino({ level: 'silent' })).read();
    const desired = buildDesiredState(snap.services, snap.slices, { name: 'node-a', ips: [cluster.nodes[0].ip] }).state;
    step(`from a client outside the cluster, ${REQUESTS} requests to every frontend, through node-a (translated per packet at tc; SNATed when the backend runs on node-b)`);
    const outside: Array<Array<string | number>> = [];
    for (const svc of desired.services.values()) {
      for (const f of svc.frontends) {
        const target = `${f.addr}:${f.port}`;
        outside.push(row(`client -> ${svc.name} ${f.type}`, `${target}/${f.protocol}`, cluster.probe(target, f.protocol === 'UDP' ? 'udp' : 'tcp', REQUESTS)));
      }
    }
    process.stdout.write(renderTable(headers, outside) + '\n');
    process.stdout.write('\n(api has pod-2 not ready, shop has no pod-0 endpoint: they get no traffic)\n');

    step(`inside the cluster, ${REQUESTS} requests from pods and host processes (balanced once per connection at connect(), no packet translated)`);
    const [podA, podB] = [cluster.pods[0]!, cluster.pods.find((p) => p.nodeName === 'node-b')!];
    const inside: Array<[string, Origin, string, 'tcp' | 'udp']> = [
      [`${podB.name} (node-b) -> web`, podB, '198.19.0.10:80', 'tcp'],
      [`${podB.name} (node-b) -> web`, podB, '198.19.0.10:53', 'udp'],
      ['node-a host process -> web', cluster.nodes[0].host, '198.19.0.10:80', 'tcp'],
      [`${podA.name} (node-a) -> cart`, podA, '198.19.0.40:80', 'tcp'],
      ['node-b host process -> cart', cluster.nodes[1].host, '198.19.0.40:80', 'tcp'],
    ];
    process.stdout.write(renderTable(headers, inside.map(([what, from, target, proto]) => row(what, `${target}/${proto.toUpperCase()}`, cluster.probeFrom(from, target, proto, REQUESTS)))) + '\n');

    step('lbctl maps dump services / maglev on node-a: what the kernel holds');
    process.stdout.write(agents[0]!.dumpTable('services') + '\n\n' + agents[0]!.dumpTable('maglev') + '\n');
    const flows = agents.flatMap((a) => a.dump().conntrack);
    const outsideFlows = flows.filter((f) => f.client.startsWith(`${CLIENT_IP}:`)).length;
    const snat = flows.filter((f) => f.snat).length;
    process.stdout.write(
      `\nper-packet conntrack on both nodes: ${outsideFlows} flows from the outside client (${snat} of them SNATed to a backend on node-b),\n` +
        `${flows.length - outsideFlows} from pods or nodes: the in-cluster requests were balanced at the socket\n` +
        '(lbctl maps dump conntrack and nat list the flows)\n',
    );

    step('lbctl status on node-a: the agent, its programs by name and tag, the maps\' fill');
    process.stdout.write(agents[0]!.lbctl(['status']) + '\n');
    step(`lbctl explain 198.19.0.10:80/TCP --from ${CLIENT_IP}:40001 on node-a: the backend that flow gets, and why (the datapath's own decision)`);
    process.stdout.write(agents[0]!.lbctl(['explain', '198.19.0.10:80/TCP', '--from', `${CLIENT_IP}:40001`]) + '\n');
    step('curl http://127.0.0.1:10249/metrics in node-a (a few of the agent\'s Prometheus metrics)');
    const metrics = agents[0]!.http('/metrics').body.split('\n');
    process.stdout.write(metrics.filter((l) => /^xlb_(service_packets_total|drops_total|programmed|sync_duration_seconds_count|ready)/.test(l)).join('\n') + '\n');
  } finally {
    step('cleaning up: agents, programs, pins, cgroups, namespaces');
    await Promise.all(agents.map((a) => a.stop()));
    try {
      for (const a of agents) a.cleanup();
    } finally {
      cluster.destroy();
      for (const a of agents) fs.rmSync(a.bpffs, { recursive: true, force: true });
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
