// Wires a source to a dataplane through the model: snapshot -> desired state -> apply.
// Applies run one at a time; snapshots that arrive meanwhile collapse into the latest.
import { isIPv4 } from 'node:net';
import type { Logger } from 'pino';
import { DesiredStateBuilder, type NodeContext } from './model/desired.js';
import type { Dataplane } from './dataplane/types.js';
import type { Snapshot, Source } from './sources/snapshot.js';
import type { HealthServer } from './health/health-server.js';

export class Agent {
  private pending?: Snapshot;
  private running = false;
  private syncs = 0;
  private readonly model = new DesiredStateBuilder();

  /**
   * `node.ips` are the NodePort addresses from --node-ip when `fixedIps`; otherwise
   * the Node object's addresses are used once the source knows them.
   */
  constructor(
    private readonly source: Source,
    private readonly dataplane: Dataplane,
    private readonly health: HealthServer,
    private readonly node: NodeContext,
    private readonly fixedIps: boolean,
    private readonly log: Logger,
  ) {}

  private nodeContext(snap: Snapshot): NodeContext {
    const known = snap.node;
    const ips = this.fixedIps || !known?.ips.length ? this.node.ips : known.ips.filter((ip) => isIPv4(ip));
    return { ...this.node, ips, zone: known?.zone ?? this.node.zone };
  }

  start(): Promise<void> {
    return this.source.start((snap) => {
      this.pending = snap;
      if (!this.running) this.drain();
    });
  }

  stop(): void {
    this.source.stop();
    this.health.close();
    this.dataplane.close?.();
  }

  private drain(): void {
    this.running = true;
    while (this.pending) {
      const snap = this.pending;
      this.pending = undefined;
      this.sync(snap);
    }
    this.running = false;
  }

  private sync(snap: Snapshot): void {
    const t0 = process.hrtime.bigint();
    try {
      const desired = this.model.build(snap.services, snap.slices, this.nodeContext(snap));
      const t1 = process.hrtime.bigint();
      const stats = this.dataplane.apply(desired);
      this.health.sync(desired.healthChecks);
      const ms = (from: bigint, to = process.hrtime.bigint()) => Math.round(Number(to - from) / 1e4) / 100;
      this.syncs++;
      // ms: the whole sync; modelMs: of it, computing the desired state.
      this.log.info(
        { sync: this.syncs, services: desired.services.size, ...stats, modelMs: ms(t0, t1), ms: ms(t0) },
        'dataplane synced',
      );
    } catch (err) {
      // The dataplane keeps what it had; the next snapshot retries.
      this.log.error({ err }, 'sync failed; keeping the previously programmed state');
    }
  }
}
