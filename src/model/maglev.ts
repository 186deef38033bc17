// Maglev tables' sizes (Eisenbud et al., NSDI '16). The tables themselves are built by
// the addon (native/maglev.cc), into the pool the datapath reads.

export const MAGLEV_MAX_SIZE = 65537;
/** Slots per backend: keeps each backend's share within 1% of ideal. */
export const SLOTS_PER_BACKEND = 100;

export function isPrime(n: number): boolean {
  if (n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

/** Smallest prime M >= 100 x backends, capped at 65537 (itself prime); 0 for no backends. */
export function maglevSize(backends: number): number {
  if (backends <= 0) return 0;
  let m = Math.min(SLOTS_PER_BACKEND * backends, MAGLEV_MAX_SIZE);
  while (!isPrime(m)) m++;
  return Math.min(m, MAGLEV_MAX_SIZE);
}
