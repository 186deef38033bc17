// Runs the real `lbctl agent` in the node's network namespace, as an operator would,
// and reads what it programmed through `lbctl maps dump --json`.
import fs from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { sh } from './netns.js';
import { NODE_DEVICE, REPO, type Cluster, type ClusterNode } from './topology.js';
import type { Dump } from '../../src/observe/dump.js';

const LBCTL = path.join(REPO, 'bin/lbctl');

/** Pin directories of agents started by this process: removed at exit as a last resort. */
const pinDirs = new Set<string>();
process.on('exit', () => {
  for (const dir of pinDirs) fs.rmSync(dir, { recursive: true, force: true });
});

export class AgentProcess {
  readonly log: string[] = [];
  private proc?: ChildProcess;
  private exit?: Promise<number | null>;

  readonly node: ClusterNode;
  private readonly nodeIp: string | null;

  /** the lbctl file it runs */
  private readonly lbctlFile: string;

  /**
   * `source`: ['--manifests', DIR] or ['--kubeconfig', FILE]. The agent runs on
   * `opts.node` (default node-a) with that node's cgroup; `nodeIp` null leaves
   * --node-ip out, so the agent finds the node's addresses itself. `lbctl`: another
   * install's bin/lbctl (the image's runtime tree) instead of the checkout's.
   */
  constructor(
    private readonly cluster: Cluster,
    readonly source: string[],
    readonly bpffs: string,
    opts: { node?: ClusterNode; nodeIp?: string | null; lbctl?: string } = {},
  ) {
    this.node = opts.node ?? cluster.nodes[0];
    this.nodeIp = opts.nodeIp === undefined ? this.node.ip : opts.nodeIp;
    this.lbctlFile = opts.lbctl ?? LBCTL;
  }

  private extra: string[] = [];

  /**
   * Starts the agent; a restart without arguments reuses the last ones. `wrap`: a
   * command that runs the agent (e.g. setpriv dropping capabilities), for this start only.
   */
  start(extra: string[] = this.extra, wrap: string[] = []): void {
    this.extra = extra;
    // Last resort if the caller dies before cleanup(): pins must not outlive the test.
    pinDirs.add(this.bpffs);
    // Run as the image runs it: the file itself, with the node flags of its #! line.
    const [cmd, ...pre] = [...wrap, this.lbctlFile];
    const proc = this.cluster.spawn(this.node.ns, cmd!, [
      ...pre,
      'agent', ...this.source, '--node-name', this.node.name, ...(this.nodeIp ? ['--node-ip', this.nodeIp] : []),
      '--devices', NODE_DEVICE, '--bpffs', this.bpffs, '--cgroup', this.node.cgroup, ...extra,
    ]);
    let buf = '';
    proc.stderr!.on('data', (c: Buffer) => {
      buf += c.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      this.log.push(...lines);
    });
    this.exit = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
    this.proc = proc;
  }

  private syncLog(): string[] {
    return this.log.filter((l) => l.includes('"dataplane synced"'));
  }

  /** Number of completed syncs so far (polled: counts, parses nothing). */
  syncs(): number {
    return this.syncLog().length;
  }

  /** The agent's "dataplane synced" log lines: `time` (epoch ms), `ms` (sync duration) and its stats. */
  syncLines(): Array<Record<string, number> & { time: number; ms: number }> {
    return this.syncLog().map((l) => JSON.parse(l) as Record<string, number> & { time: number; ms: number });
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  async waitForSync(after = 0, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.syncs() <= after) {
      if (Date.now() > deadline) throw new Error(`agent did not sync within ${timeoutMs} ms; log:\n${this.log.join('\n')}`);
      if (this.proc?.exitCode !== null) throw new Error(`agent exited (${this.proc?.exitCode}); log:\n${this.log.join('\n')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** SIGTERM (SIGKILL: as a crash or the OOM killer would); resolves with the exit code. */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<number | null> {
    if (!this.proc || this.proc.exitCode !== null) return this.proc?.exitCode ?? null;
    this.proc.kill(signal);
    return this.exit!;
  }

  /** Runs `lbctl ARGS --bpffs <this agent's>` in the node's network namespace; returns its stdout. */
  lbctl(args: string[]): string {
    return sh('nsenter', [`--net=/run/netns/${this.node.ns}`, process.execPath, this.lbctlFile, ...args, '--bpffs', this.bpffs]);
  }

  /** GET of the agent's --metrics-addr (the default, 127.0.0.1:10249 in the node's namespace). */
  http(urlPath: string): { status: number; body: string } {
    let out: string;
    try {
      out = sh('nsenter', [`--net=/run/netns/${this.node.ns}`, 'curl', '-s', '--max-time', '5', '-w', '\n%{http_code}', `http://127.0.0.1:10249${urlPath}`]);
    } catch {
      return { status: 0, body: '' }; // nothing listens
    }
    const at = out.lastIndexOf('\n');
    return { status: Number(out.slice(at + 1)), body: out.slice(0, at) };
  }

  dump(): Required<Dump> {
    return JSON.parse(sh(process.execPath, [this.lbctlFile, 'maps', 'dump', '--json', '--bpffs', this.bpffs])) as Required<Dump>;
  }

  dumpTable(section?: string): string {
    return sh(process.execPath, [this.lbctlFile, 'maps', 'dump', '--bpffs', this.bpffs, ...(section ? [section] : [])]);
  }

  cleanup(): void {
    sh('nsenter', [`--net=/run/netns/${this.node.ns}`, process.execPath, this.lbctlFile, 'cleanup', '--devices', NODE_DEVICE, '--bpffs', this.bpffs, '--cgroup', this.node.cgroup]);
  }
}
