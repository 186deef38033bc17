// One mini cluster with a running agent per test file: made before the tests, removed
// after them (also when they fail), and the agent's log printed for a failed test.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { Cluster, type ClusterOptions, type Pod } from '../../src/testbed/topology.js';
import { AgentProcess } from '../../src/testbed/agent-process.js';

export interface AgentCluster {
  cluster: Cluster;
  agent: AgentProcess;
  /** the manifest directory the agent watches */
  dir: string;
  pods: Pod[];
}

export type Mode = 'bpf' | 'iptables';
/** The behaviour suites run once per datapath. */
export const MODES: readonly Mode[] = ['bpf', 'iptables'];

/** `before` writes the first manifests, before the agent starts (in `mode`). */
export function useAgentCluster(tag: string, opts: ClusterOptions, mode: Mode, before?: (ctx: AgentCluster) => void): AgentCluster {
  const ctx = {} as AgentCluster;
  beforeAll(async () => {
    ctx.dir = fs.mkdtempSync(path.join(os.tmpdir(), `xlb-${tag}-`));
    ctx.cluster = await Cluster.create(tag, opts);
    ctx.pods = ctx.cluster.pods;
    before?.(ctx);
    ctx.agent = new AgentProcess(ctx.cluster, ['--manifests', ctx.dir], `/sys/fs/bpf/xlb-${tag}-${process.pid}`);
    ctx.agent.start(['--mode', mode]);
    await ctx.agent.waitForSync();
  }, 60_000);

  afterAll(async () => {
    await ctx.agent?.stop();
    try {
      ctx.agent?.cleanup();
    } finally {
      ctx.cluster?.destroy();
      if (ctx.dir) fs.rmSync(ctx.dir, { recursive: true, force: true });
    }
  });

  afterEach((t) => {
    if (t.task.result?.state === 'fail') process.stderr.write(`agent log:\n${ctx.agent?.log.slice(-40).join('\n')}\n`);
  });
  return ctx;
}
