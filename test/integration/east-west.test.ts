// East-west: pods and host processes on the nodes reaching Services, on the two-node
// cluster with an agent on each node. In eBPF mode the socket programs balance these
// connections once, at connect()/sendmsg(): no packet of theirs is translated.
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { NODE_B_IP, NODE_IP, writeFileAtomic, type Cluster, type Pod } from '../testbed/topology.js';
import { inNs } from '../testbed/netns.js';
import type { AgentProcess } from '../testbed/agent-process.js';
import { endpointsOf, MODES, NS, useAgentCluster } from '../helpers/agent-cluster.js';
import { SOCKET_PROGRAMS } from '../../src/dataplane/bpf/programs.js';
import { openPinnedMaps } from '../../src/dataplane/bpf/maps.js';
import { xlb_limits } from '../../src/dataplane/bpf/contract.js';
import { list, makeService, makeSlice, withIngress } from '../fixtures/k8s.js';

const WEB = '198.19.2.10';
const LB_IP = '198.19.254.1';
const EXTERNAL_IP = '198.19.252.1';
const HTTP = [{ name: 'http', port: 8080, protocol: 'TCP' as const }];
const DNS = [{ name: 'dns', port: 5353, protocol: 'UDP' as const }];

let cluster: Cluster;
let agent: AgentProcess;
let agentB: AgentProcess;
let dir: string;
/** pod-0, pod-1 on node-a; podb-0, podb-1 on node-b */
let pods: Pod[];
let onA: Pod[];
let onB: Pod[];

const names = (ps: Pod[]) => ps.map((p) => p.name).sort();
const answered = (r: { answers: Record<string, number> }) => Object.keys(r.answers).sort();

/**
 * web: ClusterIP + NodePort + LoadBalancer, TCP and UDP, backends on both nodes;
 * self: pod-0's own Service; onlyA / onlyB: one backend on one node; empty: none;
 * sticky: sessionAffinity ClientIP over every pod.
 */
function writeManifests(webPods: Pod[]): void {
  writeFileAtomic(
    path.join(dir, 'ew.json'),
    list(
      withIngress(
        makeService(NS, 'web', {
          type: 'LoadBalancer',
          clusterIP: WEB,
          ports: [
            { name: 'http', port: 80, targetPort: 'http', nodePort: 30200 },
            { name: 'dns', port: 53, targetPort: 'dns', protocol: 'UDP', nodePort: 30201 },
          ],
          externalIPs: [EXTERNAL_IP],
        }),
        LB_IP,
      ),
      makeSlice(NS, 'web-a', 'web', { ports: [...HTTP, ...DNS], endpoints: endpointsOf(webPods) }),
      makeService(NS, 'self', { clusterIP: '198.19.2.11', ports: [{ name: 'http', port: 80, targetPort: 8080 }] }),
      makeSlice(NS, 'self-a', 'self', { ports: HTTP, endpoints: endpointsOf([pods[0]!]) }),
      makeService(NS, 'only-a', { clusterIP: '198.19.2.12', ports: [{ name: 'http', port: 80, targetPort: 8080 }] }),
      makeSlice(NS, 'only-a-a', 'only-a', { ports: HTTP, endpoints: endpointsOf([onA[1]!]) }),
      makeService(NS, 'only-b', { type: 'NodePort', clusterIP: '198.19.2.13', ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30213 }] }),
      makeSlice(NS, 'only-b-a', 'only-b', { ports: HTTP, endpoints: endpointsOf(onB) }),
      makeService(NS, 'empty', { clusterIP: '198.19.2.14', ports: [{ name: 'tcp', port: 80 }, { name: 'udp', port: 53, protocol: 'UDP' }] }),
      makeService(NS, 'sticky', {
        clusterIP: '198.19.2.15',
        ports: [{ name: 'http', port: 80, targetPort: 8080 }],
        sessionAffinity: 'ClientIP',
        sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } },
      }),
      makeSlice(NS, 'sticky-a', 'sticky', { ports: HTTP, endpoints: endpointsOf(pods) }),
    ),
  );
}

/** Rewrites the manifests and waits for the sync that follows on each node (both agents watch them). */
async function change(webPods: Pod[]): Promise<void> {
  const syncs = [agent.syncs(), agentB.syncs()] as const;
  writeManifests(webPods);
  await Promise.all([agent.waitForSync(syncs[0]), agentB.waitForSync(syncs[1])]);
}

describe.each(MODES)('east-west (%s)', (mode) => {
  const ctx = useAgentCluster(`ew${mode[0]}`, { pods: 2, podsB: 2, tcpPorts: [8080], udpPorts: [5353] }, mode, (c) => {
    ({ dir, pods } = c);
    onA = pods.filter((p) => p.nodeName === 'node-a');
    onB = pods.filter((p) => p.nodeName === 'node-b');
    writeManifests(pods);
  });
  beforeAll(() => void ({ cluster, agent, agentB } = ctx));

  it('pod -> ClusterIP reaches backends on both nodes, and the peer it sees is the Service', () => {
    for (const from of [onA[0]!, onB[0]!]) {
      const r = cluster.probeFrom(from, `${WEB}:80`, 'tcp', 60);
      expect(r.errors, from.name).toEqual({});
      expect(answered(r), from.name).toEqual(names(pods));
      expect(r.peers, from.name).toEqual({ [`${WEB}:80`]: 60 });
    }
  });

  it('a pod reaching its own Service lands on itself, and it works', () => {
    const r = cluster.probeFrom(pods[0]!, '198.19.2.11:80', 'tcp', 5);
    expect(r.errors).toEqual({});
    expect(r.answers).toEqual({ [pods[0]!.name]: 5 });
  });

  it('a host process reaches a ClusterIP', () => {
    const r = cluster.probeFrom(cluster.nodes[0].host, `${WEB}:80`, 'tcp', 40);
    expect(r.errors).toEqual({});
    expect(answered(r)).toEqual(names(pods));
    expect(r.peers).toEqual({ [`${WEB}:80`]: 40 });
  });

  it('pod -> NodePort of its own node and of the other node, and -> the LoadBalancer IP and an ExternalIP', () => {
    const mine = cluster.probeFrom(onA[0]!, `${NODE_IP}:30200`, 'tcp', 40);
    expect(mine.errors).toEqual({});
    expect(answered(mine)).toEqual(names(pods));
    expect(mine.peers).toEqual({ [`${NODE_IP}:30200`]: 40 });
    // The other node translates it; its backends run there.
    const other = cluster.probeFrom(onA[0]!, `${NODE_B_IP}:30213`, 'tcp', 10);
    expect(other.errors).toEqual({});
    expect(answered(other)).toEqual(names(onB));
    expect(other.peers).toEqual({ [`${NODE_B_IP}:30213`]: 10 });
    for (const ip of [LB_IP, EXTERNAL_IP]) {
      const r = cluster.probeFrom(onB[1]!, `${ip}:80`, 'tcp', 40);
      expect(r.errors, ip).toEqual({});
      expect(answered(r), ip).toEqual(names(pods));
      expect(r.peers, ip).toEqual({ [`${ip}:80`]: 40 });
    }
  });

  it('pod -> UDP Service, connected and unconnected sockets: replies come from the Service address', () => {
    for (const extra of [[], ['--unconnected']]) {
      const r = cluster.probeFrom(onB[0]!, `${WEB}:53`, 'udp', 40, extra);
      expect(r.errors, extra.join()).toEqual({});
      expect(answered(r), extra.join()).toEqual(names(pods));
      expect(r.peers, extra.join()).toEqual({ [`${WEB}:53`]: 40 });
    }
  });

  it('serves dual-stack (IPv6) sockets reaching the Service through its IPv4-mapped address, as Java\'s do', () => {
    // 60 new flows over 4 pods: one is missed by chance with odds of 4 x (3/4)^60, below 1e-7.
    for (const [port, proto] of [[80, 'tcp'], [53, 'udp']] as const) {
      const r = cluster.probeFrom(onA[0]!, `${WEB}:${port}`, proto, 60, ['--mapped']);
      expect(r.errors, proto).toEqual({});
      expect(answered(r), proto).toEqual(names(pods));
      expect(r.peers, proto).toEqual({ [`::ffff:${WEB}:${port}`]: 60 });
    }
  });

  it('refuses a pod at once when the Service has no endpoints', () => {
    for (const [target, proto] of [['198.19.2.14:80', 'tcp'], ['198.19.2.14:53', 'udp']] as const) {
      const r = cluster.probeFrom(onA[0]!, target, proto, 3, ['--timeout-ms', '2000']);
      expect(r.errors, target).toEqual({ ECONNREFUSED: 3 });
      expect(r.maxMs, target).toBeLessThan(100);
    }
    // An unconnected UDP socket hears no ICMP error: the socket path fails sendmsg itself.
    if (mode === 'bpf') expect(cluster.probeFrom(onA[0]!, '198.19.2.14:53', 'udp', 3, ['--unconnected']).errors).toEqual({ ECONNREFUSED: 3 });
  });

  it('sessionAffinity ClientIP holds a pod on one backend', () => {
    for (const from of [onA[1]!, onB[1]!]) {
      const r = cluster.probeFrom(from, '198.19.2.15:80', 'tcp', 15);
      expect(r.errors).toEqual({});
      expect(Object.keys(r.answers), from.name).toHaveLength(1);
    }
  });

  it('pod on node-b -> a Service whose only backend is on node-a', () => {
    const r = cluster.probeFrom(onB[0]!, '198.19.2.12:80', 'tcp', 10);
    expect(r.errors).toEqual({});
    expect(r.answers).toEqual({ [onA[1]!.name]: 10 });
  });

  it('a connected UDP socket never keeps talking to a backend removed during its stream', async () => {
    const conn = await cluster.keepAliveClient(`${WEB}:53`, { from: onA[0], proto: 'udp' });
    try {
      const first = await conn.ask();
      expect(names(pods)).toContain(first);
      await change(pods.filter((p) => p.name !== first));
      // eBPF: the socket balanced to it is destroyed and the application told so;
      // iptables: its conntrack entry is flushed and the flow moves.
      const next = await conn.ask();
      if (mode === 'bpf') expect(next).toBe('error ECONNABORTED');
      else expect(names(pods.filter((p) => p.name !== first))).toContain(next);
      const fresh = cluster.probeFrom(onA[0]!, `${WEB}:53`, 'udp', 30);
      expect(fresh.errors).toEqual({});
      expect(answered(fresh)).not.toContain(first);
    } finally {
      conn.close();
      await change(pods);
    }
  });

  if (mode === 'bpf') {
    it('translates nothing per packet for these flows, and lbctl maps dump shows the balanced sockets', async () => {
      const conn = await cluster.keepAliveClient(`${WEB}:80`, { from: onA[0] });
      try {
        const backend = await conn.ask();
        const sockets = agent.dump().sockets.filter((s) => s.frontend === `${WEB}:80`);
        expect(sockets).toHaveLength(1);
        expect(sockets[0]).toMatchObject({ service: 'it/web:http/TCP', protocol: 'TCP', backend: `${pods.find((p) => p.name === backend)!.ip}:8080` });
      } finally {
        conn.close();
      }
      // Released with its socket.
      await expect.poll(() => agent.dump().sockets.filter((s) => s.protocol === 'TCP'), { timeout: 3000 }).toEqual([]);
      // No flow from a pod or a node was translated per packet, but for the NodePort of
      // another node, which that node translates as it arrives.
      const inCluster = new Set([...pods.map((p) => p.ip), NODE_IP, NODE_B_IP]);
      const perPacket = (a: AgentProcess) => a.dump().conntrack.filter((f) => inCluster.has(f.client.split(':')[0]!));
      expect(perPacket(agent)).toEqual([]);
      expect(new Set(perPacket(agentB).map((f) => f.frontend))).toEqual(new Set([`${NODE_B_IP}:30213`]));
    });

    it('keeps a connected socket in the slot its cookie indexes, and a closing socket frees only a slot still its own', async () => {
      const peers = openPinnedMaps(agent.bpffs).sockPeers;
      const PEERS = BigInt(xlb_limits.XLB_SOCK_PEERS);
      const conn = await cluster.keepAliveClient(`${WEB}:80`, { from: onA[0] });
      let slot = -1;
      try {
        const backend = await conn.ask();
        const held = peers.entries().filter(([, p]) => p.value.frontend_addr === WEB && p.key.proto === 6);
        expect(held).toHaveLength(1);
        const [i, p] = held[0]!;
        expect(BigInt(i)).toBe(p.key.cookie % PEERS);
        expect(p.key.backend_addr).toBe(pods.find((x) => x.name === backend)!.ip);
        // A socket XLB_SOCK_PEERS cookies younger takes the slot while this one lives.
        peers.set(i, { ...p, key: { ...p.key, cookie: p.key.cookie + PEERS } });
        slot = i;
      } finally {
        conn.close();
      }
      await conn.closed();
      const taker = peers.get(slot);
      expect(taker?.value.frontend_addr).toBe(WEB);
      peers.delete(slot);
    });

    it('moves a still open socket\'s record out of the slot a younger socket connects into, so that neither loses it', () => {
      const m = openPinnedMaps(agent.bpffs);
      const PEERS = xlb_limits.XLB_SOCK_PEERS;
      // Every slot held by an open socket far older than any cookie the probe will get.
      const older = (i: number) => BigInt(i) + BigInt(PEERS) * 1000n;
      const fill = (cookie: (i: number) => bigint) => {
        const batch = m.sockPeers.batch();
        for (let i = 0; i < PEERS; i++) {
          const c = cookie(i);
          const addr = c ? '198.19.9.9' : '0.0.0.0';
          batch.add(i, { key: { cookie: c, backend_addr: addr, backend_port: c ? 8080 : 0, proto: c ? 6 : 0 }, value: { frontend_addr: addr, frontend_port: c ? 80 : 0, svc_id: 0, backend_id: 0 } });
        }
        batch.write();
      };
      fill(older);
      try {
        const r = cluster.probeFrom(onA[0]!, `${WEB}:80`, 'tcp', 3);
        expect(r.errors).toEqual({});
        // getpeername shows each connection the Service it asked for.
        expect(r.peers).toEqual({ [`${WEB}:80`]: 3 });
        // The three older sockets whose slots they took are in the LRU, and their own
        // slots were freed as they closed.
        const moved = m.sockets.entries().filter(([k]) => k.backend_addr === '198.19.9.9');
        expect(moved).toHaveLength(3);
        for (const [k, v] of moved) {
          const slot = Number(k.cookie % BigInt(PEERS));
          expect(k.cookie).toBe(older(slot));
          expect(v.frontend_addr).toBe('198.19.9.9');
          expect(m.sockPeers.get(slot)).toBeUndefined();
        }
        expect(m.sockPeers.entries()).toHaveLength(PEERS - 3);
      } finally {
        fill(() => 0n);
        for (const [k] of m.sockets.entries()) m.sockets.delete(k);
      }
    });

    it('leaves alone sockets outside its cgroup, and connects to what is not a frontend', () => {
      // node-a's network namespace, but no node's cgroup: no agent balances it, and
      // nothing routes a ClusterIP.
      const outside = { ns: cluster.node, cgroup: cluster.cgroupRoot };
      expect(cluster.probeFrom(outside, `${WEB}:80`, 'tcp', 1, ['--timeout-ms', '300']).errors).toEqual({ timeout: 1 });
      expect(cluster.probeFrom(onA[0]!, `${onB[0]!.ip}:8080`, 'tcp', 3).answers).toEqual({ [onB[0]!.name]: 3 });
      for (const a of [agent, agentB]) expect(a.dump().sockets.filter((s) => s.protocol === 'TCP')).toEqual([]);
    });

    it('keeps its socket programs across a restart: attached once, connects served while it is down', async () => {
      const attached = () => inNs(cluster.node, 'bpftool', ['-j', 'cgroup', 'show', cluster.nodes[0].cgroup]);
      const progs = () => (JSON.parse(attached()) as Array<{ name: string }>).map((p) => p.name).sort();
      const once = [...SOCKET_PROGRAMS].sort();
      expect(progs()).toEqual(once);
      expect(await agent.stop()).toBe(0);
      expect(cluster.probeFrom(onA[0]!, `${WEB}:80`, 'tcp', 10).errors).toEqual({});
      agent.start();
      await agent.waitForSync(agent.syncs());
      expect(progs()).toEqual(once);
      expect(cluster.probeFrom(onA[0]!, `${WEB}:80`, 'tcp', 10).errors).toEqual({});
    });
  }
});
