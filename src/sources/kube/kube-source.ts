// The Kubernetes API as a source: Services, EndpointSlices and this node's Node object,
// each through a Reflector. Nothing is delivered until all three lists are synced, so a
// starting agent never programs a partial view; afterwards every change delivers the
// full cached state, which the dataplane turns into the difference.
import { CoreV1Api, DiscoveryV1Api, KubeConfig, type KubernetesListObject, type KubernetesObject, type V1Node } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { EndpointSlice, Service } from '../../model/k8s.js';
import type { Snapshot, Source } from '../snapshot.js';
import { DEFAULT_REFLECTOR_OPTIONS, Reflector, type ReflectorOptions } from './reflector.js';

export const ZONE_LABEL = 'topology.kubernetes.io/zone';
const PAGE_SIZE = 500;

export interface KubeSourceOptions {
  /** kubeconfig file; in-cluster config when absent */
  kubeconfig?: string;
  nodeName: string;
  reflector?: Partial<ReflectorOptions>;
}

type Page<T extends KubernetesObject> = (p: { limit: number; _continue?: string }) => Promise<KubernetesListObject<T>>;

/** Lists every page (limit/continue), keeping the resourceVersion of the last one. */
async function listAll<T extends KubernetesObject>(page: Page<T>): Promise<KubernetesListObject<T>> {
  const items: T[] = [];
  let cont: string | undefined;
  let last: KubernetesListObject<T>;
  do {
    last = await page({ limit: PAGE_SIZE, _continue: cont });
    items.push(...last.items);
    cont = last.metadata?._continue || undefined;
  } while (cont);
  return { ...last, items };
}

export function loadKubeConfig(file: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (file) kc.loadFromFile(file);
    else kc.loadFromCluster();
  } catch (err) {
    throw new Error(`cannot load ${file ? `kubeconfig ${file}` : 'in-cluster config'}: ${(err as Error).message}`);
  }
  if (!kc.getCurrentCluster()) {
    throw new Error(file ? `kubeconfig ${file} has no current cluster: set current-context` : 'no in-cluster config: pass --kubeconfig or --manifests');
  }
  return kc;
}

export class KubeSource implements Source {
  private reflectors: Array<Reflector<KubernetesObject>> = [];
  private pending?: NodeJS.Immediate;
  /** Loaded up front, so a bad kubeconfig fails before anything is programmed. */
  private readonly kc: KubeConfig;

  constructor(
    private readonly opts: KubeSourceOptions,
    private readonly log: Logger,
  ) {
    this.kc = loadKubeConfig(opts.kubeconfig);
  }

  async start(onSnapshot: (s: Snapshot) => void): Promise<void> {
    const kc = this.kc;
    const core = kc.makeApiClient(CoreV1Api);
    const discovery = kc.makeApiClient(DiscoveryV1Api);
    const ropts = { ...DEFAULT_REFLECTOR_OPTIONS, ...this.opts.reflector };
    // Changes that arrive together (a re-list, the events of one read) become one
    // snapshot, taken once they are all in: no added delay, so a change is programmed
    // as soon as the agent is free.
    const emit = () => {
      if (!this.reflectors.every((r) => r.isSynced) || this.pending) return;
      this.pending = setImmediate(() => {
        this.pending = undefined;
        onSnapshot(this.snapshot());
      });
    };
    const nodeField = `metadata.name=${this.opts.nodeName}`;
    const make = <T extends KubernetesObject>(what: string, path: string, page: Page<T>, field?: string) =>
      new Reflector<T>(what, path, kc, () => listAll(page), emit, this.log, ropts, field) as unknown as Reflector<KubernetesObject>;
    this.reflectors = [
      make('services', '/api/v1/services', (p) => core.listServiceForAllNamespaces(p)),
      make('endpointslices', '/apis/discovery.k8s.io/v1/endpointslices', (p) => discovery.listEndpointSliceForAllNamespaces(p)),
      // A field selector given to the watch must be given to the list too.
      make('node', '/api/v1/nodes', (p) => core.listNode({ ...p, fieldSelector: nodeField }), nodeField),
    ];
    for (const r of this.reflectors) r.start();
    this.log.info({ server: kc.getCurrentCluster()?.server, node: this.opts.nodeName }, 'watching the Kubernetes API');
  }

  stop(): void {
    clearImmediate(this.pending);
    this.pending = undefined;
    for (const r of this.reflectors) r.stop();
  }

  private snapshot(): Snapshot {
    const [services, slices, nodes] = this.reflectors.map((r) => r.list());
    const node = (nodes as V1Node[] | undefined)?.[0];
    return {
      services: (services ?? []) as unknown as Service[],
      slices: (slices ?? []) as unknown as EndpointSlice[],
      node: node
        ? {
            zone: node.metadata?.labels?.[ZONE_LABEL],
            ips: (node.status?.addresses ?? []).filter((a) => a.type === 'InternalIP' || a.type === 'ExternalIP').map((a) => a.address),
          }
        : undefined,
    };
  }
}
