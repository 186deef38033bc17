// What the agent is doing, kept in one place: the health endpoints, the metrics and
// `lbctl status` all read it. It is written to a small JSON file per --bpffs, so
// `lbctl status` (another process, maybe another network namespace) can read it.
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';

/** Where agents keep their status files (tmpfs: gone at reboot, as the agent is). */
export const STATUS_DIR = '/run/xlb';

/** The status file of the agent that pins its maps at `bpffs`. */
export function statusFile(bpffs: string): string {
  return path.join(STATUS_DIR, `${path.resolve(bpffs).replace(/^\//, '').replace(/\//g, '_') || 'root'}.status.json`);
}

/** What a datapath holds, as counted by the dataplane that wrote it. */
export interface StateSize {
  /** service ports (LbService) */
  services: number;
  frontends: number;
  /** distinct backends (endpoint address:port/protocol) */
  backends: number;
}

export interface SyncSummary extends StateSize {
  at: string;
  durationMs: number;
  /** objects the dataplane could not program for lack of room in a map */
  overCapacity: number;
}

/** A --devices device as the agent attached it: program ids, for lbctl status to look up. */
export interface DeviceStatus {
  /** the hook balancing its incoming packets */
  hook: 'xdp' | 'tc';
  ifindex: number;
  xdp?: number;
  tcIngress?: number;
  tcEgress?: number;
}

export interface AgentStatusDoc {
  pid: number;
  startedAt: string;
  updatedAt: string;
  node: { name: string; ips: string[] };
  mode: string;
  /** the iptables binary in iptables mode */
  iptables?: string;
  /** eBPF mode: each device's hook and the programs attached to it */
  devices: Record<string, DeviceStatus>;
  cgroup?: string;
  bpffs: string;
  metricsAddr?: string;
  syncs: number;
  lastSync?: SyncSummary;
  lastError?: { at: string; message: string };
  ready: boolean;
  /** why not ready */
  notReady?: string;
  /** since when the source (the API server) has been unreachable */
  sourceUnreachableSince?: string;
}

/** A program `lbctl status` looked up where the agent attached one. */
export interface ProgramStatus {
  /** where it is attached: "eth0 xdp", "eth0 tc ingress", "cgroup connect4" */
  at: string;
  id: number;
  name?: string;
  tag?: string;
  /** "attached"; "unloaded" when the kernel no longer has it; "missing" when nothing is attached there */
  state: 'attached' | 'unloaded' | 'missing';
}

/** `lbctl status --json`: this agent's account (its status file) beside what the kernel holds. */
export interface StatusReport {
  bpffs: string;
  agent: { running: boolean; pid?: number; statusFile: string } & Partial<Omit<AgentStatusDoc, 'pid' | 'devices'>>;
  devices?: AgentStatusDoc['devices'];
  programs: ProgramStatus[];
  maps: Array<{ map: string; entries: number; capacity: number; percent: number }>;
}

/** At most one file write a second: a busy agent syncs far more often. */
const SAVE_INTERVAL_MS = 1000;

export interface StatusOptions {
  bpffs: string;
  node: { name: string; ips: string[] };
  metricsAddr?: string;
  /** how long the source may be unreachable before the agent reports not ready */
  graceMs: number;
  /** where to write the file; undefined: nowhere (tests) */
  file?: string;
  now?: () => number;
}

export class AgentStatus {
  private readonly doc: AgentStatusDoc;
  private unreachableSince?: number;
  private readonly now: () => number;
  private saveTimer?: NodeJS.Timeout;
  private lastSave = 0;
  private saveFailed = false;
  /** readiness as the file last said it */
  private savedReady?: boolean;

  constructor(
    private readonly opts: StatusOptions,
    private readonly log: Logger,
  ) {
    this.now = opts.now ?? Date.now;
    const t = new Date(this.now()).toISOString();
    this.doc = { pid: process.pid, startedAt: t, updatedAt: t, node: opts.node, mode: 'starting', devices: {}, bpffs: opts.bpffs, metricsAddr: opts.metricsAddr, syncs: 0, ready: false, notReady: 'the first full state is not programmed yet' };
  }

  get current(): Readonly<AgentStatusDoc> {
    this.refresh();
    return this.doc;
  }

  /** Ready once the first full state is programmed, and while the source is reachable (or not for longer than the grace period). */
  get ready(): boolean {
    return this.current.ready;
  }

  dataplane(d: Partial<Pick<AgentStatusDoc, 'mode' | 'iptables' | 'devices' | 'cgroup'>>): void {
    Object.assign(this.doc, d);
    this.save(true);
  }

  /** A sync succeeded, and the datapath holds `size`: the first one (readiness) is written at once, later ones at most once a second. */
  synced(size: StateSize, durationMs: number, overCapacity: number): void {
    this.doc.syncs++;
    this.doc.lastSync = { at: new Date(this.now()).toISOString(), durationMs, ...size, overCapacity };
    this.save(this.doc.syncs === 1);
  }

  failed(message: string): void {
    this.doc.lastError = { at: new Date(this.now()).toISOString(), message };
    this.save(true);
  }

  /** The source's reachability (since when it has been unreachable, or undefined), looked at every second. */
  source(unreachableSince: number | undefined): void {
    const changed = unreachableSince !== this.unreachableSince;
    this.unreachableSince = unreachableSince;
    this.refresh();
    if (changed || this.savedReady !== this.doc.ready) this.save(true);
  }

  private refresh(): void {
    const down = this.unreachableSince;
    this.doc.sourceUnreachableSince = down === undefined ? undefined : new Date(down).toISOString();
    if (!this.doc.lastSync) {
      this.doc.ready = false;
      this.doc.notReady = 'the first full state is not programmed yet';
    } else if (down !== undefined && this.now() - down > this.opts.graceMs) {
      this.doc.ready = false;
      this.doc.notReady = `the API server has been unreachable for ${Math.round((this.now() - down) / 1000)} s; the last programmed state keeps serving`;
    } else {
      this.doc.ready = true;
      this.doc.notReady = undefined;
    }
  }

  /** Writes the file atomically (a reader never sees half of it); unless `now`, at most once a second. */
  save(now = false): void {
    const file = this.opts.file;
    if (!file) return;
    if (now) this.close();
    else if (this.saveTimer) return;
    const wait = this.lastSave + SAVE_INTERVAL_MS - this.now();
    if (!now && wait > 0) {
      this.saveTimer = setTimeout(() => {
        this.saveTimer = undefined;
        this.save();
      }, wait).unref();
      return;
    }
    this.lastSave = this.now();
    this.refresh();
    this.doc.updatedAt = new Date(this.now()).toISOString();
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify(this.doc));
      fs.renameSync(tmp, file);
      this.saveFailed = false;
      this.savedReady = this.doc.ready;
    } catch (err) {
      // Status is for people: programming goes on without it. Said once per streak.
      if (!this.saveFailed) this.log.warn({ err, file }, 'cannot write the status file; lbctl status will show stale data');
      this.saveFailed = true;
    }
  }

  /** Stops the pending write (the agent is stopping). */
  close(): void {
    clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
  }

}

/** The status an agent wrote for `bpffs`, and whether that agent still runs. */
export function readStatus(bpffs: string): { doc: AgentStatusDoc; running: boolean } | undefined {
  let doc: AgentStatusDoc;
  try {
    doc = JSON.parse(fs.readFileSync(statusFile(bpffs), 'utf8')) as AgentStatusDoc;
  } catch {
    return undefined;
  }
  let running = false;
  try {
    running = fs.readFileSync(`/proc/${doc.pid}/cmdline`, 'utf8').includes('agent');
  } catch {
    // no such process
  }
  return { doc, running };
}
