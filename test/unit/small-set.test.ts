// SmallSet answers as a Set does, below and past the size where it turns into one.
import { describe, expect, it } from 'vitest';
import { SmallSet } from '../../src/model/small-set.js';

describe('SmallSet', () => {
  it('adds and finds values as a Set does, from a few to many', () => {
    const ours = new SmallSet<number>([3, 1]);
    const ref = new Set([3, 1]);
    for (let i = 0; i < 200; i++) {
      const v = (i * 7) % 50;
      expect(ours.add(v)).toBe(!ref.has(v));
      ref.add(v);
      expect(ours.has(v)).toBe(true);
      expect(ours.has(v + 1000)).toBe(false);
    }
    for (let v = 0; v < 60; v++) expect(ours.has(v)).toBe(ref.has(v));
  });

  it('starts from many values as well as from few', () => {
    const many = new SmallSet(Array.from({ length: 40 }, (_, i) => `198.18.0.${i}/32`));
    expect(many.has('198.18.0.39/32')).toBe(true);
    expect(many.add('198.18.0.39/32')).toBe(false);
    expect(many.add('198.18.1.0/24')).toBe(true);
    expect(new SmallSet<string>().has('')).toBe(false);
  });
});
