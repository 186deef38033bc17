// Services changing shape under the running agent, and UDP flows losing their backend.
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { NODE_IP, writeFileAtomic, type Cluster, type Pod } from '../testbed/topology.js';
import type { AgentProcess } from '../testbed/agent-process.js';
import { endpointsOf, MODES, NS, useAgentCluster } from '../helpers/agent-cluster.js';
import { list, makeService, makeSlice, withIngress } from '../fixtures/k8s.js';
import type { Service } from '../../src/model/k8s.js';

const VIP = '198.19.1.10';
const LB = '198.19.255.10';
let cluster: Cluster;
let agent: AgentProcess;
let dir: string;
let pods: Pod[];

async function apply(svc: Service, endpoints: Array<Pick<Pod, 'name' | 'ip' | 'nodeName'>>, ports = [{ name: 'http', port: 8080, protocol: 'TCP' as const }, { name: 'dns', port: 5353, protocol: 'UDP' as const }]): Promise<void> {
  const syncs = agent.syncs();
  writeFileAtomic(path.join(dir, 'svc.json'), list(svc, makeSlice(NS, `${svc.metadata.name}-a`, svc.metadata.name, { ports, endpoints: endpointsOf(endpoints) })));
  await agent.waitForSync(syncs);
}

const ok = (target: string, proto: 'tcp' | 'udp' = 'tcp') => cluster.probe(target, proto, 3, ['--timeout-ms', '500']).errors;
const closed = (target: string) => Object.keys(cluster.probe(target, 'tcp', 1, ['--timeout-ms', '500']).errors);

describe.each(MODES)('live changes (%s)', (mode) => {
  const ctx = useAgentCluster(`lv${mode[0]}`, { pods: 3, tcpPorts: [8080], udpPorts: [5353] }, mode);
  beforeAll(() => void ({ cluster, agent, dir, pods } = ctx));

  it('follows type changes ClusterIP -> NodePort -> LoadBalancer -> ExternalName -> ClusterIP', async () => {
    const http = { name: 'http', port: 80, targetPort: 'http' };
    await apply(makeService(NS, 'shape', { clusterIP: VIP, ports: [http] }), pods);
    expect(ok(`${VIP}:80`)).toEqual({});
    expect(closed(`${NODE_IP}:30100`)).toEqual(['ECONNREFUSED']); // the node itself refuses: no NodePort yet

    await apply(makeService(NS, 'shape', { type: 'NodePort', clusterIP: VIP, ports: [{ ...http, nodePort: 30100 }] }), pods);
    expect(ok(`${VIP}:80`)).toEqual({});
    expect(ok(`${NODE_IP}:30100`)).toEqual({});

    await apply(withIngress(makeService(NS, 'shape', { type: 'LoadBalancer', clusterIP: VIP, ports: [{ ...http, nodePort: 30100 }] }), LB), pods);
    expect(ok(`${LB}:80`)).toEqual({});
    expect(ok(`${NODE_IP}:30100`)).toEqual({});

    await apply(makeService(NS, 'shape', { type: 'ExternalName', externalName: 'db.example.invalid', ports: [http] }), pods);
    // Nothing serves the VIP any more: the packet goes where the node routes it, unanswered.
    expect(closed(`${VIP}:80`)).toEqual(['timeout']);
    expect(closed(`${NODE_IP}:30100`)).toEqual(['ECONNREFUSED']);

    await apply(makeService(NS, 'shape', { clusterIP: VIP, ports: [http] }), pods);
    expect(ok(`${VIP}:80`)).toEqual({});
  });

  it('adds and removes ports, and serves one port number on TCP and UDP independently', async () => {
    const tcp53 = { name: 'http', port: 53, targetPort: 'http', protocol: 'TCP' as const };
    const udp53 = { name: 'dns', port: 53, targetPort: 'dns', protocol: 'UDP' as const };
    await apply(makeService(NS, 'ports', { clusterIP: VIP, ports: [tcp53] }), pods);
    expect(ok(`${VIP}:53`)).toEqual({});
    expect(cluster.probe(`${VIP}:53`, 'udp', 1, ['--timeout-ms', '300']).errors).toEqual({ timeout: 1 });

    await apply(makeService(NS, 'ports', { clusterIP: VIP, ports: [tcp53, udp53] }), pods);
    expect(ok(`${VIP}:53`)).toEqual({});
    expect(ok(`${VIP}:53`, 'udp')).toEqual({});

    await apply(makeService(NS, 'ports', { clusterIP: VIP, ports: [udp53] }), pods);
    expect(ok(`${VIP}:53`, 'udp')).toEqual({});
    expect(closed(`${VIP}:53`)).toEqual(['timeout']);
  });

  it('internalTrafficPolicy Local: the ClusterIP reaches only this node\'s endpoints', async () => {
    const svc = makeService(NS, 'itp', { clusterIP: VIP, ports: [{ name: 'http', port: 80, targetPort: 'http' }], internalTrafficPolicy: 'Local' });
    await apply(svc, [pods[0]!, { ...pods[1]!, nodeName: 'node-b' }, { ...pods[2]!, nodeName: 'node-b' }], [{ name: 'http', port: 8080, protocol: 'TCP' }]);
    expect(cluster.probe(`${VIP}:80`, 'tcp', 20).answers).toEqual({ [pods[0]!.name]: 20 });
  });

  it('keeps serving through a typo in a manifest, and gives an externalIP two Services claim to the older one', async () => {
    const EXT = '198.19.255.20';
    const http = { name: 'http', port: 80, targetPort: 'http' };
    const ports = [{ name: 'http', port: 8080, protocol: 'TCP' as const }];
    const dated = (svc: Service, created: string): Service => ({ ...svc, metadata: { ...svc.metadata, creationTimestamp: created } as Service['metadata'] });
    const older = dated(makeService(NS, 'older', { clusterIP: VIP, ports: [http], externalIPs: [EXT] }), '2024-01-01T00:00:00Z');
    const newer = dated(makeService(NS, 'newer', { clusterIP: '198.19.1.11', ports: [http], externalIPs: [EXT] }), '2025-01-01T00:00:00Z');
    const write = async (...svcs: Service[]) => {
      const syncs = agent.syncs();
      writeFileAtomic(
        path.join(dir, 'svc.json'),
        list(...svcs, makeSlice(NS, 'older-a', 'older', { ports, endpoints: endpointsOf([pods[0]!]) }), makeSlice(NS, 'newer-a', 'newer', { ports, endpoints: endpointsOf([pods[1]!]) })),
      );
      await agent.waitForSync(syncs);
    };
    await write(newer, older);
    expect(cluster.probe(`${EXT}:80`, 'tcp', 10).answers).toEqual({ [pods[0]!.name]: 10 });
    expect(cluster.probe('198.19.1.11:80', 'tcp', 5).answers).toEqual({ [pods[1]!.name]: 5 });
    // A port out of range in the older one: its last good version goes on serving.
    await write(newer, { ...older, spec: { ...older.spec, ports: [{ ...http, port: 70000 }] } });
    expect(cluster.probe(`${EXT}:80`, 'tcp', 10).answers).toEqual({ [pods[0]!.name]: 10 });
    const said = (text: string) => agent.log.filter((l) => l.includes(text)).length;
    expect(said('invalid Service it/older: spec.ports[0].port')).toBe(1);
    expect(said(`frontend ${EXT}:80/TCP is claimed by it/older:http/TCP and it/newer:http/TCP`)).toBe(1);
  });

  it('moves a UDP flow to a live backend at once when its backend goes away', async () => {
    const udp = { name: 'dns', port: 53, targetPort: 'dns', protocol: 'UDP' as const };
    await apply(makeService(NS, 'udp', { clusterIP: VIP, ports: [udp] }), pods);
    const flow = ['--sport', '40777', '--timeout-ms', '500'];
    const first = Object.keys(cluster.probe(`${VIP}:53`, 'udp', 3, flow).answers);
    expect(first).toHaveLength(1); // one flow, one backend
    await apply(makeService(NS, 'udp', { clusterIP: VIP, ports: [udp] }), pods.filter((p) => p.name !== first[0]));
    const after = cluster.probe(`${VIP}:53`, 'udp', 5, flow);
    expect(after.errors).toEqual({});
    expect(Object.keys(after.answers)).toHaveLength(1);
    expect(Object.keys(after.answers)[0]).not.toBe(first[0]);
  });
});
