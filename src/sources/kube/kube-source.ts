// The Kubernetes API as a source: Services, EndpointSlices and this node's Node object,
// each through a Reflector. Nothing is delivered until all three lists are synced, so a
// starting agent never programs a partial view: the first delivery is the whole state,
// every later one what the watches (and re-lists) changed since.
import fs from 'node:fs';
import path from 'node:path';
import { KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { SnapshotGate } from '../object-gate.js';
import type { Changes, NodeFacts, Snapshot, Source, SourceUpdate } from '../snapshot.js';
import { DEFAULT_REFLECTOR_OPTIONS, Reflector, type ReflectorOptions } from './reflector.js';
import { listAll } from './list.js';
import { TRIGGER_TIME_ANNOTATION, trimEndpointSlice, trimNode, trimService, type NodeInfo } from './trim.js';
import { objectName, type EndpointSlice, type ObjectChanges, type Service } from '../../model/k8s.js';

export const ZONE_LABEL = 'topology.kubernetes.io/zone';

export interface KubeSourceOptions {
  /** kubeconfig file; in-cluster config when absent */
  kubeconfig?: string;
  /** see KubeConfigOptions.root */
  inClusterRoot?: string;
  nodeName: string;
  reflector?: Partial<ReflectorOptions>;
}

/** Where a Pod's service account token and CA certificate are mounted. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface KubeConfigOptions {
  /** The directory SERVICE_ACCOUNT_DIR is read under instead of / (tests keep a service account in a temp dir). */
  root?: string;
}

/**
 * The API server and credentials: from `file`, else in-cluster (the Pod's service account
 * and KUBERNETES_SERVICE_HOST/PORT, as client-node reads them), saying what is missing.
 */
export function loadKubeConfig(file: string | undefined, { root = '' }: KubeConfigOptions = {}): KubeConfig {
  const kc = new KubeConfig();
  if (file) {
    try {
      kc.loadFromFile(file);
    } catch (err) {
      throw new Error(`cannot load kubeconfig ${file}: ${(err as Error).message}`);
    }
    if (!kc.getCurrentCluster()) throw new Error(`kubeconfig ${file} has no current cluster: set current-context`);
    return kc;
  }
  // client-node would fail later and vaguely (a request to https://undefined:undefined).
  const dir = path.join(root, SERVICE_ACCOUNT_DIR);
  const missing = [
    ...['KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT'].filter((v) => !process.env[v]).map((v) => `${v} unset`),
    ...[['token', 'service account token'], ['ca.crt', 'CA certificate']]
      .filter(([name]) => !fs.existsSync(path.join(dir, name!)))
      .map(([name, what]) => `no ${what} at ${path.join(dir, name!)}`),
  ];
  if (missing.length > 0) throw new Error(`no in-cluster config (${missing.join(', ')}): pass --kubeconfig or --manifests`);
  kc.loadFromCluster(root);
  return kc;
}

/** The EndpointSlice controller's record of when the change it publishes happened (kube-proxy measures from it too). */
export { TRIGGER_TIME_ANNOTATION };
/** A burst of changes needs only so many samples of its latency. */
const MAX_TRIGGERS = 10_000;

function triggerTime(obj: KubernetesObject): number {
  const annotated = Date.parse(obj.metadata?.annotations?.[TRIGGER_TIME_ANNOTATION] ?? '');
  return Number.isNaN(annotated) ? Date.now() : annotated;
}

/** Changes by objectName since the last delivery: the new version, or null when gone. */
type Pending = Map<string, KubernetesObject | null>;

function take(pending: Pending): ObjectChanges<KubernetesObject> {
  const out: ObjectChanges<KubernetesObject> = { upserted: [], deleted: [] };
  for (const [name, obj] of pending) {
    if (obj) out.upserted.push(obj);
    else out.deleted.push(name);
  }
  pending.clear();
  return out;
}

export class KubeSource implements Source {
  private reflectors: Array<Reflector<KubernetesObject>> = [];
  private pending?: NodeJS.Immediate;
  /** When the changes not yet delivered were made (see Snapshot.triggers). */
  private triggers: number[] = [];
  /** Services' and EndpointSlices' changes not yet delivered (kept once the first snapshot went). */
  private readonly changed = { services: new Map() as Pending, slices: new Map() as Pending };
  private delivered = false;
  /** Loaded up front, so a bad kubeconfig fails before anything is programmed. */
  private readonly kc: KubeConfig;
  /** The API server validated these objects, but not as the model reads them (an IPv4 field, a port): they pass the gate too. */
  private readonly gate: SnapshotGate;

  constructor(
    private readonly opts: KubeSourceOptions,
    private readonly log: Logger,
  ) {
    this.kc = loadKubeConfig(opts.kubeconfig, { root: opts.inClusterRoot });
    this.gate = new SnapshotGate(log);
  }

  async start(onUpdate: (u: SourceUpdate) => void): Promise<void> {
    const kc = this.kc;
    const ropts = { ...DEFAULT_REFLECTOR_OPTIONS, ...this.opts.reflector };
    // Changes that arrive together (a re-list, the events of one read) are delivered
    // together once they are all in: no added delay, so a change is programmed as soon
    // as the agent is free.
    const emit = (pending: Pending | undefined) => (obj: KubernetesObject, deleted: boolean, live: boolean) => {
      if (!this.reflectors.every((r) => r.isSynced)) return;
      if (this.delivered) pending?.set(objectName(obj as { metadata: { name: string; namespace?: string } }), deleted ? null : obj);
      if (live && this.triggers.length < MAX_TRIGGERS) this.triggers.push(triggerTime(obj));
      if (this.pending) return;
      this.pending = setImmediate(() => {
        this.pending = undefined;
        const triggers = this.triggers;
        this.triggers = [];
        const update = this.delivered ? this.changes() : this.snapshot();
        this.delivered = true;
        onUpdate({ ...update, node: this.node(), triggers });
      });
    };
    const nodeField = `metadata.name=${this.opts.nodeName}`;
    const make = <T>(what: string, path: string, trim: (o: T) => T, pending?: Pending, field?: string) => {
      const keep = trim as unknown as (o: KubernetesObject) => KubernetesObject;
      // A field selector given to the watch must be given to the list too.
      const list = () => listAll(kc, path, keep, field) as Promise<KubernetesListObject<KubernetesObject>>;
      return new Reflector<KubernetesObject>(what, path, kc, list, keep, emit(pending), this.log, ropts, field);
    };
    this.reflectors = [
      make<Service>('services', '/api/v1/services', trimService, this.changed.services),
      make<EndpointSlice>('endpointslices', '/apis/discovery.k8s.io/v1/endpointslices', trimEndpointSlice, this.changed.slices),
      // The Node is read whole at each delivery: it is one object.
      make<NodeInfo>('node', '/api/v1/nodes', trimNode, undefined, nodeField),
    ];
    for (const r of this.reflectors) r.start();
    this.log.info({ server: kc.getCurrentCluster()?.server, node: this.opts.nodeName }, 'watching the Kubernetes API');
  }

  unreachableSince(): number | undefined {
    const since = this.reflectors.map((r) => r.failingSince).filter((t) => t !== undefined);
    return since.length ? Math.min(...since) : undefined;
  }

  stop(): void {
    clearImmediate(this.pending);
    this.pending = undefined;
    for (const r of this.reflectors) r.stop();
  }

  private snapshot(): Snapshot {
    const [services, slices] = this.reflectors.map((r) => r.list());
    return { full: true, ...this.gate.admit(services ?? [], slices ?? []) };
  }

  private changes(): Changes {
    return { full: false, ...this.gate.change(take(this.changed.services), take(this.changed.slices)) };
  }

  private node(): NodeFacts | undefined {
    const node = this.reflectors[2]?.list()[0] as NodeInfo | undefined;
    if (!node) return undefined;
    return {
      zone: node.metadata?.labels?.[ZONE_LABEL],
      ips: (node.status?.addresses ?? []).filter((a) => a.type === 'InternalIP' || a.type === 'ExternalIP').map((a) => a.address),
    };
  }
}
