// Per-packet cost of the XDP load balancer with BPF_PROG_TEST_RUN: the bench wrapper
// restores a template packet and runs the balancer; a twin only restores. Their
// difference, measured in the same run, is the balancer's cost per packet.
import fs from 'node:fs';
import { native } from '../dataplane/bpf/native.js';
import { ensureBpffs } from '../dataplane/bpf/bpffs.js';
import { BENCH_OBJECT, objectPath, removePins } from '../dataplane/bpf/programs.js';
import { MAP_NAMES, typedMaps, type MapName } from '../dataplane/bpf/maps.js';
import { benchTemplate } from '../dataplane/bpf/codec.js';
import { BpfReconciler } from '../dataplane/bpf/reconciler.js';
import { bpfMaglevTables } from '../dataplane/bpf/maglev-tables.js';
import { buildDesiredState } from '../model/desired.js';
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

const CLIENT = '198.18.0.2';

function tcpSyn(daddr: string, sport: number): Buffer {
  const b = Buffer.alloc(54);
  b.writeUInt16BE(0x0800, 12);
  b[14] = 0x45;
  b.writeUInt16BE(40, 16);
  b[22] = 64;
  b[23] = 6;
  Buffer.from(CLIENT.split('.').map(Number)).copy(b, 26);
  Buffer.from(daddr.split('.').map(Number)).copy(b, 30);
  b.writeUInt16BE(sport, 34);
  b.writeUInt16BE(80, 36);
  b[46] = 5 << 4;
  b[47] = 0x02;
  return b;
}

export function runDatapathBench(counts: number[], repeat: number, rounds: number): DatapathResult[] {
  const pins = `/sys/fs/bpf/xlb-bench-${process.pid}`;
  ensureBpffs(pins);
  try {
    const obj = native().loadObject(objectPath(BENCH_OBJECT), pins);
    const fds = Object.fromEntries(MAP_NAMES.map((n) => [n, obj.maps[n]!])) as Record<MapName, number>;
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
