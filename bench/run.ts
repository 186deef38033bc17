// `make bench`: every measurement taken in one run (the machines are noisy, so ratios
// only compare figures from the same run), written to bench/results/<timestamp>.json,
// .md and .svg; a full run also refreshes the README's results section.
// XLB_BENCH_QUICK=1: 1 and 1,000 Services, fewer and shorter rounds, README untouched.
// XLB_BENCH_REPORT=FILE.json: render an earlier run's report again (same timestamp).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MAGLEV_MAX_SIZE } from '../src/dataplane/bpf/maglev-size.js';
import { fillTable } from '../src/dataplane/bpf/table-builder.js';
import { backendNumber } from '../src/model/state.js';
import { renderTable } from '../src/observe/table.js';
import { REPO } from '../test/testbed/topology.js';
import { runDatapathBench } from './datapath.js';
import { runE2eBench } from './e2e.js';
import { runControlPlaneBench } from './control-plane.js';
import { runEastWestBench } from './east-west.js';
import { curveChart, e2eChart, type CurvePoint } from './chart.js';
import { mark, markdownReport, targets, updateReadme, type BenchResults, type MaglevResult } from './report.js';
import { summarize } from './stats.js';

const RESULTS = path.join(REPO, 'bench/results');
const quick = process.env.XLB_BENCH_QUICK === '1';
const counts = quick ? [1, 1000] : [1, 1000, 10000];

function maglevBench(): MaglevResult[] {
  return [100, 1000].map((n) => {
    const endpoints = Array.from({ length: n }, (_, i) => backendNumber({ addr: `198.18.${4 + (i >> 8)}.${i & 255}`, port: 8080 }));
    /** The table of `eps`: each slot the index of its endpoint. */
    const build = (eps: number[]) => {
      const out = new Uint32Array(MAGLEV_MAX_SIZE);
      fillTable({ endpoints: eps, weights: eps.map(() => 1), backendIds: eps.map((_, i) => i), size: MAGLEV_MAX_SIZE, start: 0 }, out);
      return out;
    };
    build(endpoints); // the addon loaded
    const times = Array.from({ length: 30 }, () => {
      const t0 = performance.now();
      build(endpoints);
      return performance.now() - t0;
    });
    const rest = endpoints.slice(1);
    const before = build(endpoints);
    const after = build(rest);
    let moved = 0;
    for (let s = 0; s < MAGLEV_MAX_SIZE; s++) if (endpoints[before[s]!] !== rest[after[s]!]) moved++;
    return { backends: n, buildMs: summarize(times), remapped: Math.round((moved / MAGLEV_MAX_SIZE) * 10000) / 10000, ideal: Math.round((1 / n) * 10000) / 10000 };
  });
}

const log = (line: string) => process.stdout.write(`${line}\n`);

/** Every measurement, in this order; Maglev first, while the process holds nothing else. */
async function measure(): Promise<BenchResults> {
  const meta = { date: new Date().toISOString(), cpus: os.cpus().length, kernel: os.release(), node: process.version, quick };
  log('== Maglev');
  const maglev = maglevBench();
  log(`== XDP cost per packet (BPF_PROG_TEST_RUN), ${counts.join(' / ')} services`);
  const datapath = runDatapathBench(counts, quick ? 20_000 : 100_000, quick ? 3 : 7);
  log(`== end to end with wrk, ${counts.join(' / ')} services`);
  const e2e = await runE2eBench({ counts, rounds: quick ? 1 : 3, durationS: quick ? 2 : 3, connections: 32, log });
  const ewCounts = quick ? [1, counts.at(-1)!] : [1, 10_000, 30_000];
  log(`== east-west: a pod -> a ClusterIP, ${ewCounts.join(' / ')} services`);
  // Connect latency (SYN -> established) is kube-proxy's headline figure: eBPF should stay flat in the number of Services.
  const eastWest = await runEastWestBench({ counts: ewCounts, rounds: quick ? 1 : 3, durationS: quick ? 2 : 3, connections: 32, connects: quick ? 1000 : 20_000, log });
  const top = counts.at(-1)!;
  // The same in both parts: the report judges a 10k start by the worse of their medians.
  const starts = quick ? 1 : 3;
  log(`== control plane: ${top} services from the fake API server`);
  const cp = await runControlPlaneBench({ count: top, changes: { bpf: quick ? 40 : 200, nftables: quick ? 10 : 50, iptables: quick ? 4 : 10 }, starts, log });
  const curveCounts = quick ? [1000, 10_000] : [1000, 10_000, 30_000, 100_000];
  log(`== cost curves: the eBPF agent at ${curveCounts.join(' / ')} services`);
  const curve: CurvePoint[] = [];
  for (const count of curveCounts) {
    const run = await runControlPlaneBench({ count, changes: { bpf: quick ? 20 : 100 }, starts, log });
    const [start, change] = [run.starts[0]!, run.changes[0]!];
    curve.push({ services: count, startToProgrammedMs: start.startToProgrammedMs, syncMs: start.syncMs, changeP99Ms: change.endToEndMs.p99, peakRssMb: Math.max(start.peakRssMb, change.peakRssMb) });
  }
  return { meta, datapath, maglev, rates: e2e.rates, starts: [...e2e.starts, ...cp.starts], changes: cp.changes, eastWest, curve };
}

// XLB_BENCH_REPORT=FILE.json: only render the report of an earlier run again.
const again = process.env.XLB_BENCH_REPORT;
const results: BenchResults = again ? (JSON.parse(fs.readFileSync(again, 'utf8')) as BenchResults) : await measure();
const meta = results.meta;
fs.mkdirSync(RESULTS, { recursive: true });
// Quick runs are for development: their files are not kept in git (.gitignore).
const stamp = meta.date.replace(/[:.]/g, '-') + (meta.quick ? '-quick' : '');
const file = (ext: string) => path.join(RESULTS, `${stamp}.${ext}`);
fs.writeFileSync(file('json'), JSON.stringify(results, null, 2));
fs.writeFileSync(file('svg'), e2eChart(results.rates, `xlb end to end, ${meta.date.slice(0, 10)}, ${meta.cpus} CPUs`));
if (results.curve) fs.writeFileSync(path.join(RESULTS, `${stamp}-curve.svg`), curveChart(results.curve, `xlb eBPF control plane by number of Services, ${meta.date.slice(0, 10)}`));
fs.writeFileSync(file('md'), markdownReport(results, `${stamp}.svg`));
if (!meta.quick) updateReadme(path.join(REPO, 'README.md'), results, `bench/results/${stamp}.md`, `bench/results/${stamp}.svg`);

log('');
log(renderTable(['TARGET', 'WANT', 'THIS RUN', ''], targets(results).map((t) => [t.what, t.want, t.got, mark(t.met)])));
log(`\nwritten: bench/results/${stamp}.json, .md and .svg${meta.quick ? '' : '; README.md results section updated'}`);
