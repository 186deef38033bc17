// What an agent start costs: time until everything is programmed, and memory.
import type { DataplaneMode } from '../src/dataplane/types.js';
import fs from 'node:fs';
import type { AgentProcess } from '../test/testbed/agent-process.js';
import type { Cluster } from '../test/testbed/topology.js';

export interface AgentStart {
  services: number;
  mode: DataplaneMode;
  source: 'manifests' | 'api';
  /** from spawning the agent to the end of its first sync (everything programmed) */
  startToProgrammedMs: number;
  /** the first sync alone: model, diff and programming the dataplane */
  syncMs: number;
  /** resident set after the first sync, and its peak so far (MiB) */
  rssMb: number;
  peakRssMb: number;
  /** when the start was repeated: every run's start → programmed, in order (the figure above is their median) */
  runsMs?: number[];
}

/** VmRSS and VmHWM of a process, in MiB. */
export function agentMemory(pid: number): { rssMb: number; peakRssMb: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))?.[1] ?? NaN);
  return { rssMb: Math.round(kb('VmRSS') / 1024), peakRssMb: Math.round(kb('VmHWM') / 1024) };
}

/** CPU time spent busy and in all since boot (jiffies, every CPU), from /proc/stat. */
function cpuTimes(): { busy: number; total: number } {
  const [, ...fields] = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = fields.map(Number) as number[];
  const busy = user! + nice! + system! + irq! + softirq! + steal!;
  return { busy, total: busy + idle! + iowait! };
}

const QUIET_SHARE = 0.1;
const QUIET_WINDOW_MS = 200;
const QUIET_MAX_MS = 10_000;

/**
 * Waits until the machine is quiet (under 10% busy over 200 ms; at most 10 s), and says
 * how many 200 ms windows were busy: the kernel frees what a measurement made
 * (namespaces, rules, conntrack entries) on its own threads after it ended, and an agent
 * started meanwhile would share the two cores with that.
 */
async function quiet(): Promise<number> {
  const t0 = Date.now();
  for (let busy = 0; ; busy++) {
    const a = cpuTimes();
    await new Promise((r) => setTimeout(r, QUIET_WINDOW_MS));
    const b = cpuTimes();
    const share = (b.busy - a.busy) / Math.max(1, b.total - a.total);
    if (share < QUIET_SHARE || Date.now() - t0 >= QUIET_MAX_MS) return busy;
  }
}

/** Starts the agent in `mode` (with `extra` arguments) on a quiet machine and waits until everything is programmed. */
export async function startAgent(
  agent: AgentProcess,
  mode: AgentStart['mode'],
  services: number,
  source: AgentStart['source'],
  log: (line: string) => void,
  extra: string[] = [],
): Promise<AgentStart> {
  const busy = await quiet();
  if (busy > 0) log(`  (waited ${busy * QUIET_WINDOW_MS} ms for the machine to be quiet)`);
  const t0 = Date.now();
  agent.start(['--mode', mode, ...extra]);
  await agent.waitForSync(0, 15 * 60_000);
  const first = agent.syncLines()[0]!;
  const start: AgentStart = { services, mode, source, startToProgrammedMs: first.time - t0, syncMs: first.ms, ...agentMemory(agent.pid!) };
  log(`  ${mode} agent programmed ${services} services (${source}) in ${start.startToProgrammedMs} ms (sync ${Math.round(first.ms)} ms)`);
  return start;
}

/**
 * What repeated starts of one agent cost: the median run by time (its first sync), the
 * highest peak of any run, and every run's time. One start varies by a tenth from run to
 * run on these machines (931-998 ms at 10,000 Services within an hour, 843-1,016 over a
 * day): one start is a sample, the median of a few a figure.
 */
export function medianStart(runs: AgentStart[]): AgentStart {
  if (runs.length === 0) throw new Error('medianStart: no start to summarize');
  const byTime = [...runs].sort((a, b) => a.startToProgrammedMs - b.startToProgrammedMs);
  const median = byTime[Math.floor((byTime.length - 1) / 2)]!;
  return { ...median, peakRssMb: Math.max(...runs.map((r) => r.peakRssMb)), runsMs: runs.map((r) => r.startToProgrammedMs) };
}

/** Stops the agent and removes what it made. */
export async function stopAgent(agent: AgentProcess | undefined): Promise<void> {
  if (!agent) return;
  await agent.stop();
  agent.cleanup();
}

/** Everything a benchmark made: the agent's datapath, the namespaces, files and pins. */
export async function teardown(agent: AgentProcess | undefined, cluster: Cluster, dir: string, bpffs: string): Promise<void> {
  try {
    await stopAgent(agent);
  } finally {
    cluster.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(bpffs, { recursive: true, force: true });
  }
}
