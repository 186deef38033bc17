// What the agent keeps of an object: only the fields the model reads (src/model/k8s.ts),
// as client-go's informer transforms do: the API's as they arrive, a manifest's valid
// ones as they are parsed (manifest-file.ts). Object literals of one shape each: fields
// the API left out are present and undefined (no `delete`, which makes slow
// dictionaries). At 10,000 Services a cache of whole objects (managed fields,
// last-applied annotations, status) costs hundreds of MB and the time to collect them;
// trimmed objects are small plain values.
import type { Endpoint, EndpointSlice, ObjectMeta, Service } from '../model/k8s.js';
import { TOPOLOGY_HINTS_ANNOTATION, TOPOLOGY_MODE_ANNOTATION } from '../model/k8s.js';

/** The annotations the agent reads; every other one (kubectl's last-applied configuration) is dropped. */
export const TRIGGER_TIME_ANNOTATION = 'endpoints.kubernetes.io/last-change-trigger-time';
const KEPT_ANNOTATIONS = [TOPOLOGY_MODE_ANNOTATION, TOPOLOGY_HINTS_ANNOTATION, TRIGGER_TIME_ANNOTATION];

/** Distinct values kept by shared(): node names of a large cluster, namespaces, kinds. */
const SHARED_MAX = 20_000;
const sharedValues = new Map<string, string>();

/**
 * One copy of a value many objects repeat: JSON.parse makes a string per occurrence
 * (at 100,000 endpoints each nodeName is its own 30-byte string). Anything else is
 * returned as it is, for the gate to judge.
 */
function shared<T>(v: T): T {
  if (typeof v !== 'string') return v;
  const known = sharedValues.get(v);
  if (known !== undefined) return known as T;
  if (sharedValues.size < SHARED_MAX) sharedValues.set(v, v);
  return v;
}

/** `created`: the creationTimestamp, kept for Services only (the model orders their claims by age). */
function meta(m: Partial<ObjectMeta> | undefined, created?: string): ObjectMeta {
  let annotations: Record<string, string> | undefined;
  for (const k of KEPT_ANNOTATIONS) {
    const v = m?.annotations?.[k];
    if (v !== undefined) (annotations ??= {})[k] = v;
  }
  return ({ name: m?.name ?? '', namespace: shared(m?.namespace), labels: m?.labels, annotations, resourceVersion: m?.resourceVersion, uid: m?.uid, creationTimestamp: created });
}

export function trimService(s: Service): Service {
  const spec = s.spec ?? {};
  return ({
    apiVersion: shared(s.apiVersion),
    kind: shared(s.kind),
    metadata: meta(s.metadata, s.metadata?.creationTimestamp),
    spec: ({
      type: spec.type,
      clusterIP: spec.clusterIP,
      // Left out when it only repeats clusterIP (single-stack), as the model reads it.
      clusterIPs: spec.clusterIPs?.length === 1 && spec.clusterIPs[0] === spec.clusterIP ? undefined : spec.clusterIPs,
      externalIPs: spec.externalIPs,
      ports: spec.ports?.map((p) => ({ name: p.name, protocol: p.protocol, port: p.port, targetPort: p.targetPort, nodePort: p.nodePort })),
      externalName: spec.externalName,
      externalTrafficPolicy: spec.externalTrafficPolicy,
      internalTrafficPolicy: spec.internalTrafficPolicy,
      trafficDistribution: spec.trafficDistribution,
      sessionAffinity: spec.sessionAffinity,
      loadBalancerSourceRanges: spec.loadBalancerSourceRanges,
      healthCheckNodePort: spec.healthCheckNodePort,
      publishNotReadyAddresses: spec.publishNotReadyAddresses,
      sessionAffinityConfig: spec.sessionAffinityConfig,
    }),
    status: s.status?.loadBalancer?.ingress ? { loadBalancer: { ingress: s.status.loadBalancer.ingress.map((i) => ({ ip: i.ip, hostname: i.hostname })) } } : undefined,
  });
}

type Conditions = NonNullable<Endpoint['conditions']>;
/**
 * Endpoints share one object per combination of conditions (100,000 endpoints: 5 MB
 * less); the model only reads them. By each condition absent, true or false.
 */
const sharedConditions: Array<Conditions | undefined> = [];
const state = (v: unknown) => (v === undefined ? 0 : v === true ? 1 : v === false ? 2 : -1);

function conditions(c: Conditions | undefined): Conditions | undefined {
  if (!c) return undefined;
  const { ready, serving, terminating } = c;
  const r = state(ready);
  const s = state(serving);
  const t = state(terminating);
  // Only well-formed ones are shared: the gate reports anything else on its own object.
  if (r < 0 || s < 0 || t < 0) return { ready, serving, terminating };
  return (sharedConditions[r * 9 + s * 3 + t] ??= Object.freeze({ ready, serving, terminating }));
}

/**
 * A kept endpoint. Its one address is held as a string and the API's one-element array
 * made when read (once a build): 56 bytes less an endpoint, 56 MB at 100,000 Services
 * of ten. Any other list (none, several, not strings) is kept as given, for the gate.
 * No zone: topology goes by hints and the node's own zone.
 */
class KeptEndpoint implements Endpoint {
  constructor(
    private readonly address: string | undefined,
    private readonly list: string[] | undefined,
    readonly conditions: Endpoint['conditions'],
    readonly nodeName: string | undefined,
    readonly hints: Endpoint['hints'],
    readonly targetRef: Endpoint['targetRef'],
  ) {}

  get addresses(): string[] {
    return this.address !== undefined ? [this.address] : this.list!;
  }
}

function endpoint(e: Endpoint): Endpoint {
  const one = Array.isArray(e.addresses) && e.addresses.length === 1 && typeof e.addresses[0] === 'string' ? e.addresses[0] : undefined;
  return new KeptEndpoint(
    one,
    one === undefined ? e.addresses : undefined,
    conditions(e.conditions),
    shared(e.nodeName),
    e.hints?.forZones ? { forZones: e.hints.forZones.map((z) => ({ name: z.name })) } : undefined,
    // The model reads the Pod's name only.
    e.targetRef && { name: e.targetRef.name },
  );
}

export function trimEndpointSlice(s: EndpointSlice): EndpointSlice {
  return ({
    apiVersion: shared(s.apiVersion),
    kind: shared(s.kind),
    metadata: meta(s.metadata),
    addressType: s.addressType,
    endpoints: s.endpoints?.map(endpoint),
    ports: s.ports?.map((p) => ({ name: p.name, protocol: p.protocol, port: p.port })),
  });
}

/** This node: its zone label and addresses. */
export interface NodeInfo {
  metadata: ObjectMeta;
  status?: { addresses?: Array<{ type: string; address: string }> };
}

export function trimNode(n: NodeInfo): NodeInfo {
  return ({ metadata: meta(n.metadata), status: n.status?.addresses ? { addresses: n.status.addresses.map((a) => ({ type: a.type, address: a.address })) } : undefined });
}
