// What C and TypeScript share must agree, checked against the compiled objects and
// bpf/xlb.h: the maps and programs the agent names (and cleanup removes), the flag
// bits and enum values it writes, and the id limits it hands out.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { native } from '../../src/dataplane/bpf/native.js';
import { MAP_NAMES } from '../../src/dataplane/bpf/maps.js';
import { BPF_OBJECT_DIR, OBJECTS, PROGRAMS, PROGRAM_PREFIX, SOCKET_PROGRAMS } from '../../src/dataplane/bpf/programs.js';
import {
  ACTIONS,
  BACKEND_F_REMOTE,
  CT_CLOSING,
  DEVICE_F_XDP,
  DROP_REASONS,
  SVC_F_DROP,
  SVC_F_LOCAL,
  SVC_F_SOURCE_RANGES,
  SVC_F_TABLE_B,
  SVC_F_TERMINATING,
  SVC_TYPE,
  VIA,
} from '../../src/dataplane/bpf/codec.js';
import { EXPLAIN_OBJECT } from '../../src/dataplane/bpf/explain.js';
import { MAX_BACKEND_ID, MAX_SERVICE_ID } from '../../src/dataplane/bpf/capacity.js';
import { REPO } from '../testbed/topology.js';

const HEADER = path.join(REPO, 'bpf/xlb.h');

/** The integer macros of bpf/xlb.h, as the preprocessor sees them. */
function macros(): Map<string, bigint> {
  const out = execFileSync('clang', ['-dM', '-E', `-I/usr/include/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`, HEADER], { encoding: 'utf8' });
  const m = new Map<string, bigint>();
  for (const line of out.split('\n')) {
    const [, name, expr] = line.match(/^#define (XLB_\w+) (.+)$/) ?? [];
    // Integer expressions only (digits, shifts, products): evaluated as BigInt.
    if (!name || !expr || !/^[\d\sx()*<+ULL]+$/.test(expr)) continue;
    m.set(name, (new Function(`return ${expr.replace(/(0x[\da-f]+|\d+)U?L*/gi, '$1n')}`) as () => bigint)());
  }
  return m;
}

const objects = Object.values(OBJECTS).map((o) => native().objectInfo(path.join(BPF_OBJECT_DIR, o)));

describe('the contract between bpf/ and the agent', () => {
  const defs = macros();
  const def = (name: string) => {
    expect(defs.has(name), name).toBe(true);
    return Number(defs.get(name));
  };

  it('names every pinned map the objects define, and no other', () => {
    const pinned = new Set(objects.flatMap((o) => o.maps.filter((m) => m.pinned).map((m) => m.name)));
    expect([...pinned].sort()).toEqual([...MAP_NAMES].sort());
  });

  it('names every program the objects define, all with the prefix cleanup looks for', () => {
    const progs = objects.flatMap((o) => o.progs).sort();
    expect(progs).toEqual([...Object.values(PROGRAMS), ...SOCKET_PROGRAMS].sort());
    for (const p of progs) expect(p.startsWith(PROGRAM_PREFIX), p).toBe(true);
  });

  it('writes the flag bits and frontend types the programs read', () => {
    expect(SVC_F_DROP).toBe(def('XLB_SVC_F_DROP'));
    expect(SVC_F_SOURCE_RANGES).toBe(def('XLB_SVC_F_SOURCE_RANGES'));
    expect(SVC_F_TABLE_B).toBe(def('XLB_SVC_F_TABLE_B'));
    expect(SVC_F_LOCAL).toBe(def('XLB_SVC_F_LOCAL'));
    expect(SVC_F_TERMINATING).toBe(def('XLB_SVC_F_TERMINATING'));
    expect(CT_CLOSING).toBe(def('XLB_CT_CLOSING'));
    expect(BACKEND_F_REMOTE).toBe(def('XLB_BACKEND_F_REMOTE'));
    expect(DEVICE_F_XDP).toBe(def('XLB_DEVICE_F_XDP'));
    const body = fs.readFileSync(HEADER, 'utf8').match(/enum xlb_svc_type \{([^}]*)\}/)![1]!;
    const members = Object.fromEntries([...body.matchAll(/XLB_SVC_(\w+) = (\d+)/g)].map(([, n, v]) => [n, Number(v)]));
    expect(members).toEqual({ CLUSTER_IP: SVC_TYPE.ClusterIP, NODE_PORT: SVC_TYPE.NodePort, EXTERNAL_IP: SVC_TYPE.ExternalIP, LOAD_BALANCER: SVC_TYPE.LoadBalancer });
  });

  it('reads the drop reasons, actions and selection steps by the values the programs use', () => {
    /** An enum of xlb.h as "suffix in lower case" by value. */
    const enumOf = (name: string, prefix: string) => {
      const body = fs.readFileSync(HEADER, 'utf8').match(new RegExp(`enum ${name} \\{([^}]*)\\}`))![1]!;
      const out: string[] = [];
      for (const [, n, v] of body.matchAll(new RegExp(`${prefix}(\\w+) = (\\d+)`, 'g'))) out[Number(v)] = n!.toLowerCase();
      return out;
    };
    expect(enumOf('xlb_drop_reason', 'XLB_DROP_')).toEqual([...DROP_REASONS, 'reasons']);
    expect(enumOf('xlb_action', 'XLB_ACT_')).toEqual([...ACTIONS]);
    expect(enumOf('xlb_via', 'XLB_VIA_')).toEqual([...VIA]);
  });

  it('lbctl explain runs a program of the explain object, which pins no map of its own', () => {
    const info = native().objectInfo(path.join(BPF_OBJECT_DIR, EXPLAIN_OBJECT));
    expect(info.progs).toEqual(['xlb_explain']);
    expect(info.maps.filter((m) => m.pinned).map((m) => m.name).sort()).toEqual([...MAP_NAMES].sort());
  });

  it('hands out ids the maps can hold, and the maps are sized as xlb.h says', () => {
    expect(MAX_SERVICE_ID).toBe(def('XLB_MAX_SERVICES') - 1);
    expect(MAX_BACKEND_ID).toBe(def('XLB_MAX_BACKENDS') - 1);
    const size = (name: string) => objects.flatMap((o) => o.maps).find((m) => m.name === name)!.maxEntries;
    expect(size('xlb_services')).toBe(def('XLB_MAX_SERVICES'));
    expect(size('xlb_maglev')).toBe(2 * def('XLB_MAX_SERVICES'));
    expect(size('xlb_backends')).toBe(def('XLB_MAX_BACKENDS'));
    expect(size('xlb_sockets')).toBe(def('XLB_MAX_SOCKETS'));
    expect(size('xlb_nat')).toBe(def('XLB_MAX_NAT'));
  });
});
