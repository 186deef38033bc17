// A two-node cluster in network namespaces, all in 198.18.0.0/15, shaped like a real
// one (flat routing as Calico or flannel host-gw do):
//
//   client  eth0 198.18.0.2 ─┐
//   node-a  eth0 198.18.0.1 ─┼─ lan (a bridge in its own namespace)
//   node-b  eth0 198.18.0.3 ─┘
//   node-a  vethI 198.18.1.1/32 ── pod-i  eth0 198.18.1.1x/32
//   node-b  vethI 198.18.2.1/32 ── podb-i eth0 198.18.2.1x/32
//
// Pods are wired point-to-point as kind's CNI (kindnet, ptp) does: each behind its own
// veth, routed by the node (a /32 route per pod), the node's side answering as the
// pods' gateway. The client routes everything through node-a (where LoadBalancer IPs
// are routed); each node routes the other's pod CIDR via the other's node IP and has
// a default route (the client stands in for the gateway, which forwards nothing).
// Every device is a veth with default settings, as on a kind node. ClusterIPs,
// ExternalIPs and LoadBalancer IPs come from 198.19.0.0/16 and are assigned to nothing. Each node has a cgroup v2
// subtree holding its pods' and host processes, where its agent attaches its socket
// programs: two agents on one machine never translate each other's sockets.
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cgroup2Mount } from '../../src/dataplane/bpf/cgroup.js';
import { INSTALL_ROOT } from '../../src/install-root.js';
import { inNs, nsArgs, sh, waitForLine } from './netns.js';
import type { ProbeResult } from './probe.js';

export const NODE_IP = '198.18.0.1';
export const NODE_B_IP = '198.18.0.3';
export const CLIENT_IP = '198.18.0.2';
export const NODE_DEVICE = 'eth0';

/** The checkout: where the product finds its artifacts, from the sources and compiled alike. */
export const REPO = INSTALL_ROOT;
/** A test bed or bench entry point as compiled by tsconfig.testbed.json (child processes
 * run the compiled file; vitest loads the sources). */
export const compiled = (file: string) => path.join(REPO, 'build/js', file.replace(/\.ts$/, '.js'));

/** Where a client process runs: a network namespace and the cgroup it joins. */
export interface Origin {
  ns: string;
  cgroup: string;
}

export interface ClusterNode {
  name: 'node-a' | 'node-b';
  ns: string;
  ip: string;
  /** the node's cgroup subtree: its agent's --cgroup */
  cgroup: string;
  /** a host process of the node: its namespace, in its own cgroup below the node's */
  host: Origin;
  podCidr: string;
}

export interface Pod extends Origin {
  name: string;
  ip: string;
  /** its veth's name on the node */
  hostVeth: string;
  /** the node it runs on (its EndpointSlice nodeName) */
  nodeName: ClusterNode['name'];
}

export interface ClusterOptions {
  /** pods on node-a */
  pods: number;
  /** pods on node-b (default none) */
  podsB?: number;
  tcpPorts?: number[];
  udpPorts?: number[];
}

/** The pods' gateway on a node: the first address of its pod CIDR, on every pod veth. */
const gatewayOf = (n: ClusterNode) => n.podCidr.replace('.0/24', '.1');

const live = new Set<Cluster>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort when a test or the demo dies without running its own cleanup.
  process.on('exit', () => {
    for (const c of live) c.destroy();
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const c of live) c.destroy();
      process.exit(130);
    });
  }
}

function probeArgs(target: string, proto: string, count: number, extra: string[]): string[] {
  return [compiled('test/testbed/probe.ts'), '--target', target, '--proto', proto, '--count', String(count), ...extra];
}

/** argv that enters `cgroup` (when given) and the namespace's network, then runs cmd. */
function launcher(ns: string, cgroup: string | undefined, cmd: string, args: string[]): [string, string[]] {
  if (!cgroup) return ['nsenter', nsArgs(ns, cmd, args)];
  // Sockets belong to the cgroup their process is in when they are made: join first.
  return ['sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec nsenter "$@"', cgroup, ...nsArgs(ns, cmd, args)]];
}

export class Cluster {
  readonly client: string;
  readonly wire: string;
  readonly nodes: [ClusterNode, ClusterNode];
  readonly pods: Pod[];
  readonly cgroupRoot: string;
  private readonly procs = new Set<ChildProcess>();

  private constructor(readonly prefix: string, podsA: number, podsB: number) {
    this.client = `${prefix}client`;
    this.wire = `${prefix}lan`;
    const mount = cgroup2Mount();
    if (!mount) throw new Error('no cgroup v2 filesystem is mounted: the test cluster needs one for its nodes');
    this.cgroupRoot = path.join(mount, prefix.replace(/-$/, ''));
    const node = (name: ClusterNode['name'], ip: string, podCidr: string): ClusterNode => {
      const cgroup = path.join(this.cgroupRoot, name);
      const ns = `${prefix}${name}`;
      return { name, ns, ip, cgroup, host: { ns, cgroup: path.join(cgroup, 'host') }, podCidr };
    };
    this.nodes = [node('node-a', NODE_IP, '198.18.1.0/24'), node('node-b', NODE_B_IP, '198.18.2.0/24')];
    const pods = (n: number, on: ClusterNode, tag: string, net: number): Pod[] =>
      Array.from({ length: n }, (_, i) => ({
        name: `${tag}-${i}`,
        hostVeth: `veth${tag}${i}`,
        ns: `${prefix}${tag}${i}`,
        ip: `198.18.${net}.${10 + i}`,
        nodeName: on.name,
        cgroup: path.join(on.cgroup, `${tag}-${i}`),
      }));
    this.pods = [...pods(podsA, this.nodes[0], 'pod', 1), ...pods(podsB, this.nodes[1], 'podb', 2)];
  }

  /** node-a's namespace, where the first agent runs. */
  get node(): string {
    return this.nodes[0].ns;
  }

  static async create(tag: string, opts: ClusterOptions): Promise<Cluster> {
    installExitHook();
    const c = new Cluster(`xlb${process.pid}${tag}-`, opts.pods, opts.podsB ?? 0);
    live.add(c);
    try {
      c.build();
      await Promise.all(c.pods.map((p) => c.startPod(p, opts.tcpPorts ?? [8080], opts.udpPorts ?? [5353])));
    } catch (err) {
      c.destroy();
      throw err;
    }
    return c;
  }

  private namespaces(): string[] {
    return [this.wire, this.client, ...this.nodes.map((n) => n.ns), ...this.pods.map((p) => p.ns)];
  }

  private build(): void {
    for (const ns of this.namespaces()) {
      sh('ip', ['netns', 'add', ns]);
      inNs(ns, 'ip', ['link', 'set', 'lo', 'up']);
    }
    for (const dir of [this.cgroupRoot, ...this.nodes.flatMap((n) => [n.cgroup, n.host.cgroup]), ...this.pods.map((p) => p.cgroup)]) fs.mkdirSync(dir);
    // The L2 segment: a bridge the client and both nodes plug into.
    inNs(this.wire, 'ip', ['link', 'add', 'lan', 'type', 'bridge']);
    inNs(this.wire, 'ip', ['link', 'set', 'lan', 'up']);
    const plug = (ns: string, port: string, cidr: string) => {
      sh('ip', ['link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', port, 'netns', this.wire]);
      inNs(this.wire, 'ip', ['link', 'set', port, 'master', 'lan', 'up']);
      this.iface(ns, 'eth0', cidr);
    };
    plug(this.client, 'client', `${CLIENT_IP}/24`);
    inNs(this.client, 'ip', ['route', 'add', 'default', 'via', NODE_IP]);
    const [a, b] = this.nodes;
    for (const n of this.nodes) {
      const other = n === a ? b : a;
      plug(n.ns, n.name, `${n.ip}/24`);
      inNs(n.ns, 'ip', ['route', 'add', other.podCidr, 'via', other.ip]);
      inNs(n.ns, 'ip', ['route', 'add', 'default', 'via', CLIENT_IP]);
      for (const [k, v] of [
        ['net.ipv4.ip_forward', '1'],
        ['net.ipv4.conf.all.rp_filter', '0'],
        ['net.ipv4.conf.default.rp_filter', '0'],
        [`net.ipv4.conf.${NODE_DEVICE}.rp_filter`, '0'],
        // iptables REJECT answers through the kernel's ICMP rate limit (1/s per peer by
        // default); tests send bursts and count every answer.
        ['net.ipv4.icmp_ratelimit', '0'],
      ]) {
        inNs(n.ns, 'sysctl', ['-qw', `${k}=${v}`]);
      }
    }
    for (const p of this.pods) {
      const node = this.nodeOf(p);
      const gateway = gatewayOf(node);
      sh('ip', ['link', 'add', 'eth0', 'netns', p.ns, 'type', 'veth', 'peer', 'name', p.hostVeth, 'netns', node.ns]);
      this.iface(node.ns, p.hostVeth, `${gateway}/32`);
      inNs(node.ns, 'ip', ['route', 'add', `${p.ip}/32`, 'dev', p.hostVeth]);
      this.iface(p.ns, 'eth0', `${p.ip}/32`);
      inNs(p.ns, 'ip', ['route', 'add', gateway, 'dev', 'eth0', 'scope', 'link']);
      inNs(p.ns, 'ip', ['route', 'add', 'default', 'via', gateway, 'dev', 'eth0']);
    }
  }

  private nodeOf(p: Pod): ClusterNode {
    return this.nodes.find((n) => n.name === p.nodeName)!;
  }

  private iface(ns: string, dev: string, cidr: string): void {
    inNs(ns, 'ip', ['addr', 'add', cidr, 'dev', dev]);
    inNs(ns, 'ip', ['link', 'set', dev, 'up']);
  }

  private async startPod(p: Pod, tcp: number[], udp: number[]): Promise<void> {
    const proc = this.spawn(p.ns, process.execPath, [compiled('test/testbed/podserver.ts'), '--name', p.name, '--tcp', tcp.join(','), '--udp', udp.join(',')], p.cgroup);
    await waitForReady(proc);
  }

  /** Starts a process in a namespace (and cgroup); it is killed when the cluster is destroyed. */
  spawn(ns: string, cmd: string, args: string[], cgroup?: string): ChildProcess {
    const [bin, argv] = launcher(ns, cgroup, cmd, args);
    const proc = spawn(bin, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.procs.add(proc);
    proc.on('exit', () => this.procs.delete(proc));
    return proc;
  }

  /** Runs the probe in the client namespace, outside the cluster, and returns its report. */
  probe(target: string, proto: 'tcp' | 'udp', count: number, extra: string[] = []): ProbeResult {
    return this.runProbe(this.client, undefined, target, proto, count, extra);
  }

  /** Runs the probe in a pod, or as a host process of a node (`node.host`), in its cgroup. */
  probeFrom(origin: Origin, target: string, proto: 'tcp' | 'udp', count: number, extra: string[] = []): ProbeResult {
    return this.runProbe(origin.ns, origin.cgroup, target, proto, count, extra);
  }

  private runProbe(ns: string, cgroup: string | undefined, target: string, proto: string, count: number, extra: string[]): ProbeResult {
    return JSON.parse(this.exec({ ns, cgroup }, process.execPath, probeArgs(target, proto, count, extra))) as ProbeResult;
  }

  /** The probe from the client namespace, running while the caller does other things (a restart, say). */
  probeAsync(target: string, proto: 'tcp' | 'udp', count: number, extra: string[] = []): Promise<ProbeResult> {
    const proc = this.spawn(this.client, process.execPath, probeArgs(target, proto, count, extra));
    let out = '';
    let err = '';
    proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    return new Promise((resolve, reject) =>
      proc.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as ProbeResult) : reject(new Error(`probe exited ${code}: ${err.trim()}`)))),
    );
  }

  /** Runs a command to completion in a namespace (and cgroup); returns its stdout. */
  exec(where: { ns: string; cgroup?: string }, cmd: string, args: string[]): string {
    const [bin, argv] = launcher(where.ns, where.cgroup, cmd, args);
    try {
      return execFileSync(bin, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`${cmd} ${args.join(' ')} in ${where.ns} failed: ${e.stderr?.trim() || e.message}`);
    }
  }

  /** Gives a pod one more address, routed to it by its node (a pod serving many endpoints). */
  addPodAddress(p: Pod, ip: string): void {
    inNs(p.ns, 'ip', ['addr', 'add', `${ip}/32`, 'dev', 'eth0']);
    inNs(this.nodeOf(p).ns, 'ip', ['route', 'add', `${ip}/32`, 'dev', p.hostVeth]);
  }

  /**
   * A client holding one keep-alive TCP connection (or one connected UDP socket):
   * `ask()` sends a request on it. From the client namespace, or from a pod or node.
   */
  async keepAliveClient(target: string, { from, proto = 'tcp' }: { from?: Origin; proto?: 'tcp' | 'udp' } = {}): Promise<KeepAliveClient> {
    const args = [compiled('test/testbed/probe.ts'), '--target', target, '--proto', proto, '--interactive', '--timeout-ms', '2000'];
    const proc = from ? this.spawn(from.ns, process.execPath, args, from.cgroup) : this.spawn(this.client, process.execPath, args);
    await waitForReady(proc);
    return {
      ask: () => {
        const answer = nextLine(proc);
        proc.stdin!.write('go\n');
        return answer;
      },
      close: () => void proc.stdin!.end('quit\n'),
      closed: () => (proc.exitCode !== null || proc.signalCode !== null ? Promise.resolve() : new Promise((done) => proc.once('exit', () => done()))),
    };
  }

  destroy(): void {
    for (const p of this.procs) p.kill('SIGKILL');
    this.procs.clear();
    const existing = new Set(sh('ip', ['netns', 'list']).split('\n').map((l) => l.split(' ')[0]));
    for (const ns of this.namespaces()) {
      if (existing.has(ns)) sh('ip', ['netns', 'del', ns]);
    }
    removeCgroupTree(this.cgroupRoot);
    live.delete(this);
  }
}

/**
 * Removes a cgroup subtree, deepest first. A cgroup can go only once its processes
 * have exited: killed ones take a moment, so each removal is retried briefly.
 */
function removeCgroupTree(dir: string): void {
  if (!fs.existsSync(dir)) return;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeCgroupTree(path.join(dir, e.name));
  for (let i = 0; ; i++) {
    try {
      fs.rmdirSync(dir);
      return;
    } catch (err) {
      if (i >= 100) throw new Error(`cannot remove cgroup ${dir}: ${(err as Error).message}`);
      for (const pid of fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // already gone
        }
      }
      execFileSync('sleep', ['0.05']);
    }
  }
}

function waitForReady(proc: ChildProcess): Promise<string> {
  return waitForLine(proc, /^ready/, 10_000);
}

function nextLine(proc: ChildProcess): Promise<string> {
  return waitForLine(proc, /.*/, 5000);
}

export interface KeepAliveClient {
  ask(): Promise<string>;
  close(): void;
  /** resolves once the client exited (its socket released) */
  closed(): Promise<void>;
}

export function writeFileAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

