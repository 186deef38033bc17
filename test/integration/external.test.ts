// External traffic on the two-node cluster: a client outside it reaching NodePorts,
// LoadBalancer IPs (routed to node-a) and ClusterIPs whose backends run on the other
// node, which the node SNATs (eBPF: its own NAT table; iptables: MASQUERADE), and the
// externalTrafficPolicy Local cases, which never SNAT.
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_IP, NODE_B_IP, NODE_IP, writeFileAtomic, type Cluster, type Pod } from '../testbed/topology.js';
import type { AgentProcess } from '../testbed/agent-process.js';
import { endpointsOf, MODES, NS, useAgentCluster } from '../helpers/agent-cluster.js';
import { list, makeService, makeSlice, withIngress } from '../fixtures/k8s.js';
import type { Service } from '../../src/model/k8s.js';

const HTTP = [{ name: 'http', port: 8080, protocol: 'TCP' as const }];
const DNS = [{ name: 'dns', port: 5353, protocol: 'UDP' as const }];
const LB_IP = '198.19.253.1';

let cluster: Cluster;
let agent: AgentProcess;
let dir: string;
let pods: Pod[];
let onA: Pod[];
let onB: Pod[];

const names = (ps: Pod[]) => ps.map((p) => p.name).sort();
const answered = (r: { answers: Record<string, number> }) => Object.keys(r.answers).sort();

/** far: backends on node-b only; near: on node-a only; both: on both, also a LoadBalancer; local: ETP Local on node-b. */
function writeManifests(extra: Service[] = []): void {
  const ports = (n: number) => [
    { name: 'http', port: 80, targetPort: 'http', nodePort: n },
    { name: 'dns', port: 53, targetPort: 'dns', protocol: 'UDP' as const, nodePort: n + 1 },
  ];
  writeFileAtomic(
    path.join(dir, 'ext.json'),
    list(
      makeService(NS, 'far', { type: 'NodePort', clusterIP: '198.19.3.10', ports: ports(30300) }),
      makeSlice(NS, 'far-a', 'far', { ports: [...HTTP, ...DNS], endpoints: endpointsOf(onB) }),
      makeService(NS, 'near', { type: 'NodePort', clusterIP: '198.19.3.11', ports: ports(30310) }),
      makeSlice(NS, 'near-a', 'near', { ports: [...HTTP, ...DNS], endpoints: endpointsOf([onA[0]!]) }),
      withIngress(makeService(NS, 'both', { type: 'LoadBalancer', clusterIP: '198.19.3.12', ports: ports(30320) }), LB_IP),
      makeSlice(NS, 'both-a', 'both', { ports: [...HTTP, ...DNS], endpoints: endpointsOf(pods) }),
      makeService(NS, 'local', { type: 'NodePort', clusterIP: '198.19.3.13', ports: ports(30330), externalTrafficPolicy: 'Local' }),
      makeSlice(NS, 'local-a', 'local', { ports: [...HTTP, ...DNS], endpoints: endpointsOf([onB[0]!]) }),
      ...extra,
    ),
  );
}

describe.each(MODES)('external traffic (%s)', (mode) => {
  const ctx = useAgentCluster(`ex${mode[0]}`, { pods: 2, podsB: 2, tcpPorts: [8080], udpPorts: [5353] }, mode, (c) => {
    ({ dir, pods } = c);
    onA = pods.filter((p) => p.nodeName === 'node-a');
    onB = pods.filter((p) => p.nodeName === 'node-b');
    writeManifests();
  });
  beforeAll(() => void ({ cluster, agent } = ctx));

  it('client -> node-a NodePort whose backends all run on node-b, TCP and UDP: the node answers as itself', () => {
    const tcp = cluster.probe(`${NODE_IP}:30300`, 'tcp', 40);
    expect(tcp.errors).toEqual({});
    expect(answered(tcp)).toEqual(names(onB));
    expect(tcp.peers).toEqual({ [`${NODE_IP}:30300`]: 40 });
    // SNAT: the backend saw node-a, so its replies came back through it.
    expect(tcp.seenAs).toEqual({ [NODE_IP]: 40 });
    const udp = cluster.probe(`${NODE_IP}:30301`, 'udp', 40);
    expect(udp.errors).toEqual({});
    expect(answered(udp)).toEqual(names(onB));
    expect(udp.peers).toEqual({ [`${NODE_IP}:30301`]: 40 });
  });

  it('client -> node-b NodePort whose backend runs on node-a', () => {
    const r = cluster.probe(`${NODE_B_IP}:30310`, 'tcp', 20);
    expect(r.errors).toEqual({});
    expect(r.answers).toEqual({ [onA[0]!.name]: 20 });
    expect(r.seenAs).toEqual({ [NODE_B_IP]: 20 });
  });

  it('backends on both nodes: every connection answers, through the NodePort and the LoadBalancer IP', () => {
    for (const [target, proto] of [[`${NODE_IP}:30320`, 'tcp'], [`${LB_IP}:80`, 'tcp'], [`${LB_IP}:53`, 'udp']] as const) {
      const r = cluster.probe(target, proto, 60);
      expect(r.errors, target).toEqual({});
      expect(answered(r), target).toEqual(names(pods));
      expect(r.peers, target).toEqual({ [target]: 60 });
    }
  });

  it('externalTrafficPolicy Local: served by the node with the endpoint, keeping the client address; not by the other', () => {
    const there = cluster.probe(`${NODE_B_IP}:30330`, 'tcp', 10);
    expect(there.errors).toEqual({});
    expect(there.answers).toEqual({ [onB[0]!.name]: 10 });
    expect(there.seenAs).toEqual({ [CLIENT_IP]: 10 });
    expect(cluster.probe(`${NODE_IP}:30330`, 'tcp', 1, ['--timeout-ms', '300']).errors).toEqual({ timeout: 1 });
  });

  it('keeps a long keep-alive connection to a remote backend through unrelated Service changes', async () => {
    const conn = await cluster.keepAliveClient(`${NODE_IP}:30300`);
    try {
      const first = await conn.ask();
      expect(names(onB)).toContain(first);
      for (let i = 0; i < 3; i++) {
        const syncs = agent.syncs();
        writeManifests([makeService(NS, `other-${i}`, { type: 'NodePort', clusterIP: `198.19.3.${20 + i}`, ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30340 + i }] })]);
        await agent.waitForSync(syncs);
        expect(await conn.ask()).toBe(first);
      }
    } finally {
      conn.close();
      writeManifests();
    }
  });

  if (mode === 'bpf') {
    // kube-proxy (and iptables mode) masquerades every externalTrafficPolicy Cluster flow;
    // the eBPF datapath only those whose backend is elsewhere.
    it('a backend on the node that receives the flow sees the client\'s own address', () => {
      expect(cluster.probe(`${NODE_IP}:30310`, 'tcp', 10).seenAs).toEqual({ [CLIENT_IP]: 10 });
    });

    it('SNATs a ClusterIP reached from outside when its backend is elsewhere', () => {
      const r = cluster.probe('198.19.3.12:80', 'tcp', 60);
      expect(r.errors).toEqual({});
      expect(answered(r)).toEqual(names(pods));
    });

    it('shows SNATed flows in lbctl maps dump, their NAT entries ending with the connection', () => {
      expect(cluster.probe(`${NODE_IP}:30300`, 'tcp', 5).errors).toEqual({});
      const d = agent.dump();
      const mine = d.nat.filter((n) => n.frontend === `${NODE_IP}:30300`);
      expect(mine.length).toBeGreaterThanOrEqual(5);
      expect(d.natCapacity).toBeGreaterThan(0);
      for (const n of mine) {
        expect(n).toMatchObject({ protocol: 'TCP', snat: expect.stringMatching(new RegExp(`^${NODE_IP}:`)) as unknown, client: expect.stringMatching(new RegExp(`^${CLIENT_IP}:`)) as unknown });
        // Closed connections: the short closing lifetime, not the 6 h of an open one.
        expect(n.closing).toBe(true);
        expect(n.expiresInS).toBeLessThanOrEqual(10);
      }
      const flows = d.conntrack.filter((f) => f.frontend === `${NODE_IP}:30300`);
      expect(flows.every((f) => f.snat?.startsWith(`${NODE_IP}:`))).toBe(true);
    });
  }
});
