// The benchmark's cluster: `count` Services of ENDPOINTS endpoints each, shaped like a
// real cluster's (ClusterIP, one port, one EndpointSlice), plus the one Service the
// end-to-end runs send traffic to. Addresses stay inside 198.18.0.0/15.
import type { EndpointSlice, Service } from '../src/model/k8s.js';
import { makeEndpoint, makeService, makeSlice } from '../test/fixtures/k8s.js';

export const ENDPOINTS = 10;
export const BENCH_NAMESPACE = 'bench';
/** The Service traffic is sent to: its endpoints are the bench pod's addresses. */
export const TARGET = { name: 'target', clusterIP: '198.19.0.10', port: 80, nodePort: 30080, targetPort: 9090 };
/** The same, with the endpoints of a bench pod on node-b: node-a SNATs its NodePort traffic. */
export const REMOTE_TARGET = { ...TARGET, name: 'remote-target', clusterIP: '198.19.0.11', nodePort: 30081 };

const ip = (n: number) => `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
/** VIPs from 198.19.192.0/18, filler backends from 198.18.4.0 upwards: disjoint, routed nowhere. */
export const vip = (i: number) => ip(((198 << 24) | (19 << 16) | (192 << 8)) + i);
const backendIp = (n: number) => ip(((198 << 24) | (18 << 16) | (4 << 8)) + n);

export function slice(svc: string, ips: string[], port: number, nodeName?: string): EndpointSlice {
  return makeSlice(BENCH_NAMESPACE, `${svc}-a`, svc, {
    ports: [{ name: 'http', port, protocol: 'TCP' }],
    endpoints: ips.map((addr) => makeEndpoint(addr, nodeName ? { nodeName } : undefined)),
  });
}

/** `count` filler ClusterIP Services of ENDPOINTS endpoints each. */
export function syntheticCluster(count: number): { services: Service[]; slices: EndpointSlice[] } {
  const services: Service[] = [];
  const slices: EndpointSlice[] = [];
  for (let i = 0; i < count; i++) {
    services.push(makeService(BENCH_NAMESPACE, `svc-${i}`, { clusterIP: vip(i), ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }));
    slices.push(slice(`svc-${i}`, Array.from({ length: ENDPOINTS }, (_, e) => backendIp(i * ENDPOINTS + e)), 8080));
  }
  return { services, slices };
}

/** A target Service (ClusterIP and NodePort) with `podIps`, on `nodeName`, as its endpoints. */
export function targetService(t: typeof TARGET, podIps: string[], nodeName?: string): { service: Service; slice: EndpointSlice } {
  return {
    service: makeService(BENCH_NAMESPACE, t.name, { type: 'NodePort', clusterIP: t.clusterIP, ports: [{ name: 'http', port: t.port, nodePort: t.nodePort, protocol: 'TCP' }] }),
    slice: slice(t.name, podIps, t.targetPort, nodeName),
  };
}

/**
 * `total` Services in all as one manifest (kind: List): the target (on node-a), with
 * `remoteIps` the remote target (on node-b), and fillers.
 */
export function clusterManifest(total: number, podIps: string[], remoteIps?: string[]): string {
  const targets = [targetService(TARGET, podIps, 'node-a'), ...(remoteIps ? [targetService(REMOTE_TARGET, remoteIps, 'node-b')] : [])];
  const { services, slices } = syntheticCluster(total - targets.length);
  // Compact, unlike the kit's list(): at 10,000 Services the agent's start reads it.
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [...targets.flatMap((t) => [t.service, t.slice]), ...services, ...slices] });
}
