// The Kubernetes API as a source: Services, EndpointSlices and this node's Node object,
// each through a Reflector. Nothing is delivered until all three lists are synced, so a
// starting agent never programs a partial view: the first delivery is the whole state,
// every later one what the watches (and re-lists) changed since.
import type { Logger } from 'pino';
import { SnapshotGate } from '../object-gate.js';
import type { Changes, NodeFacts, Snapshot, Source, SourceUpdate } from '../snapshot.js';
import { DEFAULT_REFLECTOR_OPTIONS, Reflector, type KubeObject, type ReflectorOptions } from './reflector.js';
import { loadApiAccess, type ApiAccess } from './access.js';
import { TRIGGER_TIME_ANNOTATION, trimEndpointSlice, trimNode, trimService, type NodeInfo } from '../trim.js';
import { objectName, type EndpointSlice, type ObjectChanges, type Service } from '../../model/k8s.js';

export const ZONE_LABEL = 'topology.kubernetes.io/zone';
export { SERVICE_ACCOUNT_DIR } from './access.js';

export interface KubeSourceOptions {
  /** kubeconfig file; in-cluster config when absent */
  kubeconfig?: string;
  /** The directory the service account is read under instead of / (tests keep one in a temp dir). */
  inClusterRoot?: string;
  nodeName: string;
  reflector?: Partial<ReflectorOptions>;
}

/** The EndpointSlice controller's record of when the change it publishes happened (kube-proxy measures from it too). */
export { TRIGGER_TIME_ANNOTATION };
/** A burst of changes needs only so many samples of its latency. */
const MAX_TRIGGERS = 10_000;

function triggerTime(obj: KubeObject & { metadata?: { annotations?: Record<string, string> } }): number {
  const annotated = Date.parse(obj.metadata?.annotations?.[TRIGGER_TIME_ANNOTATION] ?? '');
  return Number.isNaN(annotated) ? Date.now() : annotated;
}

/** Changes by objectName since the last delivery: the new version, or null when gone. */
type Pending = Map<string, KubeObject | null>;

function take(pending: Pending): ObjectChanges<KubeObject> {
  const out: ObjectChanges<KubeObject> = { upserted: [], deleted: [] };
  for (const [name, obj] of pending) {
    if (obj) out.upserted.push(obj);
    else out.deleted.push(name);
  }
  pending.clear();
  return out;
}

export class KubeSource implements Source {
  private reflectors: Array<Reflector<KubeObject>> = [];
  private pending?: NodeJS.Immediate;
  /** When the changes not yet delivered were made (see Snapshot.triggers). */
  private triggers: number[] = [];
  /** Services' and EndpointSlices' changes not yet delivered (kept once the first snapshot went). */
  private readonly changed = { services: new Map() as Pending, slices: new Map() as Pending };
  private delivered = false;
  /** Loaded up front, so a bad kubeconfig fails before anything is programmed. */
  private readonly access: ApiAccess;
  /** The API server validated these objects, but not as the model reads them (an IPv4 field, a port): they pass the gate too. */
  private readonly gate: SnapshotGate;

  constructor(
    private readonly opts: KubeSourceOptions,
    private readonly log: Logger,
  ) {
    this.access = loadApiAccess(opts.kubeconfig, { root: opts.inClusterRoot });
    this.gate = new SnapshotGate(log);
  }

  async start(onUpdate: (u: SourceUpdate) => void): Promise<void> {
    const ropts = { ...DEFAULT_REFLECTOR_OPTIONS, ...this.opts.reflector };
    // Changes that arrive together (a re-list, the events of one read) are delivered
    // together once they are all in: no added delay, so a change is programmed as soon
    // as the agent is free. Nothing goes before every first list is in.
    const deliver = () => {
      if (this.pending || !this.reflectors.every((r) => r.isSynced)) return;
      this.pending = setImmediate(() => {
        this.pending = undefined;
        const triggers = this.triggers;
        this.triggers = [];
        const update = this.delivered ? this.changes() : this.snapshot();
        this.delivered = true;
        onUpdate({ ...update, node: this.node(), triggers });
      });
    };
    const handlers = (pending: Pending | undefined) => ({
      changed: (obj: KubeObject, deleted: boolean, live: boolean) => {
        if (!this.reflectors.every((r) => r.isSynced)) return;
        if (this.delivered) pending?.set(objectName(obj as { metadata: { name: string; namespace?: string } }), deleted ? null : obj);
        if (live && this.triggers.length < MAX_TRIGGERS) this.triggers.push(triggerTime(obj));
        deliver();
      },
      synced: deliver,
    });
    const make = <T>(what: string, path: string, trim: (o: T) => T, pending?: Pending, field?: string) =>
      new Reflector<KubeObject>(what, path, this.access, trim as unknown as (o: KubeObject) => KubeObject, handlers(pending), this.log, ropts, field);
    // Each object is checked as it arrives: a list's pages come while the agent waits
    // for the next, and the first delivery then only collects what is checked.
    const vetted =
      <T extends object>(trim: (o: T) => T, vet: (o: object) => void) =>
      (o: T): T => {
        const kept = trim(o);
        vet(kept);
        return kept;
      };
    this.reflectors = [
      make<Service>('services', '/api/v1/services', vetted(trimService, (o) => this.gate.vetService(o)), this.changed.services),
      make<EndpointSlice>('endpointslices', '/apis/discovery.k8s.io/v1/endpointslices', vetted(trimEndpointSlice, (o) => this.gate.vetSlice(o)), this.changed.slices),
      // The Node is read whole at each delivery: it is one object.
      make<NodeInfo>('node', '/api/v1/nodes', trimNode, undefined, `metadata.name=${this.opts.nodeName}`),
    ];
    for (const r of this.reflectors) r.start();
    this.log.info({ server: this.access.server, node: this.opts.nodeName }, 'watching the Kubernetes API');
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
