// The control plane under load, fed by the fake API server (the real list/watch
// protocol): start to everything programmed, memory, and the latency of one
// endpoint change among `count` Services, from the API write to the end of the sync
// that programmed it, in eBPF and in iptables mode.
import { DATAPLANE_MODES, type DataplaneMode } from '../src/dataplane/types.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Cluster } from '../test/testbed/topology.js';
import { AgentProcess } from '../test/testbed/agent-process.js';
import { FakeApiProcess } from '../test/testbed/fake-api-process.js';
import { BENCH_NAMESPACE, ENDPOINTS, slice, syntheticCluster } from './workload.js';
import { summarize, type Summary } from './stats.js';
import { agentMemory, medianStart, startAgent, stopAgent, teardown, type AgentStart } from './agent-stats.js';
import { useLegacyIptables } from './legacy-iptables.js';

export interface ChangeResult {
  services: number;
  mode: DataplaneMode;
  changes: number;
  /** API write -> sync done, ms (the agent logs times in whole ms) */
  endToEndMs: Summary;
  /** the sync alone (model, diff, programming), ms */
  syncMs: Summary;
  peakRssMb: number;
}

export interface ControlPlaneOptions {
  count: number;
  /** the modes to measure, and how many changes in each */
  changes: Partial<Record<DataplaneMode, number>>;
  /** agent starts per mode, the last one kept for the changes: the median is reported */
  starts: number;
  log: (line: string) => void;
}

const BPFFS = '/sys/fs/bpf/xlb-bench-cp';


export async function runControlPlaneBench(opts: ControlPlaneOptions): Promise<{ starts: AgentStart[]; changes: ChangeResult[] }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlb-bench-cp-'));
  const cluster = await Cluster.create('cp', { pods: 1, tcpPorts: [8080], udpPorts: [] });
  const starts: AgentStart[] = [];
  const changes: ChangeResult[] = [];
  let agent: AgentProcess | undefined;
  try {
    const api = new FakeApiProcess(cluster, cluster.node);
    await api.start();
    useLegacyIptables(cluster.node);
    const { services, slices } = syntheticCluster(opts.count);
    const file = path.join(dir, 'cluster.json');
    const node = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' }, status: { addresses: [{ type: 'InternalIP', address: '198.18.0.1' }] } };
    fs.writeFileSync(file, JSON.stringify({ kind: 'List', items: [node, ...services, ...slices] }));
    await api.send({ op: 'load', file });
    const kubeconfig = path.join(dir, 'kubeconfig');
    api.writeKubeconfig(kubeconfig);

    for (const mode of DATAPLANE_MODES.filter((m) => opts.changes[m] !== undefined)) {
      const runs: AgentStart[] = [];
      let current: AgentProcess;
      do {
        await stopAgent(agent);
        agent = current = new AgentProcess(cluster, ['--kubeconfig', kubeconfig], BPFFS);
        runs.push(await startAgent(current, mode, opts.count, 'api', opts.log));
      } while (runs.length < opts.starts);
      starts.push(medianStart(runs));

      const endToEnd: number[] = [];
      const sync: number[] = [];
      for (let i = 0; i < opts.changes[mode]!; i++) {
        // One endpoint of one Service moves to a new address; the next change undoes it.
        const s = ((i >> 1) * 7919) % opts.count;
        const ips = (slices[s]!.endpoints ?? []).map((e) => e.addresses[0]!);
        if (i % 2 === 0) ips[0] = `198.18.3.${(i >> 1) % 250}`;
        const before = current.syncs();
        // From the write's time on the server's clock: a pause of this process (its
        // collector, with everything the bench made before) is not the agent's latency.
        const written = await api.send({ op: 'upsert', kind: 'endpointslices', object: slice(`svc-${s}`, ips, 8080) as never });
        await current.waitForSync(before, 60_000);
        const line = current.syncLines()[before]!;
        if (!line.servicesWritten) throw new Error(`change ${i} (${BENCH_NAMESPACE}/svc-${s}) synced without writing anything: ${JSON.stringify(line)}`);
        endToEnd.push(line.time - written);
        sync.push(line.ms);
        await new Promise((r) => setTimeout(r, 20));
      }
      const r: ChangeResult = { services: opts.count, mode, changes: endToEnd.length, endToEndMs: summarize(endToEnd), syncMs: summarize(sync), peakRssMb: agentMemory(current.pid!).peakRssMb };
      changes.push(r);
      opts.log(`  ${mode} one endpoint change of ${ENDPOINTS}: p50 ${r.endToEndMs.median} ms, p99 ${r.endToEndMs.p99} ms (sync p50 ${r.syncMs.median} ms)`);
      await stopAgent(agent);
      agent = undefined;
    }
    return { starts, changes };
  } finally {
    await teardown(agent, cluster, dir, BPFFS);
  }
}
