// Stable names for rule-based datapaths: kube-proxy names a service's chains by a hash
// of what they are for, so a name survives restarts and never depends on order.
import { createHash } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** The first `length` base32 characters of the SHA-256 of `of`. */
export function stableHash(of: string, length: number): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of createHash('sha256').update(of).digest()) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < length) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= 0xff; // at most 4 bits carry over: keeps the shift within 32 bits
  }
  return out;
}
