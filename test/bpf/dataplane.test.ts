// The eBPF dataplane's housekeeping: ended flows leave the flow tables, and a SNAT
// table nearing full is said once in the log (and once when it is not any more).
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { native } from '../../src/dataplane/bpf/native.js';
import { BpfDataplane } from '../../src/dataplane/bpf/dataplane.js';
import type { BpfReconciler } from '../../src/dataplane/bpf/reconciler.js';
import type { XlbMaps } from '../../src/dataplane/bpf/maps.js';

const fds: number[] = [];
const planes: BpfDataplane[] = [];
afterEach(() => {
  for (const dp of planes.splice(0)) dp.close();
  for (const fd of fds.splice(0)) native().closeFd(fd);
});

/** A map shaped like a flow table: values start with their expiry. */
function table(capacity: number): number {
  const fd = native().mapCreate(1 /* HASH */, 4, 16, capacity, 0, 'xlb_test_flows');
  fds.push(fd);
  return fd;
}

function put(fd: number, key: number, expires: bigint): void {
  const v = Buffer.alloc(16);
  v.writeBigUInt64LE(expires, 0);
  native().mapUpdate(fd, Buffer.from(Uint32Array.of(key).buffer), v, 0);
}

function dataplane(nat: number, expiring: number[]) {
  const lines: Array<{ level: number; msg: string; natEntries?: number }> = [];
  const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as (typeof lines)[number]) });
  const dp = new BpfDataplane({ close() {} } as BpfReconciler, {} as XlbMaps, -1, '/nonexistent', { nat, expiring }, log);
  planes.push(dp);
  return { dp, lines };
}

describe('BpfDataplane housekeeping', () => {
  it('removes ended flows and keeps live ones', () => {
    const ct = table(64);
    const now = native().monotonicNs();
    for (let i = 0; i < 10; i++) put(ct, i, i < 4 ? now - 1n : now + 60_000_000_000n);
    dataplane(table(1024), [ct]).dp.housekeeping();
    expect(native().mapDump(ct, 4, 16)).toHaveLength(6);
  });

  it('warns once when the SNAT table is 90% full, and says when it is not any more', () => {
    const nat = table(1024);
    const { dp, lines } = dataplane(nat, [nat]);
    const later = native().monotonicNs() + 60_000_000_000n;
    for (let i = 0; i < 930; i++) put(nat, i, later);
    dp.housekeeping();
    dp.housekeeping();
    expect(lines.filter((l) => l.level === 40)).toEqual([expect.objectContaining({ natEntries: 930, msg: expect.stringContaining('--nat-table-size') as unknown })]);
    for (let i = 0; i < 500; i++) native().mapDelete(nat, Buffer.from(Uint32Array.of(i).buffer));
    dp.housekeeping();
    expect(lines.at(-1)).toMatchObject({ level: 30, natEntries: 430 });
  });
});
