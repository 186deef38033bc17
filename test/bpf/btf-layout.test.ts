// The TypeScript struct layouts must match the BTF of the compiled programs.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ALL_STRUCTS, sockKey, sockPeer, sockValue, trace } from '../../src/dataplane/bpf/codec.js';
import { EXPLAIN_OBJECT } from '../../src/dataplane/bpf/explain.js';
import { BPF_OBJECT_DIR, OBJECTS } from '../../src/dataplane/bpf/programs.js';
import { BENCH_OBJECT, benchTemplate } from '../../bench/datapath.js';

interface BtfType {
  id: number;
  kind: string;
  name?: string;
  size?: number;
  type_id?: number;
  nr_elems?: number;
  members?: Array<{ name: string; type_id: number; bits_offset: number }>;
}

function btfTypes(object: string): Map<number, BtfType> {
  const out = execFileSync('bpftool', ['-j', 'btf', 'dump', 'file', object], { encoding: 'utf8' });
  const types = (JSON.parse(out) as { types: BtfType[] }).types;
  return new Map(types.map((t) => [t.id, t]));
}

function sizeOf(types: Map<number, BtfType>, id: number): number {
  const t = types.get(id)!;
  if (t.kind === 'ARRAY') return (t.nr_elems ?? 0) * sizeOf(types, t.type_id!);
  if (t.size !== undefined) return t.size;
  return sizeOf(types, t.type_id!); // typedef, const, volatile
}

const cases = [
  ...Object.values(OBJECTS).map((o) => [`${BPF_OBJECT_DIR}/${o}`, ALL_STRUCTS] as const),
  [`${BPF_OBJECT_DIR}/${EXPLAIN_OBJECT}`, [...ALL_STRUCTS, trace]] as const,
  [BENCH_OBJECT, [benchTemplate]] as const,
];

describe.each(cases)('%s BTF', (obj, structs) => {
  const types = btfTypes(obj);
  it.each(structs.map((c) => [c.cName, c] as const))('struct %s matches its TypeScript codec', (name, codec) => {
    const st = [...types.values()].find((t) => t.kind === 'STRUCT' && t.name === name);
    expect(st, `struct ${name} in ${obj}`).toBeDefined();
    expect(st!.size).toBe(codec.size);
    const btfFields = st!.members!.map((m) => ({ name: m.name, offset: m.bits_offset / 8, size: sizeOf(types, m.type_id) }));
    expect(codec.fields.map(({ name: n, offset, size }) => ({ name: n, offset, size }))).toEqual(btfFields);
  });
});

describe.each(Object.values(OBJECTS))('%s BTF, composed structs', (o) => {
  it('struct xlb_sock_peer is a socket key then its value, as its TypeScript codec reads it', () => {
    const types = btfTypes(`${BPF_OBJECT_DIR}/${o}`);
    const st = [...types.values()].find((t) => t.kind === 'STRUCT' && t.name === sockPeer.cName);
    expect(st?.size).toBe(sockPeer.size);
    expect(st!.members!.map((m) => [m.name, m.bits_offset / 8, types.get(m.type_id)!.name])).toEqual([
      ['key', 0, sockKey.cName],
      ['value', sockKey.size, sockValue.cName],
    ]);
  });
});
