// Wires a source to a dataplane through the model: source update -> desired state -> apply.
// Applies run one at a time, in the order the updates came (each may hold only changes).
// The source starts while the dataplane loads (the eBPF verifier takes a third of a
// second, the first list of 10,000 Services half a second): updates wait until it is in.
import { isIPv4 } from 'node:net';
import type { Logger } from 'pino';
import { DesiredStateBuilder, type NodeContext } from './model/desired.js';
import { collectGarbage } from './collect-garbage.js';
import type { Dataplane } from './dataplane/types.js';
import type { Source, SourceUpdate } from './sources/snapshot.js';
import type { HealthServer } from './health/health-server.js';
import type { AgentStatus } from './observe/status.js';
import type { AgentMetrics } from './observe/metrics.js';

/** How often the source's reachability is looked at, for readiness. */
const REACHABILITY_POLL_MS = 1000;
/** A failed sync is tried again after this, doubling up to the maximum, until one succeeds. */
export const RETRY_INITIAL_MS = 1000;
const RETRY_MAX_MS = 30_000;

/** Where the agent reports what it does: the status (readiness, lbctl status) and the metrics. */
export interface Observers {
  status: AgentStatus;
  metrics: AgentMetrics;
}

export class Agent {
  private readonly pending: SourceUpdate[] = [];
  private running = false;
  private syncs = 0;
  private readonly model = new DesiredStateBuilder();
  private poll?: NodeJS.Timeout;
  private retry?: NodeJS.Timeout;
  private retryMs = RETRY_INITIAL_MS;
  /** What the source last said of the node, for a retry (which carries no update of its own). */
  private lastNode?: SourceUpdate['node'];
  /** once loaded */
  private dataplane?: Dataplane;

  /**
   * `node.ips` are the NodePort addresses from --node-ip when `fixedIps`; otherwise
   * the Node object's addresses are used once the source knows them.
   */
  constructor(
    private readonly source: Source,
    private readonly loading: Promise<Dataplane>,
    private readonly health: HealthServer,
    private readonly node: NodeContext,
    private readonly fixedIps: boolean,
    private readonly observers: Observers,
    private readonly log: Logger,
  ) {}

  private nodeContext(snap: SourceUpdate): NodeContext {
    const known = snap.node;
    const ips = this.fixedIps || !known?.ips.length ? this.node.ips : known.ips.filter((ip) => isIPv4(ip));
    return { ...this.node, ips, zone: known?.zone ?? this.node.zone };
  }

  /** Starts the source, and syncs once the dataplane is loaded; rejects if it fails to load. */
  async start(): Promise<void> {
    this.poll = setInterval(() => this.observers.status.source(this.source.unreachableSince?.()), REACHABILITY_POLL_MS).unref();
    const listing = this.source.start((update) => this.take(update));
    listing.catch(() => undefined); // handled: awaited once the dataplane is in
    this.dataplane = await this.loading;
    if (!this.running) this.drain();
    await listing;
  }

  private take(update: SourceUpdate): void {
    // An update is a retry too: the dataplanes compare everything after a failure.
    clearTimeout(this.retry);
    this.retry = undefined;
    this.pending.push(update);
    if (!this.running && this.dataplane) this.drain();
  }

  stop(): void {
    clearInterval(this.poll);
    clearTimeout(this.retry);
    this.observers.status.close();
    this.source.stop();
    this.health.close();
    this.dataplane?.close?.();
  }

  private drain(): void {
    this.running = true;
    for (let next = this.pending.shift(); next; next = this.pending.shift()) this.sync(next);
    this.running = false;
  }

  /** A dataplane waiting for its first full state goes live; if that fails, after the next sync. */
  private goLive(): void {
    try {
      this.dataplane!.applied?.();
    } catch (err) {
      this.log.error({ err }, 'attaching the programs failed; trying again after the next sync');
      this.observers.status.failed(`attaching the programs: ${(err as Error).message}`);
    }
  }

  private sync(snap: SourceUpdate): void {
    const t0 = process.hrtime.bigint();
    this.lastNode = snap.node;
    try {
      const node = this.nodeContext(snap);
      // The first sync builds the whole model after the lists, whose garbage (the API's
      // whole objects) is dead by then, and the model's own (its working sets) is dead
      // before the dataplane's: a collection at each edge keeps the start's peak at its
      // live data (10,000 Services: 130-131 MB in every run, against 135-149), for ~30 ms.
      const first = this.syncs === 0;
      if (first) collectGarbage();
      const update = snap.full ? this.model.build(snap.services, snap.slices, node) : this.model.change(snap.services, snap.slices, node);
      if (first) collectGarbage();
      for (const n of update.notices) this.log[n.level](n.fields, n.message);
      const desired = update.state;
      const t1 = process.hrtime.bigint();
      const stats = this.dataplane!.apply(update);
      this.health.sync(desired.healthChecks);
      const ms = (from: bigint, to = process.hrtime.bigint()) => Math.round(Number(to - from) / 1e4) / 100;
      this.syncs++;
      const total = ms(t0);
      this.observers.status.synced(this.dataplane!.size(), total, stats.overCapacity);
      this.observers.metrics.synced(total / 1000);
      for (const t of snap.triggers ?? []) this.observers.metrics.programmed(t);
      // ms: the whole sync; modelMs: of it, computing the desired state.
      this.log.info({ sync: this.syncs, services: desired.services.size, ...stats, modelMs: ms(t0, t1), ms: total }, 'dataplane synced');
      this.retryMs = RETRY_INITIAL_MS;
      this.goLive();
    } catch (err) {
      // The dataplane keeps what it had, and is tried again (as kube-proxy does) even if
      // the source says nothing more: a manifest directory may never change again.
      this.log.error({ err, retryInMs: this.retryMs }, 'sync failed; keeping the previously programmed state');
      this.observers.status.failed((err as Error).message ?? String(err));
      this.observers.metrics.failed();
      const none = { upserted: [], deleted: [] };
      this.retry = setTimeout(() => this.take({ full: false, services: none, slices: none, node: this.lastNode }), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    }
  }
}
