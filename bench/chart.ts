// The end-to-end results as an SVG bar chart: requests/s of each path relative to
// direct-to-pod, by number of Services, one panel per connection style.
import type { Conn, RateResult } from './e2e.js';

const SERIES = [
  { mode: 'bpf', path: 'ClusterIP', label: 'eBPF ClusterIP', color: '#1f77b4' },
  { mode: 'bpf', path: 'NodePort', label: 'eBPF NodePort', color: '#6baed6' },
  { mode: 'bpf-xdp', path: 'NodePort', label: 'eBPF XDP NodePort', color: '#9467bd' },
  { mode: 'bpf', path: 'SNAT', label: 'eBPF SNAT', color: '#2ca02c' },
  { mode: 'iptables', path: 'ClusterIP', label: 'iptables ClusterIP', color: '#d62728' },
  { mode: 'iptables', path: 'NodePort', label: 'iptables NodePort', color: '#ff9896' },
  { mode: 'iptables', path: 'SNAT', label: 'iptables SNAT', color: '#ff7f0e' },
] as const;

const W = 420;
const H = 260;
const M = { top: 40, right: 10, bottom: 40, left: 44 };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

function panel(rates: RateResult[], conn: Conn, x0: number): string {
  const counts = [...new Set(rates.map((r) => r.services))].sort((a, b) => a - b);
  const rows = rates.filter((r) => r.conn === conn && r.vsDirect);
  const yMax = Math.max(1.2, ...rows.map((r) => r.vsDirect!.max));
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const y = (v: number) => M.top + plotH - (v / yMax) * plotH;
  const groupW = plotW / counts.length;
  const barW = (groupW * 0.8) / SERIES.length;
  const out: string[] = [`<g transform="translate(${x0},0)">`];
  out.push(`<text x="${W / 2}" y="18" text-anchor="middle" font-weight="bold">${esc(conn === 'close' ? 'Connection: close' : 'keep-alive')}</text>`);
  for (let t = 0; t <= yMax + 1e-9; t += 0.2) {
    out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y(t)}" y2="${y(t)}" stroke="${Math.abs(t - 1) < 1e-9 ? '#444' : '#ddd'}"/>`);
    out.push(`<text x="${M.left - 4}" y="${y(t) + 4}" text-anchor="end" font-size="11">${t.toFixed(1)}</text>`);
  }
  counts.forEach((count, gi) => {
    const gx = M.left + gi * groupW + groupW * 0.1;
    SERIES.forEach((s, si) => {
      const r = rows.find((x) => x.services === count && x.mode === s.mode && x.path === s.path);
      if (!r) return;
      const v = r.vsDirect!;
      const bx = gx + si * barW;
      out.push(`<rect x="${bx}" y="${y(v.median)}" width="${barW - 2}" height="${y(0) - y(v.median)}" fill="${s.color}"><title>${esc(`${s.label}, ${count} services: ${v.median}x direct (${v.min}–${v.max}), ${Math.round(r.rps.median)} req/s`)}</title></rect>`);
      // The spread over rounds.
      out.push(`<line x1="${bx + barW / 2 - 1}" x2="${bx + barW / 2 - 1}" y1="${y(v.min)}" y2="${y(v.max)}" stroke="#222"/>`);
    });
    out.push(`<text x="${gx + groupW * 0.4}" y="${H - M.bottom + 16}" text-anchor="middle" font-size="11">${count.toLocaleString('en-US')} services</text>`);
  });
  out.push(`<text x="12" y="${M.top + plotH / 2}" transform="rotate(-90 12 ${M.top + plotH / 2})" text-anchor="middle" font-size="11">requests/s ÷ direct to pod</text>`);
  out.push('</g>');
  return out.join('\n');
}

export function e2eChart(rates: RateResult[], title: string): string {
  const legend = SERIES.map(
    (s, i) => `<rect x="${20 + i * 200}" y="${H + 8}" width="12" height="12" fill="${s.color}"/><text x="${36 + i * 200}" y="${H + 18}" font-size="12">${esc(s.label)}</text>`,
  ).join('\n');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${H + 50}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<title>${esc(title)}</title>`,
    panel(rates, 'keep-alive', 0),
    panel(rates, 'close', W),
    legend,
    `<text x="${W}" y="${H + 42}" text-anchor="middle" font-size="11" fill="#555">${esc(title)}</text>`,
    '</svg>',
    '',
  ].join('\n');
}

export interface CurvePoint {
  services: number;
  startToProgrammedMs: number;
  syncMs: number;
  changeP99Ms: number;
  peakRssMb: number;
}

const CURVES = [
  { key: 'startToProgrammedMs', label: 'start → programmed (s)', scale: 1 / 1000, color: '#1f77b4' },
  { key: 'syncMs', label: 'first sync (s)', scale: 1 / 1000, color: '#6baed6' },
  { key: 'changeP99Ms', label: 'one change p99 (ms ÷ 10)', scale: 1 / 10, color: '#2ca02c' },
  { key: 'peakRssMb', label: 'peak RSS (GB ÷ 0.1)', scale: 1 / 100, color: '#d62728' },
] as const;

/** The eBPF control plane's cost by number of Services (log scale), one line per figure. */
export function curveChart(points: CurvePoint[], title: string): string {
  const w = 560;
  const h = 300;
  const m = { top: 40, right: 190, bottom: 40, left: 44 };
  const pts = [...points].sort((a, b) => a.services - b.services);
  if (pts.length === 0) return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="40"><text x="10" y="24">${esc(title)}: no points</text></svg>`;
  const lx = (n: number) => Math.log10(n);
  const [x0, x1] = [lx(pts[0]!.services), lx(pts.at(-1)!.services)];
  const yMax = Math.max(1, ...pts.flatMap((p) => CURVES.map((c) => p[c.key] * c.scale)));
  const x = (n: number) => m.left + ((lx(n) - x0) / Math.max(x1 - x0, 1e-9)) * (w - m.left - m.right);
  const y = (v: number) => m.top + (h - m.top - m.bottom) * (1 - v / yMax);
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif" font-size="11">`, `<text x="${m.left}" y="20" font-size="13">${esc(title)}</text>`];
  out.push(`<line x1="${m.left}" y1="${y(0)}" x2="${w - m.right}" y2="${y(0)}" stroke="#999"/>`);
  for (const p of pts) out.push(`<text x="${x(p.services)}" y="${h - m.bottom + 16}" text-anchor="middle">${p.services >= 1000 ? `${p.services / 1000}k` : p.services}</text>`);
  for (let v = 0; v <= yMax; v += Math.max(1, Math.ceil(yMax / 5))) out.push(`<text x="${m.left - 6}" y="${y(v) + 4}" text-anchor="end">${v}</text>`);
  CURVES.forEach((c, i) => {
    out.push(`<polyline fill="none" stroke="${c.color}" stroke-width="2" points="${pts.map((p) => `${x(p.services).toFixed(1)},${y(p[c.key] * c.scale).toFixed(1)}`).join(' ')}"/>`);
    out.push(`<rect x="${w - m.right + 12}" y="${m.top + i * 18}" width="10" height="10" fill="${c.color}"/><text x="${w - m.right + 26}" y="${m.top + i * 18 + 9}">${esc(c.label)}</text>`);
  });
  out.push(`<text x="${(m.left + w - m.right) / 2}" y="${h - 6}" text-anchor="middle">Services × 10 endpoints (log scale)</text>`, '</svg>');
  return out.join('\n');
}
