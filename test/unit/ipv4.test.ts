import { describe, expect, it } from 'vitest';
import { ipv4ToInt } from '../../src/model/ipv4.js';

describe('ipv4ToInt', () => {
  it('reads dotted quads as unsigned numbers', () => {
    expect(ipv4ToInt('198.18.0.1')).toBe(0xc6120001);
    expect(ipv4ToInt('255.255.255.255')).toBe(0xffffffff);
    expect(ipv4ToInt('0.0.0.0')).toBe(0);
  });

  it('says -1 for anything else', () => {
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1..2.3', '1.2.3.', '.1.2.3', 'a.b.c.d', '1.2.3.4/8', '1234.1.1.1', ' 1.2.3.4']) {
      expect(ipv4ToInt(bad), bad).toBe(-1);
    }
  });
});
