// `make bench`: measurements taken in one run, written to bench/results/<timestamp>.json
// and .md. Ratios compare figures from the same run only (the machines are noisy).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildMaglevTable, MAGLEV_MAX_SIZE } from '../model/maglev.js';
import { renderTable } from '../cli/table.js';
import { runDatapathBench, type DatapathResult } from './datapath.js';
import { show, summarize, type Summary } from './stats.js';

const RESULTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bench/results');
const SERVICE_COUNTS = [1, 1000, 10000];

interface MaglevResult {
  backends: number;
  buildMs: Summary;
  /** share of flows whose slot changed owner when 1 backend is removed, and the ideal 1/N */
  remapped: number;
  ideal: number;
}

function maglevBench(): MaglevResult[] {
  return [100, 1000].map((n) => {
    const backends = Array.from({ length: n }, (_, i) => ({ id: `198.18.${4 + (i >> 8)}.${i & 255}:8080`, weight: 1 }));
    for (let i = 0; i < 5; i++) buildMaglevTable(backends, MAGLEV_MAX_SIZE); // JIT warm-up
    const times = Array.from({ length: 30 }, () => {
      const t0 = performance.now();
      buildMaglevTable(backends, MAGLEV_MAX_SIZE);
      return performance.now() - t0;
    });
    const before = buildMaglevTable(backends, MAGLEV_MAX_SIZE);
    const after = buildMaglevTable(backends.slice(1), MAGLEV_MAX_SIZE);
    let moved = 0;
    for (let s = 0; s < MAGLEV_MAX_SIZE; s++) if (before.order[before.table[s]!]!.id !== after.order[after.table[s]!]!.id) moved++;
    return { backends: n, buildMs: summarize(times), remapped: Math.round((moved / MAGLEV_MAX_SIZE) * 10000) / 10000, ideal: Math.round((1 / n) * 10000) / 10000 };
  });
}

function markdown(dp: DatapathResult[], mg: MaglevResult[], meta: Record<string, unknown>): string {
  const md = (headers: string[], rows: Array<Array<string | number>>) =>
    [`| ${headers.join(' | ')} |`, `|${headers.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
  return [
    `# xlb benchmarks (${meta.date}, ${meta.cpus} CPUs, kernel ${meta.kernel})`,
    '',
    '## XDP cost per packet (BPF_PROG_TEST_RUN; ns, median (min–max) of rounds; bench minus restore-only)',
    '',
    md(['services', 'scenario', 'ns/packet', 'restore-only ns'], dp.map((r) => [r.services, r.scenario, show(r.nsPerPacket), r.restoreNs.median])),
    '',
    '## Programming the maps (reconciler, all services x 10 endpoints)',
    '',
    md(['services', 'ms'], [...new Map(dp.map((r) => [r.services, r.programMs]))].map(([s, ms]) => [s, ms])),
    '',
    '## Maglev (M = 65537)',
    '',
    md(['backends', 'build ms', 'remapped when 1 removed', 'ideal 1/N'], mg.map((m) => [m.backends, show(m.buildMs), m.remapped, m.ideal])),
    '',
  ].join('\n');
}

const repeat = Number(process.env.XLB_BENCH_REPEAT ?? 100_000);
const rounds = Number(process.env.XLB_BENCH_ROUNDS ?? 7);
const meta = { date: new Date().toISOString(), cpus: os.cpus().length, kernel: os.release(), node: process.version, repeat, rounds };
process.stdout.write(`datapath: ${SERVICE_COUNTS.join(', ')} services, ${rounds} rounds of ${repeat} packets per scenario\n`);
const datapath = runDatapathBench(SERVICE_COUNTS, repeat, rounds);
const maglev = maglevBench();
fs.mkdirSync(RESULTS, { recursive: true });
const stamp = meta.date.replace(/[:.]/g, '-');
fs.writeFileSync(path.join(RESULTS, `${stamp}.json`), JSON.stringify({ meta, datapath, maglev }, null, 2));
const report = markdown(datapath, maglev, meta);
fs.writeFileSync(path.join(RESULTS, `${stamp}.md`), report);
process.stdout.write(
  renderTable(
    ['SERVICES', 'SCENARIO', 'NS/PACKET', 'PROGRAM MS'],
    datapath.map((r) => [r.services, r.scenario, show(r.nsPerPacket), r.programMs]),
  ) +
    '\n\n' +
    renderTable(['MAGLEV BACKENDS', 'BUILD MS', 'REMAPPED', 'IDEAL'], maglev.map((m) => [m.backends, show(m.buildMs), m.remapped, m.ideal])) +
    `\n\nwritten: bench/results/${stamp}.json and .md\n`,
);
