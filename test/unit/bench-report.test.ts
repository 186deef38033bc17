// The benchmark's report: targets judged from a run's figures, the chart, the README section.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { targets, updateReadme, type BenchResults } from '../../bench/report.js';
import { e2eChart } from '../../bench/chart.js';
import type { RateResult } from '../../bench/e2e.js';
import { summarize } from '../../bench/stats.js';

const s = (...xs: number[]) => summarize(xs);
const rate = (services: number, mode: RateResult['mode'], p: RateResult['path'], conn: RateResult['conn'], rps: number, vs?: number): RateResult => ({
  services,
  mode,
  path: p,
  conn,
  rps: s(rps),
  ...(vs === undefined ? {} : { vsDirect: s(vs * 0.98, vs, vs * 1.02) }),
  errors: 0,
});

function results(bpfClose: number, iptClose: number): BenchResults {
  const rates: RateResult[] = [];
  for (const services of [1, 10000]) {
    for (const p of ['ClusterIP', 'NodePort'] as const) {
      rates.push(rate(services, 'direct', 'pod', 'close', 6000), rate(services, 'bpf', p, 'close', 6000 * bpfClose, bpfClose));
      rates.push(rate(services, 'iptables', p, 'close', 6000 * iptClose, iptClose), rate(services, 'bpf', p, 'keep-alive', 40000, 0.97));
    }
  }
  return {
    meta: { date: '2026-11-22T00:00:00.000Z', cpus: 2, kernel: '6.18', node: 'v20' },
    datapath: [],
    maglev: [{ backends: 1000, buildMs: s(3.1), remapped: 0.002, ideal: 0.001 }],
    rates,
    starts: [
      { services: 10000, mode: 'bpf', source: 'api', startToProgrammedMs: 3000, syncMs: 1800, rssMb: 190, peakRssMb: 195 },
      { services: 10000, mode: 'bpf', source: 'manifests', startToProgrammedMs: 2500, syncMs: 900, rssMb: 180, peakRssMb: 180 },
    ],
    changes: [{ services: 10000, mode: 'bpf', changes: 100, endToEndMs: { ...s(3), p99: 9 }, syncMs: { ...s(1), p99: 2 }, peakRssMb: 210 }],
  };
}

describe('summarize', () => {
  it('takes the median of an even count as the mean of the middle two, not the larger', () => {
    expect(s(0.78, 1.93).median).toBe(1.36);
    expect(s(4, 1, 3, 2)).toMatchObject({ median: 2.5, min: 1, max: 4, n: 4 });
    expect(s(5, 1, 3).median).toBe(3);
  });
});

describe('bench targets', () => {
  it('judges each target from the largest Service count of the run', () => {
    const t = Object.fromEntries(targets(results(0.95, 0.25)).map((x) => [x.what, x]));
    expect(t['eBPF ClusterIP Connection: close, 10000 services, vs no LB']).toMatchObject({ got: '0.95×', met: true });
    expect(t['eBPF vs iptables ClusterIP Connection: close, 10000 services']).toMatchObject({ got: '3.80×', met: true });
    expect(t['eBPF ClusterIP keep-alive, 10000 services, vs no LB']).toMatchObject({ met: true });
    expect(t['full sync, 10000 services × 10 (api)']).toMatchObject({ got: '1800 ms', met: false });
    expect(t['full sync, 10000 services × 10 (manifests)']).toMatchObject({ met: true });
    expect(t['one endpoint change → programmed, p99 (10000 services)']).toMatchObject({ got: '9.0 ms', met: true });
    // The peak after the changes (210) counts, not only the one at start.
    expect(t['agent peak RSS, 10000 services']).toMatchObject({ got: '210 MB', met: false });
  });

  it('judges a figure measured twice (control-plane part and cost curve) by the worse one', () => {
    const r = results(0.95, 0.25);
    r.curve = [{ services: 10000, startToProgrammedMs: 900, syncMs: 400, changeP99Ms: 5, peakRssMb: 230 }];
    let t = Object.fromEntries(targets(r).map((x) => [x.what, x]));
    expect(t['start → programmed, 10,000 services × 10 (API)']).toMatchObject({ got: '3000 ms', met: false });
    expect(t['agent peak RSS, 10000 services']).toMatchObject({ got: '230 MB', met: false });
    r.starts = r.starts.map((x) => ({ ...x, startToProgrammedMs: 800, peakRssMb: 140 }));
    r.changes = r.changes.map((x) => ({ ...x, peakRssMb: 140 }));
    r.curve = [{ ...r.curve[0]!, startToProgrammedMs: 1100, peakRssMb: 145 }];
    t = Object.fromEntries(targets(r).map((x) => [x.what, x]));
    expect(t['start → programmed, 10,000 services × 10 (API)']).toMatchObject({ got: '1100 ms', met: false });
    expect(t['agent peak RSS, 10000 services']).toMatchObject({ got: '145 MB', met: true });
    r.curve = [{ ...r.curve[0]!, changeP99Ms: 12 }];
    t = Object.fromEntries(targets(r).map((x) => [x.what, x]));
    expect(t['one endpoint change → programmed, p99 (10000 services)']).toMatchObject({ got: '12.0 ms', met: false });
  });

  it('judges east-west connects by their p50 and p99 against no LB, and the p99 ratio\'s growth from 1 Service', () => {
    const r = results(0.95, 0.25);
    const connects = (services: number, p50: number, p99: number) => ({ services, mode: 'bpf' as const, p50Us: s(7), p99Us: s(13), p50VsNoLb: s(p50), p99VsNoLb: s(p99), errors: 0 });
    r.eastWest = { rates: [], connects: [connects(1, 1.05, 1.02), connects(30000, 1.08, 1.15)] };
    const t = Object.fromEntries(targets(r).map((x) => [x.what, x]));
    expect(t['east-west eBPF connect p50, 30000 services, vs no LB']).toMatchObject({ got: '1.08×', met: true });
    expect(t['east-west eBPF connect p99, 30000 services, vs no LB']).toMatchObject({ got: '1.15×', met: false });
    expect(t['east-west eBPF connect p99 ÷ no LB, 30000 services against 1']).toMatchObject({ got: '1.13×', met: false });
  });

  it('says a target was not measured rather than met or missed', () => {
    const r = results(0.8, 0.7);
    r.changes = [];
    const t = targets(r);
    expect(t.find((x) => x.what.startsWith('one endpoint change'))).toMatchObject({ got: 'n/a', met: undefined });
    expect(t.find((x) => x.what.startsWith('eBPF vs iptables ClusterIP'))).toMatchObject({ met: false });
  });
});

describe('bench chart and README', () => {
  it('draws one bar per series and Service count, with the spread', () => {
    const svg = e2eChart(results(0.95, 0.25).rates, 'test run');
    expect(svg.startsWith('<svg')).toBe(true);
    // 2 counts x (2 eBPF + 2 iptables) bars in the close panel; keep-alive has eBPF only.
    expect(svg.match(/<rect [^>]*fill="#(1f77b4|6baed6|d62728|ff9896)"><title>/g)).toHaveLength(8 + 4);
    expect(svg).toContain('eBPF ClusterIP, 10000 services: 0.95x direct');
  });

  it('replaces only the README section between the markers, and says what is missing', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'xlb-readme-')), 'README.md');
    try {
      fs.writeFileSync(file, 'intro\n<!-- bench:begin -->\nold\n<!-- bench:end -->\nrest\n');
      updateReadme(file, results(0.95, 0.25), 'bench/results/x.md', 'bench/results/x.svg');
      const text = fs.readFileSync(file, 'utf8');
      expect(text).toMatch(/^intro\n<!-- bench:begin -->\nLatest full run: 2026-11-22/);
      expect(text).toContain('![requests/s relative to direct-to-pod](bench/results/x.svg)');
      expect(text).not.toContain('old');
      expect(text.endsWith('<!-- bench:end -->\nrest\n')).toBe(true);
      fs.writeFileSync(file, 'no markers\n');
      expect(() => updateReadme(file, results(1, 1), 'a', 'b')).toThrow(/no <!-- bench:begin -->/);
    } finally {
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
  });
});
