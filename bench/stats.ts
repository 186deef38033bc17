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

/** The median, p90 and p99 (nearest rank), min and max of `xs`. */
export function summarize(xs: number[]): Summary {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  // Of an even count, the mean of the middle two: of two rounds, not the worse one.
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median: round(median), p90: round(at(0.9)), p99: round(at(0.99)), min: round(s[0]!), max: round(s.at(-1)!), n: s.length };
}

/** "median (min–max)" for tables. */
export function show(x: Summary): string {
  return `${x.median} (${x.min}–${x.max})`;
}
