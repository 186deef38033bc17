// The subset of Kubernetes object shapes xlb reads. Field names follow the API exactly
// so objects from manifests and from the API server are the same values.
import { flat } from './compact.js';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  resourceVersion?: string;
  uid?: string;
  /** RFC 3339; the older of two Services claiming one frontend keeps it */
  creationTimestamp?: string;
}

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

export interface ServicePort {
  name?: string;
  protocol?: Protocol;
  port: number;
  targetPort?: number | string;
  nodePort?: number;
}

export interface Service {
  apiVersion?: string;
  kind?: 'Service';
  metadata: ObjectMeta;
  spec: {
    type?: 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';
    clusterIP?: string;
    clusterIPs?: string[];
    externalIPs?: string[];
    ports?: ServicePort[];
    externalName?: string;
    externalTrafficPolicy?: 'Cluster' | 'Local';
    internalTrafficPolicy?: 'Cluster' | 'Local';
    trafficDistribution?: string;
    sessionAffinity?: 'None' | 'ClientIP';
    loadBalancerSourceRanges?: string[];
    healthCheckNodePort?: number;
    publishNotReadyAddresses?: boolean;
    sessionAffinityConfig?: { clientIP?: { timeoutSeconds?: number } };
  };
  status?: { loadBalancer?: { ingress?: Array<{ ip?: string; hostname?: string }> } };
}

export interface EndpointConditions {
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

export interface Endpoint {
  addresses: string[];
  conditions?: EndpointConditions;
  nodeName?: string;
  zone?: string;
  hints?: { forZones?: Array<{ name: string }> };
  targetRef?: { kind?: string; name?: string; namespace?: string };
}

export interface EndpointPort {
  name?: string;
  protocol?: Protocol;
  port?: number;
}

export interface EndpointSlice {
  apiVersion?: string;
  kind?: 'EndpointSlice';
  metadata: ObjectMeta;
  addressType: 'IPv4' | 'IPv6' | 'FQDN';
  endpoints?: Endpoint[];
  ports?: EndpointPort[];
}

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
/** Services carrying it belong to another proxy (unless its value is ours). */
export const SERVICE_PROXY_NAME_LABEL = 'service.kubernetes.io/service-proxy-name';
/** Services carrying it are headless whatever their clusterIP. */
export const HEADLESS_LABEL = 'service.kubernetes.io/headless';
export const TOPOLOGY_MODE_ANNOTATION = 'service.kubernetes.io/topology-mode';
/** The deprecated name of the topology-mode annotation, still honoured by kube-proxy. */
export const TOPOLOGY_HINTS_ANNOTATION = 'service.kubernetes.io/topology-aware-hints';

/** An object's name as the sources, the gate and the model key it: "namespace/name". */
export function objectName(o: { metadata: Pick<ObjectMeta, 'name' | 'namespace'> }): string {
  return flat(o.metadata.namespace || 'default', '/', o.metadata.name);
}

/** Objects that changed: their new versions, and the names (objectName) of those gone. */
export interface ObjectChanges<T> {
  upserted: T[];
  deleted: string[];
}
