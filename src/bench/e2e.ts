// End to end: wrk in the client namespace against the bench pod, directly and through
// the node with the agent in eBPF mode and in iptables mode, with 1, 1,000 and 10,000
// Services programmed. The pod holds all ten endpoint addresses of the target Service
// and runs one server, so every mode reaches the same server process and only the
// path in between differs. Each agent start also yields start-to-programmed and RSS
// for the manifest source.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Cluster, NODE_IP, REPO, writeFileAtomic } from '../testbed/topology.js';
import { AgentProcess } from '../testbed/agent-process.js';
import { inNs, waitForLine } from '../testbed/netns.js';
import { clusterManifest, ENDPOINTS, TARGET } from './workload.js';
import { summarize, type Summary } from './stats.js';
import { startAgent, stopAgent, teardown, type AgentStart } from './agent-stats.js';
import { useLegacyIptables } from './legacy-iptables.js';

export type Mode = 'direct' | 'bpf' | 'iptables';
export type Path = 'pod' | 'ClusterIP' | 'NodePort';
export type Conn = 'keep-alive' | 'close';

export interface RateResult {
  services: number;
  mode: Mode;
  path: Path;
  conn: Conn;
  /** requests per second over the rounds */
  rps: Summary;
  /** this path's rate over the direct rate measured right before it, per round */
  vsDirect?: Summary;
  /** direct runs: the mode whose runs they alternated with */
  pairedWith?: Mode;
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
  const cluster = await Cluster.create('bench', { pods: 1, tcpPorts: [8080], udpPorts: [] });
  const rates: RateResult[] = [];
  const starts: AgentStart[] = [];
  let agent: AgentProcess | undefined;
  try {
    const pod = cluster.pods[0]!;
    const podIps = Array.from({ length: ENDPOINTS }, (_, i) => `198.18.1.${10 + i}`);
    for (const ip of podIps.slice(1)) cluster.addPodAddress(pod, ip);
    const server = cluster.spawn(pod.ns, process.execPath, [path.join(REPO, 'dist/bench/http-server.js'), '--port', String(TARGET.targetPort)]);
    await waitForLine(server, /^ready/, 10_000);
    // A load generator's usual tuning: thousands of closed connections a second
    // otherwise leave every ephemeral port in TIME_WAIT within seconds, and the rate
    // measured becomes the port search's.
    inNs(cluster.client, 'sysctl', ['-qw', 'net.ipv4.tcp_tw_reuse=1', 'net.ipv4.ip_local_port_range=1024 65535']);
    useLegacyIptables(cluster.node);
    const fromClient = (cmd: string, args: string[]) => inNs(cluster.client, cmd, args);

    const targets: Array<[Path, string]> = [
      ['ClusterIP', `http://${TARGET.clusterIP}:${TARGET.port}/`],
      ['NodePort', `http://${NODE_IP}:${TARGET.nodePort}/`],
    ];
    const directUrl = `http://${podIps[0]}:${TARGET.targetPort}/`;
    /**
     * Rounds interleave a direct run with a run of each path, so every ratio compares
     * runs taken seconds apart (the machines are noisy).
     */
    const measure = (services: number, mode: Mode, paths: Array<[Path, string]>) => {
      for (const conn of ['keep-alive', 'close'] as const) {
        const direct: Array<{ rps: number; errors: number }> = [];
        const runs = paths.map(() => [] as Array<{ rps: number; errors: number }>);
        for (let r = 0; r < opts.rounds; r++) {
          direct.push(wrk(fromClient, directUrl, conn, opts));
          paths.forEach(([, url], i) => runs[i]!.push(wrk(fromClient, url, conn, opts)));
        }
        const result = (p: Path, xs: typeof direct, ratio: boolean): RateResult => ({
          services,
          mode: ratio ? mode : 'direct',
          path: p,
          conn,
          rps: summarize(xs.map((x) => x.rps)),
          ...(ratio ? { vsDirect: summarize(xs.map((x, i) => x.rps / direct[i]!.rps)) } : { pairedWith: mode }),
          errors: xs.reduce((a, x) => a + x.errors, 0),
        });
        for (const r of [result('pod', direct, false), ...paths.map(([p], i) => result(p, runs[i]!, true))]) {
          rates.push(r);
          opts.log(
            `  ${r.mode.padEnd(8)} ${r.path.padEnd(9)} ${conn.padEnd(10)} ${String(Math.round(r.rps.median)).padStart(6)} req/s` +
              (r.vsDirect ? `  ${r.vsDirect.median.toFixed(2)}x direct` : '') +
              (r.errors ? `  (${r.errors} errors)` : ''),
          );
        }
      }
    };

    for (const count of opts.counts) {
      opts.log(`${count} services:`);
      writeFileAtomic(path.join(dir, 'cluster.json'), clusterManifest(count, podIps));
      for (const mode of ['bpf', 'iptables'] as const) {
        agent = new AgentProcess(cluster, ['--manifests', dir], BPFFS);
        starts.push(await startAgent(agent, mode, count, 'manifests', opts.log));
        measure(count, mode, targets);
        await stopAgent(agent);
        agent = undefined;
      }
    }
    return { rates, starts };
  } finally {
    await teardown(agent, cluster, dir, BPFFS);
  }
}
