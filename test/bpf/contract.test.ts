// The contract between bpf/ and the agent is generated from the objects' BTF at make
// bpf (bpf/gen-contract.mjs -> src/dataplane/bpf/contract.ts). These check that the
// checked-in module is what the current objects give, that the objects agree with
// what libbpf reads from them, and what the agent builds on it.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { native } from '../../src/dataplane/bpf/native.js';
import { MAPS, OBJECTS as CONTRACT_OBJECTS, xlb_limits } from '../../src/dataplane/bpf/contract.js';
import { MAP_NAMES } from '../../src/dataplane/bpf/maps.js';
import { BPF_OBJECT_DIR, OBJECTS, PROGRAMS, PROGRAM_PREFIX, SOCKET_PROGRAMS, loadPrograms } from '../../src/dataplane/bpf/programs.js';
import { DROP_REASONS } from '../../src/dataplane/bpf/codec.js';
import { EXPLAIN_OBJECT } from '../../src/dataplane/bpf/explain.js';
import { CAPACITY } from '../../src/dataplane/bpf/capacity.js';
import { REPO } from '../testbed/topology.js';
import { testBpffs } from '../helpers/bpffs.js';

const shipped = fs.readdirSync(BPF_OBJECT_DIR).filter((f) => f.endsWith('.bpf.o'));
const info = (o: string) => native().objectInfo(path.join(BPF_OBJECT_DIR, o));

describe('the contract between bpf/ and the agent', () => {
  it('the checked-in contract.ts is what the generator makes of the current objects', () => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'xlb-contract-')), 'contract.ts');
    try {
      execFileSync(process.execPath, [path.join(REPO, 'bpf/gen-contract.mjs'), out, path.join(BPF_OBJECT_DIR, 'contract.o'), ...shipped.map((f) => path.join(BPF_OBJECT_DIR, f))]);
      expect(fs.readFileSync(out, 'utf8')).toBe(fs.readFileSync(path.join(REPO, 'src/dataplane/bpf/contract.ts'), 'utf8'));
    } finally {
      fs.rmSync(path.dirname(out), { recursive: true, force: true });
    }
  });

  it('names every shipped object, with the programs and maps libbpf finds in it', () => {
    expect(Object.keys(CONTRACT_OBJECTS).sort()).toEqual(shipped.sort());
    for (const [o, c] of Object.entries(CONTRACT_OBJECTS)) {
      const i = info(o);
      expect([...i.progs].sort(), o).toEqual([...c.programs]);
      expect(i.maps.map((m) => m.name).sort(), o).toEqual([...c.maps]);
      for (const m of i.maps) expect({ maxEntries: m.maxEntries, pinned: m.pinned }, `${o} ${m.name}`).toEqual({ maxEntries: MAPS[m.name as keyof typeof MAPS].maxEntries, pinned: MAPS[m.name as keyof typeof MAPS].pinned });
    }
  });

  it('the agent loads, attaches and cleans up exactly the programs and pinned maps the objects hold', () => {
    const loaded = Object.values(OBJECTS).flatMap((o) => info(o).progs).sort();
    expect(loaded).toEqual([...Object.values(PROGRAMS), ...SOCKET_PROGRAMS].sort());
    for (const p of [...loaded, ...info(EXPLAIN_OBJECT).progs]) expect(p.startsWith(PROGRAM_PREFIX), p).toBe(true);
    const pinned = new Set(shipped.flatMap((o) => info(o).maps.filter((m) => m.pinned).map((m) => m.name)));
    expect([...MAP_NAMES].sort()).toEqual([...pinned].sort());
  });

  it('lbctl explain runs a program of the explain object, which pins no map of its own', () => {
    const i = info(EXPLAIN_OBJECT);
    expect(i.progs).toEqual(['xlb_explain']);
    expect(i.maps.filter((m) => m.pinned).map((m) => m.name).sort()).toEqual([...MAP_NAMES].sort());
  });

  it('hands out ids the maps can hold, sized as xlb.h says', () => {
    expect(CAPACITY).toEqual({
      serviceIds: xlb_limits.XLB_MAX_SERVICES - 1,
      frontends: xlb_limits.XLB_MAX_SERVICES,
      backendIds: xlb_limits.XLB_MAX_BACKENDS - 1,
      members: xlb_limits.XLB_MAX_MEMBERS,
    });
    expect(MAPS.xlb_maglev.maxEntries).toBe(xlb_limits.XLB_MAGLEV_CHUNKS);
    expect(MAPS.xlb_sockets.maxEntries).toBe(xlb_limits.XLB_MAX_SOCKETS);
    // Slots are indexed by a cookie's low bits.
    expect(MAPS.xlb_sock_peers.maxEntries).toBe(xlb_limits.XLB_SOCK_PEERS);
    expect(xlb_limits.XLB_SOCK_PEERS & (xlb_limits.XLB_SOCK_PEERS - 1)).toBe(0);
    expect(MAPS.xlb_nat.maxEntries).toBe(xlb_limits.XLB_MAX_NAT);
    // One counter per drop reason, and one label per counter.
    expect(MAPS.xlb_drops.maxEntries).toBe(DROP_REASONS.length);
  });
});

describe('what loading the programs costs', () => {
  // The verifier's work is part of every agent start. tc ingress once inlined the 16
  // tries of the SNAT port claim into each of its paths: 148,000 instructions, 200 ms
  // of CPU; the claim is a global function now, checked once (bpf/nat.h).
  const BUDGET = 30_000;

  it(`the kernel accepts every program the agent loads within ${BUDGET.toLocaleString('en')} verified instructions`, async () => {
    const pins = testBpffs('cost');
    try {
      const p = await loadPrograms(pins.dir);
      const fds: Array<[string, number]> = [
        [PROGRAMS.xdp, p.xdpFd],
        [PROGRAMS.tcIngress, p.tcIngressFd],
        [PROGRAMS.tcEgress, p.tcEgressFd],
        [PROGRAMS.sweep, p.sweepFd],
        ...p.socket.map((s): [string, number] => [s.name, s.fd]),
      ];
      for (const [name, fd] of fds) {
        const insns = native().progInfo({ fd }).verifiedInsns;
        expect(insns, name).toBeGreaterThan(0);
        expect(insns, name).toBeLessThanOrEqual(BUDGET);
      }
    } finally {
      pins.remove();
    }
  });
});
