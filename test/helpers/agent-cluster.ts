// One mini cluster with a running agent per test file: made before the tests, removed
// after them (also when they fail), and for a failed test the agents' logs printed, with
// their frontends and Maglev tables in eBPF mode.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { DataplaneMode } from '../../src/dataplane/types.js';
import { Cluster, type ClusterOptions, type Pod } from '../testbed/topology.js';
import { AgentProcess } from '../testbed/agent-process.js';
import { podEndpoint } from '../fixtures/k8s.js';
import type { Endpoint } from '../../src/model/k8s.js';

/** The namespace of the objects the agents are given. */
export const NS = 'it';

/** The test bed's pods as the endpoints of a slice, each on its node. */
export const endpointsOf = (pods: Array<Pick<Pod, 'name' | 'ip' | 'nodeName'>>): Endpoint[] => pods.map((p) => podEndpoint(NS, p));

export interface AgentCluster {
  cluster: Cluster;
  /** node-a's agent */
  agent: AgentProcess;
  /** node-b's, watching the same manifests */
  agentB: AgentProcess;
  /** the manifest directory the agent watches */
  dir: string;
  pods: Pod[];
}

/** The behaviour suites run once per datapath. */
export { DATAPLANE_MODES as MODES } from '../../src/dataplane/types.js';

/** `before` writes the first manifests, before the agents start (in `mode`), one per node. */
export function useAgentCluster(tag: string, opts: ClusterOptions, mode: DataplaneMode, before?: (ctx: AgentCluster) => void): AgentCluster {
  const ctx = {} as AgentCluster;
  beforeAll(async () => {
    ctx.dir = fs.mkdtempSync(path.join(os.tmpdir(), `xlb-${tag}-`));
    ctx.cluster = await Cluster.create(tag, opts);
    ctx.pods = ctx.cluster.pods;
    before?.(ctx);
    const [a, b] = ctx.cluster.nodes.map((node) => new AgentProcess(ctx.cluster, ['--manifests', ctx.dir], `/sys/fs/bpf/xlb-${tag}-${process.pid}-${node.name}`, { node }));
    ctx.agent = a!;
    ctx.agentB = b!;
    for (const agent of [a!, b!]) agent.start(['--mode', mode]);
    await Promise.all([a!.waitForSync(), b!.waitForSync()]);
  }, 60_000);

  afterAll(async () => {
    const agents = [ctx.agent, ctx.agentB].filter(Boolean);
    await Promise.all(agents.map((a) => a.stop()));
    try {
      for (const a of agents) a.cleanup();
    } finally {
      ctx.cluster?.destroy();
      if (ctx.dir) fs.rmSync(ctx.dir, { recursive: true, force: true });
    }
  });

  afterEach((t) => {
    if (t.task.result?.state !== 'fail') return;
    for (const a of [ctx.agent, ctx.agentB]) {
      if (!a) continue;
      process.stderr.write(`${a.node.name} agent log:\n${a.log.slice(-30).join('\n')}\n`);
      if (mode !== 'bpf') continue;
      try {
        process.stderr.write(`${a.node.name} maps:\n${a.dumpTable('services')}\n${a.dumpTable('maglev')}\n`);
      } catch (err) {
        process.stderr.write(`${a.node.name} maps: ${(err as Error).message}\n`);
      }
    }
  });
  return ctx;
}
