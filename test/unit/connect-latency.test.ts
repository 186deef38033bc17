// The east-west bench's connect times, as bench/connect-latency.c prints them: failed
// connects counted apart, the p99 taken per batch of consecutive connects.
import { describe, expect, it } from 'vitest';
import { CONNECT_LATENCY, measureConnects } from '../../bench/connect-latency.js';

describe('measureConnects', () => {
  it('runs the timer in the pod, counts failures apart and takes the median of the batches\' p99s', () => {
    // 100 connects of 10 µs, but the second batch of 20 is 50 µs throughout (a stall), and one failed.
    const times = Array.from({ length: 100 }, (_, i) => (i === 7 ? -1 : i >= 20 && i < 40 ? 50 : 10));
    const calls: string[][] = [];
    const got = measureConnects((cmd, args) => (calls.push([cmd, ...args]), JSON.stringify(times)), '198.19.0.10:80', 100);
    expect(calls).toEqual([[CONNECT_LATENCY, '198.19.0.10', '80', '100']]);
    expect(got.errors).toBe(1);
    expect(got.us.n).toBe(99);
    // One batch's stall does not make the p99 (the p99 of all of them would be 50).
    expect(got.us.p99).toBe(50);
    expect(got.p99).toBe(10);
  });

  it('passes a list of addresses to the timer, which connects to each in turn', () => {
    const calls: string[][] = [];
    measureConnects((cmd, args) => (calls.push([cmd, ...args]), JSON.stringify([5, 5, 5, 5, 5])), '198.19.0.10,198.19.0.11:8080', 5);
    expect(calls).toEqual([[CONNECT_LATENCY, '198.19.0.10,198.19.0.11', '8080', '5']]);
  });

  it('fails when a batch has no connect that succeeded', () => {
    expect(() => measureConnects(() => JSON.stringify([5, 5, -1, -1, -1]), '198.19.0.10:80', 5)).toThrow(/2 of 5 connections to 198.19.0.10:80 succeeded/);
  });
});
