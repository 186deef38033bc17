import { describe, expect, it } from 'vitest';
import { chunkSlots } from '../../src/dataplane/bpf/maglev-pool.js';
import { xlb_limits } from '../../src/dataplane/bpf/contract.js';

describe('Maglev pool chunks', () => {
  it('double from 1 MiB up to the chunk range and stay there, in whole rows, each holding the largest table', () => {
    const sizes = Array.from({ length: xlb_limits.XLB_MAGLEV_CHUNKS - 1 }, (_, i) => chunkSlots(i + 1, 1));
    expect(sizes.slice(0, 6)).toEqual([1 << 18, 1 << 19, 1 << 20, 1 << 21, 1 << 22, 1 << 22]);
    expect(new Set(sizes.slice(4))).toEqual(new Set([xlb_limits.XLB_MAGLEV_CHUNK_SLOTS]));
    expect(chunkSlots(1, 300_001)).toBe(Math.ceil(300_001 / xlb_limits.XLB_MAGLEV_ROW_SLOTS) * xlb_limits.XLB_MAGLEV_ROW_SLOTS);
    for (const s of sizes) expect(s % xlb_limits.XLB_MAGLEV_ROW_SLOTS).toBe(0);
  });
});
