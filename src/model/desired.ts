// Services + EndpointSlices -> desired state, with kube-proxy's rules for which
// Services are served and which endpoints back them.
import { isIPv4 } from 'node:net';
import {
  SERVICE_NAME_LABEL,
  type Endpoint,
  type EndpointSlice,
  type Protocol,
  type Service,
  type ServicePort,
} from './k8s.js';
import { backendId, type Backend, type DesiredState, type Frontend, type LbService } from './state.js';

export interface NodeContext {
  name: string;
  /** IPv4 addresses NodePorts are served on. */
  ips: string[];
}

/** Protocols the datapath translates; others are left to the kernel. */
const SERVED_PROTOCOLS: ReadonlySet<Protocol> = new Set<Protocol>(['TCP', 'UDP']);

/** kube-proxy's ShouldSkipService: headless, IP-less and ExternalName Services get no rules. */
export function isServed(svc: Service): boolean {
  if (svc.spec.type === 'ExternalName') return false;
  const ip = svc.spec.clusterIP;
  return ip !== undefined && ip !== '' && ip !== 'None';
}

export function namespaceOf(obj: { metadata: { namespace?: string } }): string {
  return obj.metadata.namespace || 'default';
}

export function serviceKey(svc: Service, port: ServicePort): string {
  return `${namespaceOf(svc)}/${svc.metadata.name}:${port.name || port.port}/${port.protocol ?? 'TCP'}`;
}

function clusterIPv4s(svc: Service): string[] {
  const ips = svc.spec.clusterIPs?.length ? svc.spec.clusterIPs : [svc.spec.clusterIP ?? ''];
  return ips.filter((ip) => isIPv4(ip));
}

function frontendsOf(svc: Service, port: ServicePort, node: NodeContext): Frontend[] {
  const protocol = port.protocol ?? 'TCP';
  const out: Frontend[] = [];
  const add = (addr: string, p: number, type: Frontend['type']) => {
    if (isIPv4(addr)) out.push({ addr, port: p, protocol, type });
  };
  for (const ip of clusterIPv4s(svc)) add(ip, port.port, 'ClusterIP');
  const type = svc.spec.type ?? 'ClusterIP';
  if ((type === 'NodePort' || type === 'LoadBalancer') && port.nodePort) {
    for (const ip of node.ips) add(ip, port.nodePort, 'NodePort');
  }
  for (const ip of svc.spec.externalIPs ?? []) add(ip, port.port, 'ExternalIP');
  if (type === 'LoadBalancer') {
    for (const ing of svc.status?.loadBalancer?.ingress ?? []) add(ing.ip ?? '', port.port, 'LoadBalancer');
  }
  return out;
}

/** An endpoint serves when ready; the API treats a missing `ready` as true. */
function isReady(ep: Endpoint): boolean {
  return ep.conditions?.ready !== false;
}

function backendsOf(port: ServicePort, slices: EndpointSlice[]): Backend[] {
  const protocol = port.protocol ?? 'TCP';
  const byId = new Map<string, Backend>();
  for (const slice of slices) {
    if (slice.addressType !== 'IPv4') continue;
    // Slice ports carry the resolved target port per port name, so named
    // targetPorts are already numbers here.
    const sp = slice.ports?.find((p) => (p.name ?? '') === (port.name ?? '') && (p.protocol ?? 'TCP') === protocol);
    if (!sp?.port) continue;
    for (const ep of slice.endpoints ?? []) {
      const addr = ep.addresses[0];
      if (!addr || !isIPv4(addr) || !isReady(ep)) continue;
      const b: Backend = { addr, port: sp.port, weight: 1, name: ep.targetRef?.name };
      byId.set(backendId(b), b);
    }
  }
  return [...byId.values()].sort(compareBackends);
}

function compareBackends(a: Backend, b: Backend): number {
  return ipToInt(a.addr) - ipToInt(b.addr) || a.port - b.port;
}

export function ipToInt(ip: string): number {
  const [a, b, c, d] = ip.split('.').map(Number) as [number, number, number, number];
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

function slicesByService(slices: EndpointSlice[]): Map<string, EndpointSlice[]> {
  const out = new Map<string, EndpointSlice[]>();
  for (const s of slices) {
    const svcName = s.metadata.labels?.[SERVICE_NAME_LABEL];
    if (!svcName) continue;
    const k = `${namespaceOf(s)}/${svcName}`;
    const list = out.get(k);
    if (list) list.push(s);
    else out.set(k, [s]);
  }
  return out;
}

export function buildDesiredState(services: Service[], slices: EndpointSlice[], node: NodeContext): DesiredState {
  const bySvc = slicesByService(slices);
  const out = new Map<string, LbService>();
  for (const svc of services) {
    if (!isServed(svc)) continue;
    const svcSlices = bySvc.get(`${namespaceOf(svc)}/${svc.metadata.name}`) ?? [];
    for (const port of svc.spec.ports ?? []) {
      const protocol = port.protocol ?? 'TCP';
      if (!SERVED_PROTOCOLS.has(protocol)) continue;
      const key = serviceKey(svc, port);
      out.set(key, {
        key,
        namespace: namespaceOf(svc),
        name: svc.metadata.name,
        portName: port.name ?? '',
        protocol,
        frontends: frontendsOf(svc, port, node),
        backends: backendsOf(port, svcSlices),
      });
    }
  }
  return { services: out };
}
