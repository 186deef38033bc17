// How the bench reports repeated agent starts.
import { describe, expect, it } from 'vitest';
import { medianStart, type AgentStart } from '../../bench/agent-stats.js';

const start = (ms: number, syncMs: number, peakRssMb: number): AgentStart => ({ services: 10_000, mode: 'bpf', source: 'api', startToProgrammedMs: ms, syncMs, rssMb: 120, peakRssMb });

describe('medianStart', () => {
  it('reports the median run with its own sync time, the highest peak of any run, and every run in order', () => {
    const m = medianStart([start(1016, 490, 130), start(852, 396, 135), start(901, 420, 131)]);
    expect(m).toMatchObject({ startToProgrammedMs: 901, syncMs: 420, peakRssMb: 135, runsMs: [1016, 852, 901] });
  });

  it('takes the lower middle run of an even count, a run that happened rather than a mean', () => {
    expect(medianStart([start(900, 1, 1), start(800, 2, 1)]).startToProgrammedMs).toBe(800);
    expect(medianStart([start(700, 1, 1)]).runsMs).toEqual([700]);
  });

  it('refuses to summarize no run', () => {
    expect(() => medianStart([])).toThrow(/no start/);
  });
});
