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
