// A mini cluster in network namespaces, all in 198.18.0.0/15:
//
//   client (eth0 198.18.0.2) ── ext0 198.18.0.1 [node] br0 198.18.1.1 ── pod-i (eth0 198.18.1.1x)
//
// The agent attaches to the node's ext0. Service addresses come from 198.19.0.0/16
// and exist nowhere: the client reaches them through its default route to the node.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { inNs, sh, spawnInNs, waitForLine } from './netns.js';
import type { ProbeResult } from './probe.js';

export const NODE_IP = '198.18.0.1';
export const CLIENT_IP = '198.18.0.2';
export const NODE_DEVICE = 'ext0';
/** Where ClusterIPs, ExternalIPs and LoadBalancer IPs come from; assigned to nothing. */
export const SERVICE_RANGE = '198.19.0.0/16';
export const podIp = (i: number) => `198.18.1.${10 + i}`;

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The compiled pod server and probe (tests load this module from src/, not dist/). */
const DIST = path.join(REPO, 'dist/testbed');

export interface Pod {
  name: string;
  ns: string;
  ip: string;
}

export interface ClusterOptions {
  pods: number;
  tcpPorts?: number[];
  udpPorts?: number[];
}

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

export class Cluster {
  readonly client: string;
  readonly node: string;
  readonly pods: Pod[];
  private readonly procs = new Set<ChildProcess>();

  private constructor(readonly prefix: string, podCount: number) {
    this.client = `${prefix}client`;
    this.node = `${prefix}node`;
    this.pods = Array.from({ length: podCount }, (_, i) => ({ name: `pod-${i}`, ns: `${prefix}pod${i}`, ip: podIp(i) }));
  }

  static async create(tag: string, opts: ClusterOptions): Promise<Cluster> {
    installExitHook();
    const c = new Cluster(`xlb${process.pid}${tag}-`, opts.pods);
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

  private build(): void {
    for (const ns of [this.client, this.node, ...this.pods.map((p) => p.ns)]) {
      sh('ip', ['netns', 'add', ns]);
      inNs(ns, 'ip', ['link', 'set', 'lo', 'up']);
    }
    // client <-> node
    sh('ip', ['link', 'add', 'eth0', 'netns', this.client, 'type', 'veth', 'peer', 'name', NODE_DEVICE, 'netns', this.node]);
    this.iface(this.client, 'eth0', `${CLIENT_IP}/24`);
    // veth kicks a peer's NAPI for XDP_TX frames (the datapath's RST and ICMP answers)
    // only when the peer has an XDP program: give the client a pass-through one.
    inNs(this.client, process.execPath, [path.join(DIST, 'attach-pass.js'), 'eth0']);
    inNs(this.client, 'ip', ['route', 'add', 'default', 'via', NODE_IP]);
    this.iface(this.node, NODE_DEVICE, `${NODE_IP}/24`);
    // node bridge <-> pods
    inNs(this.node, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
    this.iface(this.node, 'br0', '198.18.1.1/24');
    this.pods.forEach((p, i) => {
      const hostSide = `veth${i}`;
      sh('ip', ['link', 'add', 'eth0', 'netns', p.ns, 'type', 'veth', 'peer', 'name', hostSide, 'netns', this.node]);
      inNs(this.node, 'ip', ['link', 'set', hostSide, 'master', 'br0', 'up']);
      this.iface(p.ns, 'eth0', `${p.ip}/24`);
      inNs(p.ns, 'ip', ['route', 'add', 'default', 'via', '198.18.1.1']);
    });
    // A real node routes everything (it has a default route); here the pod bridge takes
    // the service range, so a packet for a VIP nothing serves is forwarded (and can be
    // rejected by iptables) instead of failing in routing. No pod answers ARP for it.
    inNs(this.node, 'ip', ['route', 'add', SERVICE_RANGE, 'dev', 'br0']);
    for (const [k, v] of [
      ['net.ipv4.ip_forward', '1'],
      ['net.ipv4.conf.all.rp_filter', '0'],
      ['net.ipv4.conf.default.rp_filter', '0'],
      [`net.ipv4.conf.${NODE_DEVICE}.rp_filter`, '0'],
      // iptables REJECT answers through the kernel's ICMP rate limit (1/s per peer by
      // default); tests send bursts and count every answer.
      ['net.ipv4.icmp_ratelimit', '0'],
    ]) {
      inNs(this.node, 'sysctl', ['-qw', `${k}=${v}`]);
    }
  }

  /**
   * Brings an interface up with an address. TX checksum offload is turned off: a veth
   * peer otherwise hands XDP CHECKSUM_PARTIAL packets whose L4 checksum holds only the
   * pseudo-header sum, which no incremental rewrite can fix (real NICs deliver full sums).
   */
  private iface(ns: string, dev: string, cidr: string): void {
    inNs(ns, 'ip', ['addr', 'add', cidr, 'dev', dev]);
    inNs(ns, 'ip', ['link', 'set', dev, 'up']);
    inNs(ns, 'ethtool', ['-K', dev, 'tx', 'off']);
  }

  private async startPod(p: Pod, tcp: number[], udp: number[]): Promise<void> {
    const proc = this.spawn(p.ns, process.execPath, [path.join(DIST, 'podserver.js'), '--name', p.name, '--tcp', tcp.join(','), '--udp', udp.join(',')]);
    await waitForLine(proc, /^ready/, 10_000);
  }

  /** Starts a process in a namespace; it is killed when the cluster is destroyed. */
  spawn(ns: string, cmd: string, args: string[]): ChildProcess {
    const proc = spawnInNs(ns, cmd, args);
    this.procs.add(proc);
    proc.on('exit', () => this.procs.delete(proc));
    return proc;
  }

  /** Runs the probe in the client namespace and returns its report. */
  probe(target: string, proto: 'tcp' | 'udp', count: number, extra: string[] = []): ProbeResult {
    const out = inNs(this.client, process.execPath, [path.join(DIST, 'probe.js'), '--target', target, '--proto', proto, '--count', String(count), ...extra]);
    return JSON.parse(out) as ProbeResult;
  }

  /** A client holding one keep-alive connection: `ask()` sends a request on it. */
  async keepAliveClient(target: string): Promise<KeepAliveClient> {
    const proc = this.spawn(this.client, process.execPath, [path.join(DIST, 'probe.js'), '--target', target, '--interactive', '--timeout-ms', '2000']);
    await waitForLine(proc, /^ready/, 10_000);
    return {
      ask: () => {
        const answer = waitForLine(proc, /.*/, 5000);
        proc.stdin!.write('go\n');
        return answer;
      },
      close: () => void proc.stdin!.end('quit\n'),
    };
  }

  destroy(): void {
    for (const p of this.procs) p.kill('SIGKILL');
    this.procs.clear();
    const existing = new Set(sh('ip', ['netns', 'list']).split('\n').map((l) => l.split(' ')[0]));
    for (const ns of [this.client, this.node, ...this.pods.map((p) => p.ns)]) {
      if (existing.has(ns)) sh('ip', ['netns', 'del', ns]);
    }
    live.delete(this);
  }
}

export interface KeepAliveClient {
  ask(): Promise<string>;
  close(): void;
}

export function writeFileAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}
