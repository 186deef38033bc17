// What `make bench` reports: the targets checked against this run's figures, a
// markdown report of every figure, and the README's "latest results" section.
import fs from 'node:fs';
import type { DatapathResult } from './datapath.js';
import type { RateResult } from './e2e.js';
import type { AgentStart } from './agent-stats.js';
import type { ChangeResult } from './control-plane.js';
import type { EastWestResult } from './east-west.js';
import { show, type Summary } from './stats.js';
import type { CurvePoint } from './chart.js';

export interface MaglevResult {
  backends: number;
  buildMs: Summary;
  /** share of flows whose slot changed owner when 1 backend is removed, and the ideal 1/N */
  remapped: number;
  ideal: number;
}

export interface BenchResults {
  meta: { date: string; cpus: number; kernel: string; node: string; [k: string]: unknown };
  datapath: DatapathResult[];
  maglev: MaglevResult[];
  rates: RateResult[];
  starts: AgentStart[];
  changes: ChangeResult[];
  /** pod -> ClusterIP on the pod's node (absent in runs made before it was measured) */
  eastWest?: EastWestResult;
  /** the eBPF control plane's cost by number of Services (absent in runs made before it was measured) */
  curve?: CurvePoint[];
}

export interface Target {
  what: string;
  want: string;
  got: string;
  met: boolean | undefined;
}

const fmt = (v: number | undefined, digits = 2) => (v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(digits));

/** The targets, each against this run's figures at its largest Service count. */
export function targets(r: BenchResults): Target[] {
  const top = Math.max(...r.rates.map((x) => x.services), 0);
  const rate = (mode: string, path: string, conn: string) => r.rates.find((x) => x.services === top && x.mode === mode && x.path === path && x.conn === conn);
  const out: Target[] = [];
  const check = (what: string, want: string, got: number | undefined, ok: (v: number) => boolean, unit = '', digits = 2) =>
    out.push({ what, want, got: `${fmt(got, digits)}${got === undefined ? '' : unit}`, met: got === undefined ? undefined : ok(got) });
  for (const path of ['ClusterIP', 'NodePort']) {
    const bpfClose = rate('bpf', path, 'close')?.vsDirect?.median;
    const iptClose = rate('iptables', path, 'close')?.vsDirect?.median;
    check(`eBPF ${path} Connection: close, ${top} services, vs no LB`, '≥ 0.95×', bpfClose, (v) => v >= 0.95, '×');
    check(`eBPF vs iptables ${path} Connection: close, ${top} services`, '≥ 3×', bpfClose !== undefined && iptClose ? bpfClose / iptClose : undefined, (v) => v >= 3, '×');
    check(`eBPF ${path} keep-alive, ${top} services, vs no LB`, '≥ 0.95×', rate('bpf', path, 'keep-alive')?.vsDirect?.median, (v) => v >= 0.95, '×');
  }
  for (const conn of ['keep-alive', 'close']) {
    check(`eBPF SNAT (node-a NodePort → pod on node-b) ${conn}, ${top} services, vs routed`, '≥ 0.90×', rate('bpf', 'SNAT', conn)?.vsDirect?.median, (v) => v >= 0.9, '×');
  }
  if (r.eastWest) {
    const ewTop = Math.max(...[...r.eastWest.rates, ...r.eastWest.connects].map((x) => x.services));
    for (const conn of ['keep-alive', 'close'] as const) {
      const x = r.eastWest.rates.find((e) => e.services === ewTop && e.mode === 'bpf' && e.conn === conn);
      check(`east-west eBPF pod → ClusterIP ${conn}, ${ewTop} services, vs no LB`, '≥ 0.97×', x?.vsNoLb?.median, (v) => v >= 0.97, '×');
    }
    const c = r.eastWest.connects.find((e) => e.services === ewTop && e.mode === 'bpf');
    check(`east-west eBPF connect p50, ${ewTop} services, vs no LB`, '≤ 1.10×', c?.p50VsNoLb?.median, (v) => v <= 1.1, '×');
    check(`east-west eBPF connect p99, ${ewTop} services, vs no LB`, '≤ 1.10×', c?.p99VsNoLb?.median, (v) => v <= 1.1, '×');
    // Flat: the p99 ratio to no LB at the most Services against the same ratio at one Service.
    const one = r.eastWest.connects.find((e) => e.services === 1 && e.mode === 'bpf');
    const growth = c?.p99VsNoLb && one?.p99VsNoLb ? c.p99VsNoLb.median / one.p99VsNoLb.median : undefined;
    check(`east-west eBPF connect p99 ÷ no LB, ${ewTop} services against 1`, '≤ 1.10×', growth, (v) => v <= 1.1, '×');
  }
  const nft = r.changes.find((x) => x.mode === 'nftables');
  check(`nftables one endpoint change → programmed, p99 (${nft?.services ?? '?'} services)`, '≤ 50 ms', nft?.endToEndMs.p99, (v) => v <= 50, ' ms', 1);
  const nftStart = r.starts.find((x) => x.mode === 'nftables' && x.source === 'api');
  check(`nftables start → programmed (${nftStart?.services ?? '?'} services, API)`, '≤ 3000 ms', nftStart?.startToProgrammedMs, (v) => v <= 3000, ' ms', 0);
  check(`nftables agent peak RSS (${nft?.services ?? '?'} services)`, '≤ 200 MB', nft?.peakRssMb, (v) => v <= 200, ' MB', 0);
  const maxStart = Math.max(...r.starts.map((s) => s.services), 0);
  for (const source of ['manifests', 'api'] as const) {
    const s = r.starts.find((x) => x.services === maxStart && x.mode === 'bpf' && x.source === source);
    check(`full sync, ${maxStart} services × 10 (${source})`, '≤ 1000 ms', s?.syncMs, (v) => v <= 1000, ' ms', 0);
  }
  const at = (n: number) => r.curve?.find((p) => p.services === n);
  // Where a run measured a figure more than once (the control-plane part and the cost
  // curve each start an agent and change endpoints), the worst one is judged.
  const worst = (xs: Array<number | undefined>) => {
    const got = xs.filter((x): x is number => x !== undefined);
    return got.length ? Math.max(...got) : undefined;
  };
  const change = r.changes.find((c) => c.mode === 'bpf');
  const changeP99 = change && worst([change.endToEndMs.p99, at(change.services)?.changeP99Ms]);
  check(`one endpoint change → programmed, p99 (${change?.services ?? '?'} services)`, '≤ 10 ms', changeP99, (v) => v <= 10, ' ms', 1);
  check('Maglev build, M = 65537, 1000 backends', '≤ 5 ms', r.maglev.find((m) => m.backends === 1000)?.buildMs.median, (v) => v <= 5, ' ms');
  // The peak over the agent's starts and the changes that followed them.
  const rss = worst([
    ...r.starts.filter((s) => s.mode === 'bpf' && s.services === maxStart).map((s) => s.peakRssMb),
    ...r.changes.filter((c) => c.mode === 'bpf' && c.services === maxStart).map((c) => c.peakRssMb),
    at(maxStart)?.peakRssMb,
  ]);
  check(`agent peak RSS, ${maxStart} services`, '≤ 150 MB', rss, (v) => v <= 150, ' MB', 0);
  const apiStarts = (n: number) => r.starts.filter((s) => s.mode === 'bpf' && s.source === 'api' && s.services === n).map((s) => s.startToProgrammedMs);
  check('start → programmed, 10,000 services × 10 (API)', '≤ 1000 ms', worst([at(10_000)?.startToProgrammedMs, ...apiStarts(10_000)]), (v) => v <= 1000, ' ms', 0);
  check('start → programmed, 100,000 services × 10 (API)', '≤ 10000 ms', at(100_000)?.startToProgrammedMs, (v) => v <= 10_000, ' ms', 0);
  check('one endpoint change p99, 100,000 services', '≤ 20 ms', at(100_000)?.changeP99Ms, (v) => v <= 20, ' ms', 1);
  check('agent peak RSS, 100,000 services', '≤ 1024 MB', at(100_000)?.peakRssMb, (v) => v <= 1024, ' MB', 0);
  return out;
}

const md = (headers: string[], rows: Array<Array<string | number>>) =>
  [`| ${headers.join(' | ')} |`, `|${headers.map(() => '---').join('|')}|`, ...rows.map((row) => `| ${row.join(' | ')} |`)].join('\n');
export const mark = (met: boolean | undefined) => (met === undefined ? 'not measured' : met ? 'met' : 'NOT met');

export function targetTable(ts: Target[]): string {
  return md(['target', 'want', 'this run', ''], ts.map((t) => [t.what, t.want, t.got, mark(t.met)]));
}

export function markdownReport(r: BenchResults, chartFile: string): string {
  const m = r.meta;
  return [
    `# xlb benchmarks (${m.date}, ${m.cpus} CPUs, kernel ${m.kernel}, Node ${m.node})`,
    '',
    'Every figure is the median of rounds taken in this run, with (min–max). Ratios compare runs taken',
    'seconds apart in the same run. iptables mode runs on the legacy backend (see bench/legacy-iptables.ts).',
    '',
    '## Targets',
    '',
    targetTable(targets(r)),
    '',
    '## End to end (wrk, 1 thread, in network namespaces)',
    '',
    'From a client outside the cluster through node-a. "direct": the same client straight to the pod',
    '(pod: on node-a; podB: on node-b, routed through node-a) with nothing of ours installed, measured in',
    'every round; each ratio divides by the direct run of its own round. bpf-xdp: eBPF with XDP forced on',
    'the veth devices (tc otherwise); SNAT: a NodePort on node-a whose backend runs on node-b.',
    '',
    `![requests/s relative to direct](${chartFile})`,
    '',
    md(
      ['services', 'mode', 'path', 'connections', 'req/s', '÷ direct', 'errors'],
      r.rates.map((x) => [
        x.services,
        x.mode,
        x.path,
        x.conn,
        `${Math.round(x.rps.median)} (${Math.round(x.rps.min)}–${Math.round(x.rps.max)})`,
        x.vsDirect ? show(x.vsDirect) : '',
        x.errors,
      ]),
    ),
    '',
    ...(r.eastWest
      ? [
          '## East-west: a pod → a ClusterIP on its node (wrk and sequential connects, in the pod)',
          '',
          'Baseline "none": the same pod → the backend pod with nothing of ours installed (its connects go to',
          'the ten endpoint addresses in turn, as the Service spreads them); each mode is compared with the',
          'baseline of its own round. A round\'s connect p99 is the median of the p99s',
          'of five batches of consecutive connects, so that one stall of the host does not decide it.',
          'Each connect() is timed in C (bench/connect-latency.c), blocking, SYN to established.',
          '',
          md(
            ['services', 'mode', 'connections', 'req/s', '÷ no LB', 'errors'],
            r.eastWest.rates.map((x) => [x.services, x.mode, x.conn, `${Math.round(x.rps.median)} (${Math.round(x.rps.min)}–${Math.round(x.rps.max)})`, x.vsNoLb ? show(x.vsNoLb) : '', x.errors]),
          ),
          '',
          md(
            ['services', 'mode', 'connect p50 µs', 'p50 ÷ no LB', 'connect p99 µs', 'p99 ÷ no LB', 'errors'],
            r.eastWest.connects.map((c) => [c.services, c.mode, show(c.p50Us), c.p50VsNoLb ? show(c.p50VsNoLb) : '', show(c.p99Us), c.p99VsNoLb ? show(c.p99VsNoLb) : '', c.errors]),
          ),
          '',
        ]
      : []),
    '## Agent start: from spawn to everything programmed',
    '',
    md(
      ['services', 'mode', 'source', 'start → programmed ms', 'runs ms (median above)', 'first sync ms', 'RSS MB', 'peak RSS MB'],
      r.starts.map((s) => [s.services, s.mode, s.source, s.startToProgrammedMs, s.runsMs?.join(' / ') ?? '', Math.round(s.syncMs), s.rssMb, s.peakRssMb]),
    ),
    '',
    ...(r.curve
      ? [
          '## Cost curves: the eBPF agent by number of Services (× 10 endpoints, from the fake API server)',
          '',
          'Each row starts the agent with that many Services (the median of three starts, one in a quick run)',
          'and then changes one endpoint at a time;',
          '"per Service" divides by the number of Services, so growth beyond linear shows as a rising figure.',
          '',
          `![cost by number of Services](${chartFile.replace(/\.svg$/, '-curve.svg')})`,
          '',
          md(
            ['services', 'start → programmed ms', 'first sync ms', 'µs per Service', 'change p99 ms', 'peak RSS MB', 'KB per Service'],
            r.curve.map((p) => [p.services, p.startToProgrammedMs, Math.round(p.syncMs), Math.round((p.syncMs * 1000) / p.services), p.changeP99Ms, p.peakRssMb, Math.round((p.peakRssMb * 1024) / p.services)]),
          ),
          '',
        ]
      : []),
    '## One endpoint change under load (fake API server → programmed)',
    '',
    md(
      ['services', 'mode', 'changes', 'end to end p50 ms', 'p99 ms', 'sync p50 ms', 'sync p99 ms', 'peak RSS MB'],
      r.changes.map((c) => [c.services, c.mode, c.changes, c.endToEndMs.median, c.endToEndMs.p99, c.syncMs.median, c.syncMs.p99, c.peakRssMb]),
    ),
    '',
    '## XDP cost per packet (BPF_PROG_TEST_RUN; ns; bench wrapper minus restore-only)',
    '',
    md(['services', 'scenario', 'ns/packet', 'restore-only ns'], r.datapath.map((d) => [d.services, d.scenario, show(d.nsPerPacket), d.restoreNs.median])),
    '',
    '## Programming the maps in-process (reconciler, all services × 10 endpoints)',
    '',
    md(['services', 'ms'], [...new Map(r.datapath.map((d) => [d.services, d.programMs]))]),
    '',
    '## Maglev (M = 65537)',
    '',
    md(['backends', 'build ms', 'remapped when 1 removed', 'ideal 1/N'], r.maglev.map((g) => [g.backends, show(g.buildMs), g.remapped, g.ideal])),
    '',
  ].join('\n');
}

const BEGIN = '<!-- bench:begin -->';
const END = '<!-- bench:end -->';

/** Replaces the README's results section (between the bench markers) with this run's. */
export function updateReadme(readme: string, r: BenchResults, reportFile: string, chartFile: string): void {
  const text = fs.readFileSync(readme, 'utf8');
  const a = text.indexOf(BEGIN);
  const b = text.indexOf(END);
  if (a < 0 || b < a) throw new Error(`${readme}: no ${BEGIN} … ${END} section to put the results in`);
  const section = [
    BEGIN,
    `Latest full run: ${r.meta.date.slice(0, 10)}, ${r.meta.cpus} CPUs, kernel ${r.meta.kernel} ([all figures](${reportFile})).`,
    '',
    `![requests/s relative to direct-to-pod](${chartFile})`,
    '',
    targetTable(targets(r)),
    END,
  ].join('\n');
  fs.writeFileSync(readme, text.slice(0, a) + section + text.slice(b + END.length));
}
