// The agent's Prometheus metrics (prom-client). Names follow Prometheus conventions
// with the xlb_ prefix; the datapath's counters and the maps' fill are read from the
// dataplane when scraped, so a scrape always shows what the kernel counted.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AgentStatus } from './status.js';

/** What a dataplane can tell of the kernel's side (eBPF mode). */
export interface DatapathFacts {
  /** per service port ("namespace/name:port/PROTO"): what the datapath sent to its backends */
  services: Array<{ service: string; packets: number; bytes: number; sockCalls: number }>;
  /** reason -> packets and socket calls refused or dropped */
  drops: Record<string, number>;
  /** the maps' fill against their capacity */
  maps: Array<{ map: string; entries: number; capacity: number }>;
}

export interface Observable {
  facts?(): DatapathFacts;
}

/** Seconds, from 1 ms to a minute: a sync takes milliseconds, a resync after an outage seconds. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly syncDuration: Histogram;
  private readonly programming: Histogram;
  private readonly syncs: Counter<'result'>;
  private readonly lastSync: Gauge;
  /** The kernel-side values, read at most once per scrape (several metrics show them). */
  private facts?: DatapathFacts;

  constructor(status: AgentStatus, dataplane: () => Observable | undefined) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.syncDuration = new Histogram({ name: 'xlb_sync_duration_seconds', help: 'Time to compute the desired state and program the dataplane, per sync', buckets: BUCKETS, registers });
    this.programming = new Histogram({
      name: 'xlb_network_programming_duration_seconds',
      help: 'From a Service or EndpointSlice change (its last-change-trigger-time, else when the agent saw it) to the change programmed',
      buckets: BUCKETS,
      registers,
    });
    this.syncs = new Counter({ name: 'xlb_syncs_total', help: 'Syncs by result (ok, error)', labelNames: ['result'], registers });
    this.lastSync = new Gauge({ name: 'xlb_last_sync_timestamp_seconds', help: 'When the last successful sync finished (Unix time)', registers });
    new Gauge({
      name: 'xlb_programmed',
      help: 'What the datapath holds after the last sync, by kind: services (Service ports), frontends, backends (distinct endpoint address:port/protocol), over_capacity (objects left out because a map was full)',
      labelNames: ['kind'],
      registers,
      collect() {
        const last = status.current.lastSync;
        if (!last) return;
        this.set({ kind: 'services' }, last.services);
        this.set({ kind: 'frontends' }, last.frontends);
        this.set({ kind: 'backends' }, last.backends);
        this.set({ kind: 'over_capacity' }, last.overCapacity);
      },
    });
    new Gauge({
      name: 'xlb_ready',
      help: '1 when the agent is ready: its first full state is programmed and the API server is reachable (or not longer than the grace period)',
      registers,
      collect() {
        this.set(status.ready ? 1 : 0);
      },
    });
    new Gauge({
      name: 'xlb_mode',
      help: 'The active dataplane (1 for the active mode)',
      labelNames: ['mode'],
      registers,
      collect() {
        this.reset();
        this.set({ mode: status.current.mode }, 1);
      },
    });
    new Gauge({
      name: 'xlb_device_hook',
      help: 'The hook balancing each device\'s incoming packets (xdp or tc)',
      labelNames: ['device', 'hook'],
      registers,
      collect() {
        this.reset();
        for (const [device, d] of Object.entries(status.current.devices)) this.set({ device, hook: d.hook }, 1);
      },
    });
    const read = () => (this.facts ??= dataplane()?.facts?.());
    const serviceCounter = (name: string, help: string, pick: (s: DatapathFacts['services'][number]) => number) =>
      new Counter({
        name,
        help,
        labelNames: ['service'],
        registers,
        collect() {
          this.reset();
          for (const s of read()?.services ?? []) this.inc({ service: s.service }, pick(s));
        },
      });
    serviceCounter('xlb_service_packets_total', 'Packets the per-packet path (tc, XDP) sent to a Service\'s backends (requests, not replies)', (s) => s.packets);
    serviceCounter('xlb_service_bytes_total', 'Bytes of those packets', (s) => s.bytes);
    serviceCounter('xlb_service_socket_calls_total', 'connect() and unconnected sendmsg() calls the socket programs sent to a Service\'s backends', (s) => s.sockCalls);
    new Counter({
      name: 'xlb_drops_total',
      help: 'Packets and socket calls the datapath refused or dropped, by reason',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        for (const [reason, n] of Object.entries(read()?.drops ?? {})) this.inc({ reason }, n);
      },
    });
    new Gauge({
      name: 'xlb_map_entries',
      help: 'Entries in each BPF map',
      labelNames: ['map'],
      registers,
      collect() {
        this.reset();
        for (const m of read()?.maps ?? []) this.set({ map: m.map }, m.entries);
      },
    });
    new Gauge({
      name: 'xlb_map_capacity',
      help: 'Capacity (max_entries) of each BPF map',
      labelNames: ['map'],
      registers,
      collect() {
        this.reset();
        for (const m of read()?.maps ?? []) this.set({ map: m.map }, m.capacity);
      },
    });
  }

  /** The metrics in Prometheus text, the kernel's values read now (never a previous scrape's). */
  async scrape(): Promise<string> {
    this.facts = undefined;
    try {
      return await this.registry.metrics();
    } finally {
      this.facts = undefined;
    }
  }

  synced(seconds: number): void {
    this.syncDuration.observe(seconds);
    this.syncs.inc({ result: 'ok' });
    this.lastSync.set(Date.now() / 1000);
  }

  failed(): void {
    this.syncs.inc({ result: 'error' });
  }

  /** A change seen at `since` (ms, Unix time) is programmed now. */
  programmed(since: number): void {
    this.programming.observe(Math.max(0, Date.now() - since) / 1000);
  }
}
