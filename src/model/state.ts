// The desired load-balancing state: what the dataplanes program. Pure data.
import type { Protocol } from './k8s.js';
import { flat } from './compact.js';
import { ipv4ToInt } from './ipv4.js';

export type FrontendType = 'ClusterIP' | 'NodePort' | 'ExternalIP' | 'LoadBalancer';

export interface Frontend {
  addr: string;
  port: number;
  protocol: Protocol;
  type: FrontendType;
}

export interface Backend {
  addr: string;
  port: number;
  weight: number;
  /** Pod name from targetRef, for logs and dumps. */
  name?: string;
  /** Runs on another node (its EndpointSlice nodeName): external traffic to it is SNATed. */
  remote?: boolean;
}

/** One Service port: every frontend of it shares one backend set and one Maglev table. */
export interface LbService {
  /** "namespace/name:port/PROTO" — port is the port name, or the number when unnamed. */
  key: string;
  namespace: string;
  name: string;
  portName: string;
  protocol: Protocol;
  frontends: Frontend[];
  /** Sorted by address then port, deduplicated. */
  backends: Backend[];
  /**
   * With no backends: 'reject' refuses clients at once (no endpoints anywhere);
   * 'drop' when a Local traffic policy leaves this node without endpoints of its own.
   */
  noEndpoints: 'reject' | 'drop';
  /** sessionAffinity ClientIP timeout in seconds; 0 for no affinity */
  affinitySeconds: number;
  /** externalTrafficPolicy Local: external traffic keeps its client address (no masquerade) */
  externalPolicyLocal: boolean;
  /** internalTrafficPolicy Local: ClusterIP frontends reach only this node's endpoints */
  internalPolicyLocal: boolean;
  /** no endpoint is ready: the backends are serving terminating ones (KEP-1669's fallback) */
  terminatingFallback: boolean;
  /** loadBalancerSourceRanges (IPv4 CIDRs, normalised): clients allowed on LoadBalancer frontends; empty = all */
  sourceRanges: string[];
}

/** kube-proxy's healthCheckNodePort answer for an externalTrafficPolicy Local Service. */
export interface HealthCheck {
  namespace: string;
  name: string;
  /** ready endpoints on this node */
  localEndpoints: number;
}

export interface DesiredState {
  services: Map<string, LbService>;
  /** by healthCheckNodePort */
  healthChecks: Map<number, HealthCheck>;
}

/** What one build changed since the one before, by service key (changes as data). */
export interface StateDelta {
  /** services added or replaced */
  upserted: ReadonlySet<string>;
  /** services gone */
  removed: ReadonlySet<string>;
  /**
   * The build started over (the first, or the node changed): every service is
   * upserted, and what went before is not known, so a dataplane compares all it holds.
   */
  full: boolean;
}

/** A build's result: the whole desired state and how it differs from the last one. */
export interface StateUpdate {
  /** the builder's state, updated in place by its next build */
  state: DesiredState;
  delta: StateDelta;
  /** What this build found wrong in its input, or found righted: each said once, for the agent to log. */
  notices: ModelNotice[];
}

/** A decision the model made about conflicting input (two services claiming one frontend). */
export interface ModelNotice {
  /** 'warn' when a problem starts, 'info' when it ends */
  level: 'warn' | 'info';
  message: string;
  /** the log line's fields: the frontend and the services involved */
  fields: Record<string, string>;
}

export function frontendId(f: Pick<Frontend, 'addr' | 'port' | 'protocol'>): string {
  return flat(f.addr, ':', f.port, '/', f.protocol);
}

export function backendId(b: Pick<Backend, 'addr' | 'port'>): string {
  return flat(b.addr, ':', b.port);
}

/** How many (service port, backend) pairs the state holds: what a map keyed by backend is reserved for at a full sync. */
export function backendRefs(state: DesiredState): number {
  let n = 0;
  for (const svc of state.services.values()) n += svc.backends.length;
  return n;
}

/** A backend's address and port as one number below 2^48: the backends' order, and a NumberMap key. */
export function backendNumber(b: Pick<Backend, 'addr' | 'port'>): number {
  return ipv4ToInt(b.addr) * 65536 + b.port;
}
