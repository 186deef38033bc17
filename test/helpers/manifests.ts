// Builds Service and EndpointSlice manifests shaped like a real cluster's.
import type { EndpointSlice, Service, ServicePort } from '../../src/model/k8s.js';

export const NS = 'it';

export function service(name: string, clusterIP: string, ports: ServicePort[], extra: Partial<Service['spec']> = {}, lbIp?: string): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: NS, uid: `uid-${name}`, resourceVersion: '1' },
    spec: { type: 'ClusterIP', clusterIP, clusterIPs: [clusterIP], ports, ...extra },
    ...(lbIp ? { status: { loadBalancer: { ingress: [{ ip: lbIp }] } } } : {}),
  };
}

export function slice(
  svc: string,
  suffix: string,
  ports: EndpointSlice['ports'],
  /** nodeName: where the endpoint runs (default node-a) */
  pods: Array<{ name: string; ip: string; ready?: boolean; nodeName?: string }>,
): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${svc}-${suffix}`, namespace: NS, labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    ports,
    endpoints: pods.map((p) => ({
      addresses: [p.ip],
      conditions: { ready: p.ready ?? true, serving: p.ready ?? true, terminating: false },
      nodeName: p.nodeName ?? 'node-a',
      targetRef: { kind: 'Pod', namespace: NS, name: p.name },
    })),
  };
}

export function list(...items: Array<Service | EndpointSlice>): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items }, null, 2);
}
