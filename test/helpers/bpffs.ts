// A private pin directory per test file, removed afterwards; and the reset of what
// traffic leaves in the maps, so each BPF program test starts from no traffic.
import fs from 'node:fs';
import { ensureBpffs } from '../../src/dataplane/bpf/bpffs.js';
import { removePins } from '../../src/dataplane/bpf/programs.js';
import type { TypedMap, XlbMaps } from '../../src/dataplane/bpf/maps.js';

export function testBpffs(tag: string): { dir: string; remove(): void } {
  const dir = `/sys/fs/bpf/xlb-test-${tag}-${process.pid}`;
  ensureBpffs(dir);
  return {
    dir,
    remove() {
      removePins(dir);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Empties the tables the programs fill as packets and sockets pass: flows, reverse and source NAT, affinity, answer budgets. */
export function clearTraffic(m: XlbMaps): void {
  const clear = <K, V>(t: TypedMap<K, V>) => {
    for (const [k] of t.entries()) t.delete(k);
  };
  clear(m.ct);
  clear(m.rnat);
  clear(m.nat);
  clear(m.affinity);
  clear(m.sockets);
  clear(m.sockPeers);
  clear(m.replyBudget);
}
