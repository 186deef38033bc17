// End to end: wrk in the client namespace (outside the cluster) through node-a, with
// 1, 1,000 and 10,000 Services programmed: to a pod on node-a through its ClusterIP and
// NodePort, and through a NodePort whose backend is a pod on node-b (SNAT), in eBPF
// mode at tc, in eBPF mode with XDP forced on the veth, and in iptables mode. Each
// round first measures the same client straight to each pod with nothing of ours
// installed (agent stopped, programs detached, chains removed), then each mode; ratios
// are taken per round, and each path starts clean (see forgetLastPath). A bench pod
// holds all ten endpoint addresses of its Service and runs one server, so every mode
// reaches the same server process and only the path in between differs. Each agent
// start also yields start-to-programmed and RSS for the manifest source.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Cluster, NODE_IP, compiled, writeFileAtomic } from '../test/testbed/topology.js';
import { AgentProcess } from '../test/testbed/agent-process.js';
import { inNs, waitForLine } from '../test/testbed/netns.js';
import { clusterManifest, ENDPOINTS, REMOTE_TARGET, TARGET } from './workload.js';
import { summarize, type Summary } from './stats.js';
import { startAgent, stopAgent, teardown, type AgentStart } from './agent-stats.js';
import type { Pod } from '../test/testbed/topology.js';
import { useLegacyIptables } from './legacy-iptables.js';

/** 'direct': nothing of ours installed; 'bpf-xdp': eBPF with --acceleration xdp. */
export type Mode = 'direct' | 'bpf' | 'bpf-xdp' | 'iptables';
/** 'pod'/'podB': straight to the pod on node-a/node-b; 'SNAT': a NodePort on node-a whose backend is on node-b. */
export type Path = 'pod' | 'podB' | 'ClusterIP' | 'NodePort' | 'SNAT';
export type Conn = 'keep-alive' | 'close';

export interface RateResult {
  services: number;
  mode: Mode;
  path: Path;
  conn: Conn;
  /** requests per second over the rounds */
  rps: Summary;
  /** this path's rate over the rate straight to the same pod with nothing installed, per round */
  vsDirect?: Summary;
  /** socket errors, timeouts and non-2xx answers over all rounds */
  errors: number;
}

export interface E2eOptions {
  counts: number[];
  rounds: number;
  durationS: number;
  connections: number;
  log: (line: string) => void;
}

export interface E2eResult {
  rates: RateResult[];
  starts: AgentStart[];
}

const BPFFS = '/sys/fs/bpf/xlb-bench-e2e';

/** One wrk run, started by `run` where the client lives: requests/s and the errors it reported. */
/**
 * Clears what the last path measured left behind: the nodes' conntrack (NATed tuples
 * in TIME_WAIT clash with the next path's reused ports) and the TIME_WAIT sockets of
 * the client and the servers. A server's TIME_WAIT from a direct connection holds the
 * client's timestamps for the pod address; a NATed SYN reusing its port carries those
 * for the Service address, fails PAWS there (TcpExtPAWSTimewait) and waits a second
 * for its retransmit, which the next path's connect p99 would report as its own.
 */
export function forgetLastPath(nodes: string[], endpoints: string[]): void {
  for (const ns of nodes) inNs(ns, 'conntrack', ['-F']);
  for (const ns of endpoints) inNs(ns, 'ss', ['-K', 'state', 'time-wait']);
}

export function wrk(run: (cmd: string, args: string[]) => string, url: string, conn: Conn, opts: Pick<E2eOptions, 'connections' | 'durationS'>): { rps: number; errors: number } {
  const out = run('wrk', [
    '-t1', `-c${opts.connections}`, `-d${opts.durationS}s`, '--timeout', '2s',
    ...(conn === 'close' ? ['-H', 'Connection: close'] : []), url,
  ]);
  const rps = Number(out.match(/Requests\/sec:\s+([\d.]+)/)?.[1]);
  if (!Number.isFinite(rps) || rps === 0) throw new Error(`wrk ${url} (${conn}) measured nothing:\n${out}`);
  const socket = out.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  const non2xx = Number(out.match(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? 0);
  const errors = (socket ? socket.slice(1).reduce((a, b) => a + Number(b), 0) : 0) + non2xx;
  return { rps, errors };
}

export async function runE2eBench(opts: E2eOptions): Promise<E2eResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlb-bench-'));
  const cluster = await Cluster.create('bench', { pods: 1, podsB: 1, tcpPorts: [8080], udpPorts: [] });
  const rates: RateResult[] = [];
  const starts: AgentStart[] = [];
  let agent: AgentProcess | undefined;
  try {
    const [podA, podB] = cluster.pods as [Pod, Pod];
    const ipsOf = (pod: Pod, net: number) => [pod.ip, ...Array.from({ length: ENDPOINTS - 1 }, (_, i) => `198.18.${net}.${100 + i}`)];
    const ips = { a: ipsOf(podA, 1), b: ipsOf(podB, 2) };
    for (const [pod, list] of [[podA, ips.a], [podB, ips.b]] as const) {
      for (const ip of list.slice(1)) cluster.addPodAddress(pod, ip);
      const server = cluster.spawn(pod.ns, process.execPath, [compiled('bench/http-server.ts'), '--port', String(TARGET.targetPort)], pod.cgroup);
      await waitForLine(server, /^ready/, 10_000);
    }
    // A load generator's usual tuning: thousands of closed connections a second
    // otherwise leave every ephemeral port in TIME_WAIT within seconds, and the rate
    // measured becomes the port search's.
    inNs(cluster.client, 'sysctl', ['-qw', 'net.ipv4.tcp_tw_reuse=1', 'net.ipv4.ip_local_port_range=1024 65535']);
    useLegacyIptables(cluster.node);
    const fromClient = (cmd: string, args: string[]) => inNs(cluster.client, cmd, args);
    const run = (url: string, conn: Conn) => {
      forgetLastPath(cluster.nodes.map((n) => n.ns), [cluster.client, podA.ns, podB.ns]);
      return wrk(fromClient, url, conn, opts);
    };

    const direct: Array<[Path, string]> = [
      ['pod', `http://${podA.ip}:${TARGET.targetPort}/`],
      ['podB', `http://${podB.ip}:${TARGET.targetPort}/`],
    ];
    const paths: Array<[Path, string, Path]> = [
      ['ClusterIP', `http://${TARGET.clusterIP}:${TARGET.port}/`, 'pod'],
      ['NodePort', `http://${NODE_IP}:${TARGET.nodePort}/`, 'pod'],
      ['SNAT', `http://${NODE_IP}:${REMOTE_TARGET.nodePort}/`, 'podB'],
    ];
    const modes: Array<[Mode, AgentStart['mode'], string[]]> = [
      ['bpf', 'bpf', []],
      ['bpf-xdp', 'bpf', ['--acceleration', 'xdp']],
      ['iptables', 'iptables', []],
    ];
    type Runs = Map<string, Array<{ rps: number; errors: number }>>;
    const key = (mode: Mode, p: Path, conn: Conn) => `${mode} ${p} ${conn}`;
    const push = (runs: Runs, k: string, x: { rps: number; errors: number }) => runs.set(k, [...(runs.get(k) ?? []), x]);

    for (const count of opts.counts) {
      opts.log(`${count} services:`);
      writeFileAtomic(path.join(dir, 'cluster.json'), clusterManifest(count, ips.a, ips.b));
      const runs: Runs = new Map();
      for (let round = 0; round < opts.rounds; round++) {
        for (const conn of ['keep-alive', 'close'] as const) for (const [p, url] of direct) push(runs, key('direct', p, conn), run(url, conn));
        for (const [mode, agentMode, extra] of modes) {
          agent = new AgentProcess(cluster, ['--manifests', dir], BPFFS);
          const start = await startAgent(agent, agentMode, count, 'manifests', opts.log, extra);
          if (round === 0 && mode !== 'bpf-xdp') starts.push(start);
          for (const conn of ['keep-alive', 'close'] as const) for (const [p, url] of paths) push(runs, key(mode, p, conn), run(url, conn));
          await stopAgent(agent);
          agent = undefined;
        }
      }
      const result = (mode: Mode, p: Path, conn: Conn, base?: Path): RateResult => {
        const xs = runs.get(key(mode, p, conn))!;
        const b = base && runs.get(key('direct', base, conn))!;
        return {
          services: count,
          mode,
          path: p,
          conn,
          rps: summarize(xs.map((x) => x.rps)),
          ...(b ? { vsDirect: summarize(xs.map((x, i) => x.rps / b[i]!.rps)) } : {}),
          errors: xs.reduce((a, x) => a + x.errors, 0),
        };
      };
      for (const conn of ['keep-alive', 'close'] as const) {
        const rs = [...direct.map(([p]) => result('direct', p, conn)), ...modes.flatMap(([mode]) => paths.map(([p, , base]) => result(mode, p, conn, base)))];
        for (const r of rs) {
          rates.push(r);
          opts.log(
            `  ${r.mode.padEnd(8)} ${r.path.padEnd(9)} ${conn.padEnd(10)} ${String(Math.round(r.rps.median)).padStart(6)} req/s` +
              (r.vsDirect ? `  ${r.vsDirect.median.toFixed(2)}x direct` : '') +
              (r.errors ? `  (${r.errors} errors)` : ''),
          );
        }
      }
    }
    return { rates, starts };
  } finally {
    await teardown(agent, cluster, dir, BPFFS);
  }
}
