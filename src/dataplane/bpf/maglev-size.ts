// Maglev tables' sizes (Eisenbud et al., NSDI '16). The tables themselves are built by
// the addon (native/maglev.cc), into the pool the datapath reads.

import { xlb_limits } from './contract.js';

/** The largest table: bpf/xlb.h's, which the addon's builder checks too. */
export const MAGLEV_MAX_SIZE = xlb_limits.XLB_MAGLEV_MAX_SIZE;
/** Slots per backend: keeps each backend's share within 1% of ideal. */
export const SLOTS_PER_BACKEND = 100;

export function isPrime(n: number): boolean {
  if (n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

/** maglevSize by backend count below the cap, as first computed: a start asks 20,000 times. */
const sizes: number[] = [];

/** Smallest prime M >= 100 x backends, capped at 65537 (itself prime); 0 for no backends. */
export function maglevSize(backends: number): number {
  if (backends <= 0) return 0;
  if (SLOTS_PER_BACKEND * backends >= MAGLEV_MAX_SIZE) return MAGLEV_MAX_SIZE;
  let m = sizes[backends];
  if (m !== undefined) return m;
  for (m = SLOTS_PER_BACKEND * backends; !isPrime(m); ) m++;
  return (sizes[backends] = Math.min(m, MAGLEV_MAX_SIZE));
}
