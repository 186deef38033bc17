// Per-packet cost of the shipped XDP program with BPF_PROG_TEST_RUN: the bench
// wrapper (bpf/testing/bench.bpf.c) restores a template packet and tail-calls
// xlb_xdp; a twin restores and tail-calls an empty program. Their difference,
// measured in the same run, is the balancer's cost per packet.
import fs from 'node:fs';
import path from 'node:path';
import { native } from '../src/dataplane/bpf/native.js';
import { ensureBpffs } from '../src/dataplane/bpf/bpffs.js';
import { BPF_OBJECT_DIR, OBJECTS, PROGRAMS, objectPath, removePins } from '../src/dataplane/bpf/programs.js';
import { MAP_NAMES, typedMaps, type MapName } from '../src/dataplane/bpf/maps.js';
import { StructCodec, u32 } from '../src/dataplane/bpf/codec.js';
import { buildPacket } from '../src/dataplane/bpf/packet.js';
import { BpfReconciler } from '../src/dataplane/bpf/reconciler.js';
import { bpfMaglevTables } from '../src/dataplane/bpf/maglev-pool.js';
import { buildDesiredState } from '../src/model/desired.js';
import { syntheticCluster, vip } from './workload.js';
import { summarize, type Summary } from './stats.js';

export type Scenario = 'new flow' | 'established flow' | 'non-service';

export interface DatapathResult {
  services: number;
  scenario: Scenario;
  /** balancer cost: bench minus restore-only, ns per packet */
  nsPerPacket: Summary;
  restoreNs: Summary;
  /** time to program all services into the maps (reconciler, ms) */
  programMs: number;
}

/** The bench wrappers' object, built from bpf/testing/ (never shipped). */
export const BENCH_OBJECT = path.join(BPF_OBJECT_DIR, 'testing/bench.bpf.o');
/** XLB_BENCH_LEN of bench.bpf.c: Ethernet + IPv4 + TCP without options or payload. */
const BENCH_LEN = 54;
/** Layout only: the packet bytes are copied in at the `data` field's offset. */
export const benchTemplate = new StructCodec<{ vary_sport: number; data: string }>('xlb_bench_template', [
  ['vary_sport', 'u32'],
  ['data', 'char', BENCH_LEN],
  ['pad', 'u8', 2],
]);
/** enum xlb_bench_slot: where xlb_bench_lb and xlb_bench_restore tail-call. */
const SLOT = { lb: 0, empty: 1 } as const;

const CLIENT = '198.18.0.2';

const tcpSyn = (daddr: string, sport: number) => buildPacket({ proto: 'TCP', saddr: CLIENT, daddr, sport, dport: 80, payload: Buffer.alloc(0) });

export function runDatapathBench(counts: number[], repeat: number, rounds: number): DatapathResult[] {
  const pins = `/sys/fs/bpf/xlb-bench-${process.pid}`;
  ensureBpffs(pins);
  try {
    const xdp = native().loadObject(objectPath(OBJECTS.xdp), pins);
    const obj = native().loadObject(BENCH_OBJECT, pins);
    native().mapUpdate(obj.maps.xlb_bench_next!, u32.encode(SLOT.lb), u32.encode(xdp.progs[PROGRAMS.xdp]!), 0);
    native().mapUpdate(obj.maps.xlb_bench_next!, u32.encode(SLOT.empty), u32.encode(obj.progs.xlb_bench_empty!), 0);
    const fds = Object.fromEntries(MAP_NAMES.map((n) => [n, xdp.maps[n]!])) as Record<MapName, number>;
    const maps = typedMaps(fds);
    const rec = new BpfReconciler(maps, bpfMaglevTables(maps.maglev));
    const dataOffset = benchTemplate.fields.find((f) => f.name === 'data')!.offset;
    const setTemplate = (pkt: Buffer, vary: boolean) => {
      const v = benchTemplate.encode({ vary_sport: vary ? 1 : 0, data: '' });
      pkt.copy(v, dataOffset);
      native().mapUpdate(obj.maps.xlb_bench_tmpl!, Buffer.alloc(4), v, 0);
    };
    const run = (prog: string, pkt: Buffer) => native().progTestRun(obj.progs[prog]!, pkt, repeat).durationNs;
    const out: DatapathResult[] = [];
    for (const count of counts) {
      const { services, slices } = syntheticCluster(count);
      const t0 = performance.now();
      rec.apply(buildDesiredState(services, slices, { name: 'bench', ips: [] }));
      const programMs = Math.round(performance.now() - t0);
      const target = vip(Math.floor(count / 2));
      const scenarios: Array<[Scenario, Buffer, boolean]> = [
        ['new flow', tcpSyn(target, 1024), true],
        ['established flow', tcpSyn(target, 40000), false],
        ['non-service', tcpSyn('198.18.3.3', 40001), false],
      ];
      for (const [scenario, pkt, vary] of scenarios) {
        setTemplate(pkt, vary);
        native().progTestRun(obj.progs.xlb_bench_lb!, pkt, 1); // the established flow exists from here on
        const lb: number[] = [];
        const restore: number[] = [];
        for (let r = 0; r < rounds; r++) {
          // Interleaved, so drift on a noisy machine hits both alike.
          lb.push(run('xlb_bench_lb', pkt));
          restore.push(run('xlb_bench_restore', pkt));
        }
        out.push({ services: count, scenario, nsPerPacket: summarize(lb.map((v, i) => v - restore[i]!)), restoreNs: summarize(restore), programMs });
      }
    }
    return out;
  } finally {
    removePins(pins);
    fs.rmSync(pins, { recursive: true, force: true });
  }
}
