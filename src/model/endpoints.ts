// Which endpoints serve which traffic, as kube-proxy's CategorizeEndpoints decides:
// ready endpoints first, serving-terminating ones only when no ready one exists
// (KEP-1669), topology hints when every ready endpoint carries them, and the
// Local traffic policies restricted to this node's endpoints.

export interface EndpointInfo {
  addr: string;
  port: number;
  /** backendNumber of addr and port: what tells endpoints apart, and orders backends */
  number: number;
  name?: string;
  nodeName?: string;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  /** hints.forZones; undefined when the endpoint has no hints */
  zoneHints?: string[];
}

export interface PolicyInputs {
  internalLocal: boolean;
  externalLocal: boolean;
  /** whether the Service has external frontends at all (NodePort, ExternalIP, LB) */
  external: boolean;
  /** topology-mode Auto annotation or trafficDistribution PreferClose */
  topologyRequested: boolean;
}

export interface NodeInfo {
  name: string;
  zone?: string;
}

export interface Categorized {
  cluster: EndpointInfo[];
  local: EndpointInfo[];
  /** any ready or serving-terminating endpoint exists anywhere */
  hasAny: boolean;
}

const isServingTerminating = (ep: EndpointInfo) => ep.serving && ep.terminating;

function canUseTopology(eps: EndpointInfo[], topologyRequested: boolean, zone: string | undefined): boolean {
  if (!topologyRequested || !zone) return false;
  let hasZone = false;
  for (const ep of eps) {
    if (!ep.ready) continue;
    // One ready endpoint without hints disables hints for the whole service.
    if (!ep.zoneHints?.length) return false;
    if (ep.zoneHints.includes(zone)) hasZone = true;
  }
  return hasZone;
}

export function categorizeEndpoints(eps: EndpointInfo[], policy: PolicyInputs, node: NodeInfo): Categorized {
  const usesCluster = !policy.internalLocal || (policy.external && !policy.externalLocal);
  const usesLocal = policy.internalLocal || (policy.external && policy.externalLocal);
  let cluster: EndpointInfo[] = [];
  let hasAny = false;
  if (usesCluster) {
    const topo = canUseTopology(eps, policy.topologyRequested, node.zone);
    cluster = eps.filter((ep) => ep.ready && (!topo || ep.zoneHints!.includes(node.zone!)));
    if (cluster.length === 0) cluster = eps.filter(isServingTerminating);
    hasAny = cluster.length > 0;
  }
  let local: EndpointInfo[] = [];
  if (usesLocal) {
    const isLocal = (ep: EndpointInfo) => ep.nodeName === node.name;
    if (eps.some((ep) => ep.ready || isServingTerminating(ep))) hasAny = true;
    local = eps.filter((ep) => isLocal(ep) && ep.ready);
    if (local.length === 0) local = eps.filter((ep) => isLocal(ep) && isServingTerminating(ep));
  }
  return { cluster, local, hasAny };
}
