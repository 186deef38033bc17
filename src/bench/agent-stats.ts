// What an agent start costs: time until everything is programmed, and memory.
import fs from 'node:fs';

export interface AgentStart {
  services: number;
  mode: 'bpf' | 'iptables';
  source: 'manifests' | 'api';
  /** from spawning the agent to the end of its first sync (everything programmed) */
  startToProgrammedMs: number;
  /** the first sync alone: model, diff and programming the dataplane */
  syncMs: number;
  /** resident set after the first sync, and its peak so far (MiB) */
  rssMb: number;
  peakRssMb: number;
}

/** VmRSS and VmHWM of a process, in MiB. */
export function agentMemory(pid: number): { rssMb: number; peakRssMb: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))?.[1] ?? NaN);
  return { rssMb: Math.round(kb('VmRSS') / 1024), peakRssMb: Math.round(kb('VmHWM') / 1024) };
}
