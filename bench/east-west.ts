// East-west: a pod calling a ClusterIP on its own node, through the socket programs
// (eBPF mode) or the node's nat table (iptables mode), against the same pod calling
// the backend pod directly with nothing of ours installed (agent stopped, programs
// detached, chains removed): its connects go to the Service's ten endpoint addresses
// in turn, as a Service spreads them (connects to one address have a shorter tail,
// about 2 µs at p99 here, which is the kernel's and not what a load balancer adds).
// Every round measures the baseline and each mode seconds apart, so ratios are taken
// per round; each path starts clean (see forgetLastPath).
import { DATAPLANE_MODES, type DataplaneMode } from '../src/dataplane/types.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Cluster, compiled, writeFileAtomic, type Pod } from '../test/testbed/topology.js';
import { AgentProcess } from '../test/testbed/agent-process.js';
import { inNs, waitForLine } from '../test/testbed/netns.js';
import { clusterManifest, ENDPOINTS, TARGET } from './workload.js';
import { summarize, type Summary } from './stats.js';
import { stopAgent, teardown } from './agent-stats.js';
import { useLegacyIptables } from './legacy-iptables.js';
import { forgetLastPath, wrk, type Conn, type E2eOptions } from './e2e.js';
import { measureConnects, type ConnectTimes } from './connect-latency.js';

export type EastWestMode = 'none' | DataplaneMode;

export interface EastWestRate {
  services: number;
  mode: EastWestMode;
  conn: Conn;
  rps: Summary;
  /** this mode's rate over the no-LB rate of the same round */
  vsNoLb?: Summary;
  errors: number;
}

export interface ConnectLatency {
  services: number;
  mode: EastWestMode;
  /** per round: the p50 of its connects and the median of its batches' p99s, in µs */
  p50Us: Summary;
  p99Us: Summary;
  /** this mode's p50 and p99 over the no-LB ones of the same round */
  p50VsNoLb?: Summary;
  p99VsNoLb?: Summary;
  errors: number;
}

export interface EastWestResult {
  rates: EastWestRate[];
  connects: ConnectLatency[];
}

export interface EastWestOptions extends E2eOptions {
  /** sequential connects per latency measurement */
  connects: number;
}

const BPFFS = '/sys/fs/bpf/xlb-bench-ew';
const MODES: EastWestMode[] = ['none', ...DATAPLANE_MODES];

interface Round {
  rps: Record<Conn, { rps: number; errors: number }>;
  connect: ConnectTimes;
}

export async function runEastWestBench(opts: EastWestOptions): Promise<EastWestResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlb-bench-ew-'));
  // pod-0 serves every endpoint of the target Service; pod-1, on the same node, calls it.
  const cluster = await Cluster.create('ew', { pods: 2, tcpPorts: [8080], udpPorts: [] });
  let agent: AgentProcess | undefined;
  const out: EastWestResult = { rates: [], connects: [] };
  try {
    const [server, client] = cluster.pods as [Pod, Pod];
    const podIps = [server.ip, ...Array.from({ length: ENDPOINTS - 1 }, (_, i) => `198.18.1.${100 + i}`)];
    for (const ip of podIps.slice(1)) cluster.addPodAddress(server, ip);
    const proc = cluster.spawn(server.ns, process.execPath, [compiled('bench/http-server.ts'), '--port', String(TARGET.targetPort)], server.cgroup);
    await waitForLine(proc, /^ready/, 10_000);
    // The client's closed connections must not run it out of ports (see e2e.ts).
    inNs(client.ns, 'sysctl', ['-qw', 'net.ipv4.tcp_tw_reuse=1', 'net.ipv4.ip_local_port_range=1024 65535']);
    useLegacyIptables(cluster.node);
    const run = (cmd: string, args: string[]) => cluster.exec(client, cmd, args);

    // Connects first, from a clean slate: after wrk's closed connections the server holds
    // thousands of TIME_WAIT sockets, all on one address for the no-LB path and spread
    // over ten for a Service, which would tilt the comparison.
    const measure = (connectTo: string, url: string): Round => {
      forgetLastPath([cluster.node], [client.ns, server.ns]);
      const connect = measureConnects(run, connectTo, opts.connects);
      const rps = {} as Round['rps'];
      for (const conn of ['keep-alive', 'close'] as const) rps[conn] = wrk(run, url, conn, opts);
      return { rps, connect };
    };
    const service = `${TARGET.clusterIP}:${TARGET.port}`;

    for (const count of opts.counts) {
      opts.log(`${count} services:`);
      writeFileAtomic(path.join(dir, 'cluster.json'), clusterManifest(count, podIps));
      const rounds: Record<EastWestMode, Round[]> = { none: [], bpf: [], nftables: [], iptables: [] };
      for (let r = 0; r < opts.rounds; r++) {
        rounds.none.push(measure(`${podIps.join(',')}:${TARGET.targetPort}`, `http://${server.ip}:${TARGET.targetPort}/`));
        for (const mode of DATAPLANE_MODES) {
          agent = new AgentProcess(cluster, ['--manifests', dir], BPFFS);
          agent.start(['--mode', mode]);
          await agent.waitForSync(0, 15 * 60_000);
          rounds[mode].push(measure(service, `http://${service}/`));
          await stopAgent(agent);
          agent = undefined;
        }
      }
      const base = rounds.none;
      for (const mode of MODES) {
        const rs = rounds[mode];
        const ratio = mode !== 'none';
        for (const conn of ['keep-alive', 'close'] as const) {
          const rate: EastWestRate = {
            services: count,
            mode,
            conn,
            rps: summarize(rs.map((x) => x.rps[conn].rps)),
            ...(ratio ? { vsNoLb: summarize(rs.map((x, i) => x.rps[conn].rps / base[i]!.rps[conn].rps)) } : {}),
            errors: rs.reduce((a, x) => a + x.rps[conn].errors, 0),
          };
          out.rates.push(rate);
          opts.log(`  ${mode.padEnd(8)} ${conn.padEnd(10)} ${String(Math.round(rate.rps.median)).padStart(6)} req/s${rate.vsNoLb ? `  ${rate.vsNoLb.median.toFixed(2)}x no LB` : ''}`);
        }
        const lat: ConnectLatency = {
          services: count,
          mode,
          p50Us: summarize(rs.map((x) => x.connect.us.median)),
          p99Us: summarize(rs.map((x) => x.connect.p99)),
          ...(ratio
            ? {
                p50VsNoLb: summarize(rs.map((x, i) => x.connect.us.median / base[i]!.connect.us.median)),
                p99VsNoLb: summarize(rs.map((x, i) => x.connect.p99 / base[i]!.connect.p99)),
              }
            : {}),
          errors: rs.reduce((a, x) => a + x.connect.errors, 0),
        };
        out.connects.push(lat);
        const vs = (x?: Summary) => (x ? ` (${x.median.toFixed(2)}x no LB)` : '');
        opts.log(`  ${mode.padEnd(8)} connect    p50 ${lat.p50Us.median} µs${vs(lat.p50VsNoLb)}, p99 ${lat.p99Us.median} µs${vs(lat.p99VsNoLb)}`);
      }
    }
    return out;
  } finally {
    await teardown(agent, cluster, dir, BPFFS);
  }
}
