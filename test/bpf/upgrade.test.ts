// An upgrade over maps an older build pinned (bpf/testing/old_layout.bpf.c): flow maps
// keep their entries in the new layout, configuration maps are rebuilt for the agent
// to write, a pinned map keeps its size, and the log says which and why.
import fs from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { bpf_map_type } from '../../src/dataplane/bpf/contract.js';
import { BPF_F_INNER_MAP } from '../../src/dataplane/bpf/kernel.js';
import * as codec from '../../src/dataplane/bpf/codec.js';
import { conversion } from '../../src/dataplane/bpf/layout.js';
import { native, type Layout } from '../../src/dataplane/bpf/native.js';
import { BPF_OBJECT_DIR, loadPrograms } from '../../src/dataplane/bpf/programs.js';
import { capacityOf, mapSizes } from '../../src/dataplane/bpf/capacity.js';
import { testBpffs } from '../helpers/bpffs.js';

const OLD_OBJECT = path.join(BPF_OBJECT_DIR, 'testing/old_layout.bpf.o');

/** The old build's structs where they differ from bpf/xlb.h (see old_layout.bpf.c). */
const oldCtValue = new codec.StructCodec<Omit<codec.CtValue, 'nat_addr' | 'nat_port'>>('xlb_ct_value', [
  ['expires_ns', 'u64'],
  ['backend_id', 'u32'],
  ['svc_id', 'u32'],
  ['backend_addr', 'ipv4'],
  ['backend_port', 'be16'],
  ['flags', 'u16'],
]);
const oldSvcValue = new codec.StructCodec<Omit<codec.SvcValue, 'affinity_timeout_s'>>('xlb_svc_value', [
  ['svc_id', 'u32'],
  ['maglev_size', 'u32'],
  ['backend_count', 'u16'],
  ['type', 'u8'],
  ['flags', 'u8'],
]);

const u32 = (n: number) => Buffer.from(Uint32Array.of(n).buffer);
const later = () => native().monotonicNs() + 60_000_000_000n;

let pins: ReturnType<typeof testBpffs> | undefined;
afterEach(() => {
  pins?.remove();
  pins = undefined;
});

/** A fresh bpffs directory holding the old build's maps; their fds by name. */
function pinOldBuild(tag: string): Record<string, number> {
  pins = testBpffs(tag);
  return native().loadObject(OLD_OBJECT, pins.dir).maps;
}

function captureLog() {
  const lines: Array<{ level: number; msg: string; map?: string }> = [];
  const log = pino({ level: 'debug' }, { write: (l: string) => void lines.push(JSON.parse(l) as (typeof lines)[number]) });
  /** the lines about one map above debug */
  const about = (map: string) => lines.filter((l) => l.map === map && l.level > 20);
  return { log, lines, about };
}

describe('loadPrograms over maps of an older layout', () => {
  it('migrates flow maps, rebuilds the configuration, keeps pinned sizes, and says so; then all is compatible', async () => {
    const old = pinOldBuild('upgrade');
    const expires = later();
    const flows = [1, 2, 3].map((i) => ({
      key: { saddr: `198.18.0.${i}`, daddr: '198.19.0.10', sport: 40000 + i, dport: 80, proto: codec.IPPROTO.TCP },
      value: { expires_ns: expires, backend_id: i, svc_id: 7, backend_addr: `198.18.1.${i}`, backend_port: 8080, flags: i === 3 ? codec.CT_CLOSING : 0 },
    }));
    for (const f of flows) native().mapUpdate(old.xlb_ct!, codec.flowKey.encode(f.key), oldCtValue.encode(f.value), 0);
    const sticky = { key: { client: '198.18.0.1', svc_id: 7, netns: 0n }, value: { expires_ns: expires, backend_id: 2 } };
    native().mapUpdate(old.xlb_affinity!, codec.affinityKey.encode(sticky.key), codec.affinityValue.encode(sticky.value), 0);
    const frontend = { addr: '198.19.0.10', port: 80, proto: codec.IPPROTO.TCP };
    native().mapUpdate(old.xlb_services!, codec.svcKey.encode(frontend), oldSvcValue.encode({ svc_id: 7, maglev_size: 101, backend_count: 3, type: 1, flags: 0 }), 0);
    // A table in the old Maglev map (as the agent makes them: no BTF): what the old
    // template was is known only from one.
    const table = native().mapCreate(bpf_map_type.BPF_MAP_TYPE_ARRAY, 4, 8, 102, BPF_F_INNER_MAP, 'xlb_mg_7');
    try {
      native().mapUpdate(old.xlb_maglev!, u32(7 * 2), u32(table), 0); // the old layout's bank 0 of service 7
    } finally {
      native().closeFd(table);
    }

    const { log, about } = captureLog();
    const p = await loadPrograms(pins!.dir, {}, log);

    expect(p.upgrade.migrated).toEqual({ xlb_ct: { entries: 3, dropped: 0 }, xlb_nat: { entries: 0, dropped: 0 } });
    expect([...p.upgrade.rebuilt].sort()).toEqual(['xlb_backends', 'xlb_maglev', 'xlb_services']);
    // Conntrack: every old member as it was, the SNAT members zero; its pinned size kept.
    const byPort = (a: [codec.FlowKey, unknown], b: [codec.FlowKey, unknown]) => a[0].sport - b[0].sport;
    expect(p.maps.ct.entries().sort(byPort)).toEqual(flows.map((f) => [f.key, { ...f.value, nat_addr: '0.0.0.0', nat_port: 0 }]));
    expect(native().mapInfo(p.maps.ct.fd)).toMatchObject({ type: bpf_map_type.BPF_MAP_TYPE_LRU_HASH, maxEntries: 1024 });
    // The old programs' map is another one, still whole until they are replaced.
    expect(native().mapInfo(old.xlb_ct!).id).not.toBe(native().mapInfo(p.maps.ct.fd).id);
    expect(native().mapDump(old.xlb_ct!, 16, 24)).toHaveLength(3);
    // Affinity: same layout, fewer entries: reused as it is.
    expect(native().mapInfo(p.maps.affinity.fd)).toMatchObject({ id: native().mapInfo(old.xlb_affinity!).id, maxEntries: 512 });
    expect(p.maps.affinity.entries()).toEqual([[sticky.key, sticky.value]]);
    // Configuration: empty, for the agent's first sync to write.
    expect(p.maps.services.entries()).toEqual([]);
    expect(p.maps.backends.entries()).toEqual([]);
    expect(p.maps.maglev.entries()).toEqual([]);
    expect(fs.readdirSync(pins!.dir).filter((f) => f.endsWith('_upgrading'))).toEqual([]);

    expect(about('xlb_ct')).toEqual([
      expect.objectContaining({ level: 40, msg: 'xlb_ct: value 24 → 32 bytes (members added: nat_addr, nat_port, pad): migrated 3 entries' }),
      expect.objectContaining({ level: 30, msg: expect.stringMatching(/^xlb_ct: pinned with 1024 entries where \d+ are asked: keeps its size/) as unknown }),
    ]);
    expect(about('xlb_nat')[0]).toMatchObject({ level: 40, msg: 'xlb_nat: type hash → lru_hash: migrated 0 entries' });
    expect(about('xlb_affinity')).toEqual([expect.objectContaining({ level: 30, msg: expect.stringMatching(/^xlb_affinity: pinned with 512 entries where \d+ are asked/) as unknown })]);
    expect(about('xlb_services')).toEqual([
      expect.objectContaining({ level: 40, msg: 'xlb_services: flags 0x0 → 0x1, value 12 → 20 bytes (members added: affinity_timeout_s, table): rebuilt: the agent reprograms it from the API state' }),
    ]);
    expect(about('xlb_maglev')).toEqual([
      expect.objectContaining({ level: 40, msg: 'xlb_maglev: inner flags 0x1000 → 0x1400, inner value 8 → 4096 bytes: rebuilt: the agent reprograms it from the API state' }),
    ]);

    const again = captureLog();
    const q = await loadPrograms(pins!.dir, {}, again.log);
    expect(q.upgrade).toEqual({ migrated: {}, rebuilt: [] });
    expect(again.lines.filter((l) => l.level >= 40)).toEqual([]);
    expect(q.maps.ct.entries()).toHaveLength(3);
  });

  it('rebuilds a configuration map whose type changed, and migrates a flow map into its new type', async () => {
    const old = pinOldBuild('upgrade-type');
    const reply = { saddr: '198.18.2.5', daddr: '198.18.0.1', sport: 8080, dport: 41000, proto: codec.IPPROTO.TCP };
    const nat = { expires_ns: later(), client_addr: '198.18.0.9', client_port: 41000, flags: 0, frontend_addr: '198.19.0.10', frontend_port: 80 };
    native().mapUpdate(old.xlb_nat!, codec.flowKey.encode(reply), codec.natValue.encode(nat), 0);
    native().mapUpdate(old.xlb_backends!, u32(5), codec.backend.encode({ addr: '198.18.2.5', port: 8080, proto: codec.IPPROTO.TCP, flags: 0 }), 0);

    const { log, about } = captureLog();
    const p = await loadPrograms(pins!.dir, {}, log);

    expect(p.upgrade.migrated.xlb_nat).toEqual({ entries: 1, dropped: 0 });
    expect(native().mapInfo(p.maps.nat.fd)).toMatchObject({ type: bpf_map_type.BPF_MAP_TYPE_LRU_HASH, maxEntries: 1024 });
    expect(p.maps.nat.entries()).toEqual([[reply, nat]]);
    expect(p.upgrade.rebuilt).toContain('xlb_backends');
    expect(native().mapInfo(p.maps.backends.fd).type).toBe(bpf_map_type.BPF_MAP_TYPE_ARRAY);
    expect(p.maps.backends.entries()).toEqual([]);
    expect(about('xlb_nat')[0]).toMatchObject({ level: 40, msg: 'xlb_nat: type hash → lru_hash: migrated 1 entry' });
    expect(about('xlb_backends')).toEqual([expect.objectContaining({ level: 40, msg: 'xlb_backends: type lru_hash → array, flags 0x0 → 0x400: rebuilt: the agent reprograms it from the API state' })]);
  });

  it('converts by member name, wherever members moved; a key member without a counterpart loses the entries', () => {
    const u = (size: number): Layout => ({ kind: 'int', size, signed: false });
    const oldLayout: Layout = {
      kind: 'struct',
      name: 'v',
      size: 24,
      members: [
        { name: 'x', offset: 0, type: u(8) },
        { name: 'n', offset: 8, type: { kind: 'struct', name: 'in', size: 8, members: [{ name: 'a', offset: 0, type: u(4) }, { name: 'b', offset: 4, type: u(4) }] } },
        { name: 'gone', offset: 16, type: u(2) },
      ],
    };
    const newLayout: Layout = {
      kind: 'struct',
      name: 'v',
      size: 24,
      members: [
        { name: 'n', offset: 0, type: { kind: 'struct', name: 'in2', size: 12, members: [{ name: 'b', offset: 0, type: u(4) }, { name: 'a', offset: 4, type: u(4) }, { name: 'c', offset: 8, type: u(4) }] } },
        { name: 'x', offset: 16, type: u(8) },
      ],
    };
    expect(conversion(oldLayout, newLayout, 24, 24)).toEqual({
      ranges: [
        [12, 0, 4],
        [8, 4, 4],
        [0, 16, 8],
      ],
      added: ['n.c'],
      removed: ['gone'],
      changed: [],
      moved: ['n (@8 → @0)', 'n.b (@4 → @0)', 'n.a (@0 → @4)', 'x (@0 → @16)'],
      renamed: ['in → in2'],
    });

    const from = native().mapCreate(bpf_map_type.BPF_MAP_TYPE_HASH, 4, 8, 16, 0, 'xlb_test_old');
    const to = native().mapCreate(bpf_map_type.BPF_MAP_TYPE_HASH, 8, 8, 16, 0, 'xlb_test_new');
    try {
      for (let i = 0; i < 5; i++) native().mapUpdate(from, u32(i), Buffer.alloc(8, i), 0);
      expect(native().mapMigrate(from, to, null, [[0, 0, 8]])).toEqual({ copied: 0, dropped: 5 });
      expect(native().mapMigrate(from, to, [[0, 0, 4]], [[0, 0, 8]])).toEqual({ copied: 5, dropped: 0 });
      expect(() => native().mapMigrate(from, to, [[0, 6, 4]], [])).toThrow(RangeError);
    } finally {
      native().closeFd(from);
      native().closeFd(to);
    }
  });
});

describe('map sizes from the agent flags', () => {
  it('sizes the maps as --max-services and --max-backends ask; pinned maps keep the size they were made with', async () => {
    pins = testBpffs('sizes');
    const p = await loadPrograms(pins.dir, mapSizes({ '--max-services': '2048', '--max-backends': '4096' }), captureLog().log);
    expect(capacityOf(p.maps)).toEqual({ serviceIds: 2047, frontends: 2048, backendIds: 4095, members: 8192 });
    expect(native().mapInfo(p.maps.svcStats.fd).maxEntries).toBe(2048);
    const { log, about } = captureLog();
    const q = await loadPrograms(pins.dir, mapSizes({ '--max-services': '4096' }), log);
    expect(capacityOf(q.maps)).toEqual({ serviceIds: 2047, frontends: 2048, backendIds: 4095, members: 8192 });
    expect(about('xlb_services')).toEqual([expect.objectContaining({ level: 30, msg: expect.stringMatching(/^xlb_services: pinned with 2048 entries where 4096 are asked: keeps its size/) as unknown })]);
  });
});
