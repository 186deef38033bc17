// Summaries of repeated measurements: the median and the spread around it.
export interface Summary {
  median: number;
  min: number;
  max: number;
  p90: number;
  p99: number;
  n: number;
}

const round = (v: number) => Math.round(v * 100) / 100;

export function summarize(xs: number[]): Summary {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { median: round(at(0.5)), p90: round(at(0.9)), p99: round(at(0.99)), min: round(s[0]!), max: round(s.at(-1)!), n: s.length };
}

/** "median (min–max)" for tables. */
export function show(x: Summary): string {
  return `${x.median} (${x.min}–${x.max})`;
}
