import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { BpfReconciler } from '../../src/dataplane/bpf/reconciler.js';
import { CAPACITY, mapSizes, type Capacity } from '../../src/dataplane/bpf/capacity.js';
import { MemMap } from '../helpers/mem-map.js';
import type { MaglevTables } from '../../src/dataplane/bpf/maglev-pool.js';
import { SVC_F_LOCAL, SVC_F_TERMINATING, type BackendValue, type MemberKey, type SourceRangeKey, type SvcKey, type SvcName, type SvcValue } from '../../src/dataplane/bpf/codec.js';
import { buildDesiredState, DesiredStateBuilder } from '../../src/model/desired.js';
import { makeEndpoint, makeService, makeSlice, withIngress } from '../fixtures/k8s.js';

/** The Maglev pool in memory: regions by start, freed at commit() once retired. */
class MemTables implements MaglevTables {
  readonly regions = new Map<number, Uint32Array>();
  private next = 1;
  private retiring: number[] = [];
  writes = 0;
  retired: Array<[number, number]> = [];
  /** regions it has room for (the pool's chunks, in small) */
  room = Infinity;
  fits() {
    return this.regions.size < this.room;
  }
  reserve(size: number) {
    if (!this.fits()) throw new Error('the pool is full');
    const start = this.next;
    this.next += size;
    this.regions.set(start, new Uint32Array(size));
    return start;
  }
  /** views handed out since the last release() */
  mapped = 0;
  view(start: number, size: number) {
    this.writes++;
    return this.read(start, size);
  }
  read(start: number, size: number) {
    this.mapped++;
    return this.regions.get(start)!.subarray(0, size);
  }
  chunkFd(): number {
    throw new Error('no chunk fds in memory: the reconciler builds inline');
  }
  release() {
    this.mapped = 0;
  }
  /** regions in memory are there for the frontends at once */
  publish() {}
  retire(start: number, size: number) {
    this.retired.push([start, size]);
    this.retiring.push(start);
  }
  commit() {
    for (const start of this.retiring) this.regions.delete(start);
    this.retiring = [];
  }
  reset(used: Iterable<readonly [number, number]>) {
    const keep = new Set([...used].map(([start]) => start));
    for (const start of this.regions.keys()) if (!keep.has(start)) this.regions.delete(start);
    this.retiring = [];
  }
}

const node = { name: 'n', ips: ['198.18.0.1'] };
const service = (name: string, ip: string, nodePort?: number) =>
  makeService('default', name, { type: nodePort ? 'NodePort' : 'ClusterIP', clusterIP: ip, ports: [{ port: 80, nodePort }] });
const slice = (svc: string, ips: string[]) => makeSlice('default', `${svc}-1`, svc, { ports: [{ port: 8080 }], endpoints: ips.map((ip) => makeEndpoint(ip)) });
/** A UDP Service and its slice: the datapath asks xlb_members about UDP flows. */
const udpService = (name: string, ip: string) => makeService('default', name, { clusterIP: ip, ports: [{ port: 80, protocol: 'UDP' }] });
const udpSlice = (svc: string, ips: string[]) => makeSlice('default', `${svc}-1`, svc, { ports: [{ port: 8080, protocol: 'UDP' }], endpoints: ips.map((ip) => makeEndpoint(ip)) });

/** The table its frontends name, as the datapath reads it. */
function named(maps: ReturnType<typeof setup>['maps'], tables: MemTables, svcId: number): Uint32Array | undefined {
  const v = maps.services.entries().find(([, x]) => x.svc_id === svcId)?.[1];
  const t = v?.maglev_size ? tables.regions.get(v.table) : undefined;
  if (t) expect(t.length).toBe(v!.maglev_size);
  return t;
}

/** What the maps hold, counted as the reconciler's size() counts it: named service ids, frontends, backends. */
function held(maps: ReturnType<typeof setup>['maps']) {
  return { services: maps.names.entries().length, frontends: maps.services.entries().length, backends: maps.backends.entries().length };
}

function setup() {
  const maps = { services: new MemMap<SvcKey, SvcValue>(), backends: new MemMap<number, BackendValue>(), members: new MemMap<MemberKey, number>(), sourceRanges: new MemMap<SourceRangeKey, number>(), names: new MemMap<number, SvcName>(), svcStats: new MemMap<number, unknown>() };
  const tables = new MemTables();
  return { maps, tables, rec: new BpfReconciler(maps, tables) };
}

describe('BpfReconciler', () => {
  it('programs frontends, backends and a table whose slots all name live backends', () => {
    const { maps, tables, rec } = setup();
    rec.apply(buildDesiredState([service('web', '198.19.0.10', 30080)], [slice('web', ['198.18.1.10', '198.18.1.11'])], node));
    expect(maps.services.entries().map(([k, v]) => [`${k.addr}:${k.port}`, v.maglev_size, v.backend_count])).toEqual([
      ['198.19.0.10:80', 211, 2],
      ['198.18.0.1:30080', 211, 2],
    ]);
    const svcId = maps.services.entries()[0]![1].svc_id;
    const ids = new Set(named(maps, tables, svcId));
    expect([...ids].map((id) => maps.backends.get(id)!.addr).sort()).toEqual(['198.18.1.10', '198.18.1.11']);
    // The pool's chunks are unmapped once the apply is done (they count in resident memory).
    expect(tables.mapped).toBe(0);
  });

  it('drops a removed service\'s traffic counters with its id, so the id\'s next service starts at zero', () => {
    const { maps, rec } = setup();
    rec.apply(buildDesiredState([service('a', '198.19.0.10')], [slice('a', ['198.18.1.10'])], node));
    const svcId = maps.services.entries()[0]![1].svc_id;
    maps.svcStats.set(svcId, { packets: 9n });
    rec.apply(buildDesiredState([service('a', '198.19.0.10')], [slice('a', ['198.18.1.11'])], node));
    expect(maps.svcStats.get(svcId)).toEqual({ packets: 9n });
    rec.apply(buildDesiredState([], [], node));
    expect(maps.svcStats.get(svcId)).toBeUndefined();
  });

  it('sets the explain-only flags: a Local policy per frontend type, and terminating endpoints serving', () => {
    const { maps, rec } = setup();
    const svc = makeService('default', 'a', { type: 'NodePort', clusterIP: '198.19.0.10', externalTrafficPolicy: 'Local', ports: [{ port: 80, nodePort: 30080 }] });
    const s = slice('a', ['198.18.1.10']);
    s.endpoints![0] = { ...s.endpoints![0]!, nodeName: node.name, conditions: { ready: false, serving: true, terminating: true } };
    rec.apply(buildDesiredState([svc], [s], node));
    const flags = Object.fromEntries(maps.services.entries().map(([k, v]) => [k.port, v.flags & (SVC_F_LOCAL | SVC_F_TERMINATING)]));
    expect(flags).toEqual({ 80: SVC_F_TERMINATING, 30080: SVC_F_LOCAL | SVC_F_TERMINATING });
  });

  it('keeps xlb_members equal to the backend set of each service the datapath asks it about: UDP, or with affinity; none for TCP without', () => {
    const { maps, tables, rec } = setup();
    const members = () => maps.members.entries().map(([k]) => `${maps.names.get(k.svc_id)!.name} ${maps.backends.get(k.backend_id)!.addr}`).sort();
    const tcp = (affinity: boolean) =>
      makeService('default', 't', { clusterIP: '198.19.0.11', ports: [{ port: 80 }], ...(affinity && { sessionAffinity: 'ClientIP' as const }) });
    const state = (udpIps: string[], affinity: boolean) => buildDesiredState([udpService('u', '198.19.0.10'), tcp(affinity)], [udpSlice('u', udpIps), slice('t', ['198.18.1.20', '198.18.1.21'])], node);
    rec.apply(state(['198.18.1.10', '198.18.1.11'], false));
    expect(members()).toEqual(['default/u:80/UDP 198.18.1.10', 'default/u:80/UDP 198.18.1.11']);
    rec.apply(state(['198.18.1.11', '198.18.1.12'], false));
    expect(members()).toEqual(['default/u:80/UDP 198.18.1.11', 'default/u:80/UDP 198.18.1.12']);
    // Affinity asks about members: the TCP service gets them, its table stays as it is.
    const tableWrites = tables.writes;
    const withAffinity = rec.apply(state(['198.18.1.11', '198.18.1.12'], true));
    expect(members()).toEqual(['default/t:80/TCP 198.18.1.20', 'default/t:80/TCP 198.18.1.21', 'default/u:80/UDP 198.18.1.11', 'default/u:80/UDP 198.18.1.12']);
    expect([tables.writes, withAffinity.tablesWritten, withAffinity.servicesWritten]).toEqual([tableWrites, 0, 1]);
    rec.apply(state(['198.18.1.11', '198.18.1.12'], false));
    expect(members()).toEqual(['default/u:80/UDP 198.18.1.11', 'default/u:80/UDP 198.18.1.12']);
    rec.apply(buildDesiredState([], [], node));
    expect(maps.members.entries()).toEqual([]);
  });

  it('programs source ranges for LoadBalancer frontends only, and removes them with the service', () => {
    const { maps, rec } = setup();
    const lb = (ranges: string[]) =>
      withIngress(makeService('default', 'lb', { type: 'LoadBalancer', clusterIP: '198.19.0.10', loadBalancerSourceRanges: ranges, ports: [{ port: 80, nodePort: 30080 }] }), '198.19.255.1');
    rec.apply(buildDesiredState([lb(['198.18.0.7/24'])], [slice('lb', ['198.18.1.10'])], node));
    expect(maps.sourceRanges.entries().map(([k]) => `${k.addr}/${k.prefixlen}`)).toEqual(['198.18.0.0/56']);
    expect(maps.services.entries().map(([k, v]) => `${k.addr}:${v.flags}`)).toEqual(['198.19.0.10:0', '198.18.0.1:0', '198.19.255.1:2']);
    // Other ranges alone: the service is written (its ranges), no frontend or table.
    const stats = rec.apply(buildDesiredState([lb(['198.18.2.0/24'])], [slice('lb', ['198.18.1.10'])], node));
    expect(maps.sourceRanges.entries().map(([k]) => `${k.addr}/${k.prefixlen}`)).toEqual(['198.18.2.0/56']);
    expect(stats).toMatchObject({ servicesWritten: 1, frontendsWritten: 0, tablesWritten: 0 });
    rec.apply(buildDesiredState([], [], node));
    expect(maps.sourceRanges.entries()).toEqual([]);
  });

  it('reuses the ids of deleted services and backends instead of running out', () => {
    const { maps, rec } = setup();
    // Each apply replaces the previous service and backend: ids alternate, never grow.
    for (let i = 0; i < 6; i++) {
      rec.apply(buildDesiredState([service(`s${i}`, '198.19.0.10')], [slice(`s${i}`, [`198.18.1.${10 + i}`])], node));
      expect(maps.services.entries()[0]![1].svc_id).toBeLessThanOrEqual(2);
      expect(maps.backends.entries().map(([id]) => id)).toHaveLength(1);
      expect(maps.backends.entries()[0]![0]).toBeLessThanOrEqual(2);
    }
  });

  it('names each service id for lbctl, and forgets the name with the service', () => {
    const { maps, rec } = setup();
    rec.apply(buildDesiredState([service('web', '198.19.0.10')], [slice('web', ['198.18.1.10'])], node));
    expect(maps.names.entries().map(([id, n]) => [id, n.name])).toEqual([[1, 'default/web:80/TCP']]);
    rec.apply(buildDesiredState([], [], node));
    expect(maps.names.entries()).toEqual([]);
  });

  it('writes nothing when applied twice with equal states built apart', () => {
    const { maps, tables, rec } = setup();
    const state = () => buildDesiredState([service('web', '198.19.0.10')], [slice('web', ['198.18.1.10'])], node);
    rec.apply(state());
    const before = [maps.services.writes, maps.backends.writes, maps.members.writes, tables.writes];
    const stats = rec.apply(state());
    expect([maps.services.writes, maps.backends.writes, maps.members.writes, tables.writes]).toEqual(before);
    expect(stats.frontendsWritten + stats.tablesWritten + stats.backendsAdded).toBe(0);
  });

  it('rewrites only the service whose endpoints changed, and frees removed backends', () => {
    const { maps, tables, rec } = setup();
    const svcs = [service('a', '198.19.0.10'), service('b', '198.19.0.11')];
    rec.apply(buildDesiredState(svcs, [slice('a', ['198.18.1.10', '198.18.1.11']), slice('b', ['198.18.1.20'])], node));
    const t0 = tables.writes;
    const stats = rec.apply(buildDesiredState(svcs, [slice('a', ['198.18.1.10']), slice('b', ['198.18.1.20'])], node));
    expect(tables.writes - t0).toBe(1);
    expect(stats).toMatchObject({ tablesWritten: 1, backendsRemoved: 1, frontendsWritten: 1 });
    expect(maps.backends.entries().map(([, b]) => b.addr).sort()).toEqual(['198.18.1.10', '198.18.1.20']);
  });

  it('removes the frontends and table of a deleted service', () => {
    const { maps, tables, rec } = setup();
    rec.apply(buildDesiredState([service('a', '198.19.0.10')], [slice('a', ['198.18.1.10'])], node));
    rec.apply(buildDesiredState([], [], node));
    expect(maps.services.entries()).toEqual([]);
    expect(maps.backends.entries()).toEqual([]);
    expect(tables.regions.size).toBe(0);
  });

  it('a restarted reconciler keeps service ids and backend ids found in the maps', () => {
    const { maps, tables, rec } = setup();
    const state = buildDesiredState([service('a', '198.19.0.10'), service('b', '198.19.0.11')], [slice('a', ['198.18.1.10']), slice('b', ['198.18.1.11'])], node);
    rec.apply(state);
    const snapshot = JSON.stringify([maps.services.entries(), maps.backends.entries(), maps.members.entries()]);
    const memberWrites = maps.members.writes;
    const tableWrites = tables.writes;
    const restarted = new BpfReconciler(maps, tables);
    const stats = restarted.apply(state);
    expect(tables.writes).toBe(tableWrites);
    expect(JSON.stringify([maps.services.entries(), maps.backends.entries(), maps.members.entries()])).toBe(snapshot);
    expect(maps.members.writes).toBe(memberWrites);
    expect(stats.frontendsWritten + stats.backendsAdded + stats.frontendsRemoved).toBe(0);
    expect(restarted.size()).toEqual({ services: 2, frontends: 2, backends: 2 });
  });

  it('a restarted reconciler tells from its table whether a service without members changed meanwhile, and drops members an older agent wrote for it', () => {
    const { maps, tables, rec } = setup();
    const state = (ips: string[]) => buildDesiredState([service('a', '198.19.0.10')], [slice('a', ips)], node);
    rec.apply(state(['198.18.1.10', '198.18.1.11']));
    const svcId = maps.services.entries()[0]![1].svc_id;
    // An older agent wrote members for every service.
    for (const [id] of maps.backends.entries()) maps.members.set({ svc_id: svcId, backend_id: id }, 1);
    const same = new BpfReconciler(maps, tables).apply(state(['198.18.1.10', '198.18.1.11']));
    expect([same.tablesWritten, same.frontendsWritten]).toEqual([0, 0]);
    expect(maps.members.entries()).toEqual([]);
    // The same number of endpoints (the same table size), one of them another.
    const moved = new BpfReconciler(maps, tables).apply(state(['198.18.1.10', '198.18.1.12']));
    expect([moved.tablesWritten, moved.frontendsWritten]).toEqual([1, 1]);
    expect([...new Set(named(maps, tables, svcId))].map((b) => maps.backends.get(b)!.addr).sort()).toEqual(['198.18.1.10', '198.18.1.12']);
  });

  it('a restarted reconciler removes services that are no longer desired, tables included', () => {
    const { maps, tables, rec } = setup();
    rec.apply(buildDesiredState([service('a', '198.19.0.10'), service('b', '198.19.0.11')], [slice('a', ['198.18.1.10']), slice('b', ['198.18.1.11'])], node));
    const restarted = new BpfReconciler(maps, tables);
    restarted.apply(buildDesiredState([service('a', '198.19.0.10')], [slice('a', ['198.18.1.10'])], node));
    expect(maps.services.entries().map(([k]) => k.addr)).toEqual(['198.19.0.10']);
    expect([...tables.regions.keys()]).toEqual([maps.services.entries()[0]![1].table]);
    expect(maps.backends.entries().map(([, b]) => b.addr)).toEqual(['198.18.1.10']);
  });

  it('keeps a service with no endpoints as a frontend with no table', () => {
    const { maps, tables, rec } = setup();
    rec.apply(buildDesiredState([service('a', '198.19.0.10')], [slice('a', ['198.18.1.10'])], node));
    rec.apply(buildDesiredState([service('a', '198.19.0.10')], [], node));
    const [[, v]] = maps.services.entries() as [[SvcKey, SvcValue]];
    expect(v).toMatchObject({ maglev_size: 0, backend_count: 0 });
    expect(tables.regions.size).toBe(0);
  });

  it('with the incremental model, one changed service among many is the only one written', () => {
    const { maps, tables, rec } = setup();
    const model = new DesiredStateBuilder();
    const svcs = Array.from({ length: 50 }, (_, i) => service(`s${i}`, `198.19.0.${10 + i}`));
    const slices = svcs.map((_, i) => slice(`s${i}`, [`198.18.2.${i}`, `198.18.3.${i}`]));
    rec.apply(model.build(svcs, slices, node));
    const before = { frontends: maps.services.writes, members: maps.members.writes, tables: tables.writes };
    slices[7] = slice('s7', ['198.18.2.7', '198.18.4.7']);
    const stats = rec.apply(model.build(svcs, slices, node));
    // The table goes into a new region and the frontend names it.
    expect(stats).toMatchObject({ tablesWritten: 1, backendsAdded: 1, backendsRemoved: 1, frontendsWritten: 1, servicesRemoved: 0 });
    // TCP services without affinity have no members to write.
    expect({ frontends: maps.services.writes, members: maps.members.writes, tables: tables.writes }).toEqual({
      frontends: before.frontends + 1,
      members: before.members,
      tables: before.tables + 1,
    });
    const id = maps.services.get({ addr: '198.19.0.17', port: 80, proto: 6 })!.svc_id;
    expect([...new Set(named(maps, tables, id))].map((b) => maps.backends.get(b)!.addr).sort()).toEqual(['198.18.2.7', '198.18.4.7']);
  });

  it('keeps a frontend that moves from a deleted service to a new one in the same apply', () => {
    const { maps, rec } = setup();
    rec.apply(buildDesiredState([service('old', '198.19.0.10')], [slice('old', ['198.18.1.10'])], node));
    rec.apply(buildDesiredState([service('new', '198.19.0.10')], [slice('new', ['198.18.1.11'])], node));
    const v = maps.services.get({ addr: '198.19.0.10', port: 80, proto: 6 });
    expect(v).toBeDefined();
    expect(maps.names.get(v!.svc_id)?.name).toBe('default/new:80/TCP');
    expect(maps.backends.entries().map(([, b]) => b.addr)).toEqual(['198.18.1.11']);
  });

  it('keeps a backend two services share until the last of them stops using it, and says what the maps hold', () => {
    const { maps, rec } = setup();
    const both = [service('a', '198.19.0.10', 30080), service('b', '198.19.0.11')];
    rec.apply(buildDesiredState(both, [slice('a', ['198.18.1.10']), slice('b', ['198.18.1.10', '198.18.1.11'])], node));
    expect(maps.backends.entries()).toHaveLength(2);
    expect(rec.size()).toEqual({ services: 2, frontends: 3, backends: 2 });
    expect(rec.size()).toEqual(held(maps));
    rec.apply(buildDesiredState([both[1]!], [slice('b', ['198.18.1.10'])], node));
    expect(maps.backends.entries().map(([, b]) => b.addr)).toEqual(['198.18.1.10']);
    expect(rec.size()).toEqual({ services: 1, frontends: 1, backends: 1 });
    rec.apply(buildDesiredState([both[1]!], [slice('b', ['198.18.1.12'])], node));
    expect(maps.backends.entries().map(([, b]) => b.addr)).toEqual(['198.18.1.12']);
    expect(rec.size()).toEqual(held(maps));
  });

  it('after a failed write, the next apply of the same state finishes the job from what the maps hold', () => {
    const { maps, tables, rec } = setup();
    const model = new DesiredStateBuilder();
    const svcs = [service('a', '198.19.0.10', 30080)];
    rec.apply(model.build(svcs, [slice('a', ['198.18.1.10'])], node));
    const failing = maps.services.setMany.bind(maps.services);
    maps.services.setMany = () => {
      throw new Error('ENOMEM');
    };
    const changed = model.build([service('a', '198.19.0.10', 30081)], [slice('a', ['198.18.1.10', '198.18.1.11'])], node);
    expect(() => rec.apply(changed)).toThrow('ENOMEM');
    maps.services.setMany = failing;
    rec.apply(changed);
    expect(maps.services.entries().map(([k, v]) => `${k.addr}:${k.port}/${v.backend_count}`).sort()).toEqual(['198.18.0.1:30081/2', '198.19.0.10:80/2']);
    const id = maps.services.entries()[0]![1].svc_id;
    expect(new Set(named(maps, tables, id)).size).toBe(2);
  });

  it('writes a changed table into a new region, points the frontends at it and retires the old one', () => {
    const { maps, tables, rec } = setup();
    const model = new DesiredStateBuilder();
    const svcs = [service('a', '198.19.0.10', 30080)];
    rec.apply(model.build(svcs, [slice('a', ['198.18.1.10'])], node));
    const named1 = () => [...new Set(maps.services.entries().map(([, v]) => v.table))];
    const [first] = named1();
    rec.apply(model.build(svcs, [slice('a', ['198.18.1.11'])], node));
    const [second] = named1();
    expect(second).not.toBe(first);
    expect(tables.retired).toEqual([[first, 101]]);
    expect(tables.regions.has(first!)).toBe(false);
    expect([...new Set(named(maps, tables, 1))].map((b) => maps.backends.get(b)!.addr)).toEqual(['198.18.1.11']);
    // A restarted reconciler keeps the region the frontends name, writes a change into
    // a new one and retires the one they named.
    const restarted = new BpfReconciler(maps, tables);
    expect(tables.regions.has(second!)).toBe(true);
    restarted.apply(buildDesiredState(svcs, [slice('a', ['198.18.1.13'])], node));
    expect(named1()).toHaveLength(1);
    expect(named1()[0]).not.toBe(second);
    expect(tables.retired.at(-1)).toEqual([second, 101]);
    expect([...new Set(named(maps, tables, 1))].map((b) => maps.backends.get(b)!.addr)).toEqual(['198.18.1.13']);
  });

  it('fed build after build, ends where a fresh reconciler applying a full build ends', () => {
    const { maps, rec } = setup();
    const model = new DesiredStateBuilder();
    let svcs = Array.from({ length: 30 }, (_, i) => service(`s${i}`, `198.19.0.${10 + i}`, i % 3 ? undefined : 30000 + i));
    let slices = svcs.map((_, i) => slice(`s${i}`, [`198.18.2.${i}`, `198.18.3.${i % 7}`]));
    const steps: Array<() => void> = [
      () => (slices = slices.map((s, i) => (i % 4 ? s : slice(`s${i}`, [`198.18.4.${i}`])))),
      () => (svcs = svcs.filter((_, i) => i % 5)),
      () => (svcs = [...svcs, service('late', '198.19.1.1', 31000)]),
      () => (slices = [...slices, slice('late', ['198.18.3.1', '198.18.3.2'])]),
      () => (svcs = svcs.map((s) => (s.metadata.name === 's7' ? service('s7', '198.19.0.200') : s))),
    ];
    rec.apply(model.build(svcs, slices, node));
    for (const step of steps) {
      step();
      const update = model.build(svcs, slices, node);
      expect(update.delta.full).toBe(false);
      rec.apply(update);
    }
    const fresh = setup();
    fresh.rec.apply(buildDesiredState(svcs, slices, node));
    const view = (m: typeof maps) =>
      m.services
        .entries()
        .map(([k, v]) => `${k.addr}:${k.port} ${v.backend_count} ${m.names.get(v.svc_id)?.name}`)
        .sort();
    expect(view(maps)).toEqual(view(fresh.maps));
    expect(maps.backends.entries().map(([, b]) => `${b.addr}:${b.port}`).sort()).toEqual(fresh.maps.backends.entries().map(([, b]) => `${b.addr}:${b.port}`).sort());
    expect(maps.members.entries().length).toBe(fresh.maps.members.entries().length);
  });
});

describe('BpfReconciler with full maps', () => {
  /** A reconciler whose maps hold only so much, and its log lines. */
  function small(capacity: Partial<Capacity>) {
    const { maps, tables } = setup();
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
    return { maps, tables, lines, rec: new BpfReconciler(maps, tables, log, { ...CAPACITY, ...capacity }) };
  }
  const errors = (lines: Array<Record<string, unknown>>) => lines.filter((l) => l.level === 50);
  const programmed = (maps: ReturnType<typeof setup>['maps']) => maps.services.entries().map(([k]) => `${k.addr}:${k.port}`).sort();
  /** Services a, b and c with one endpoint each, and the model that builds them. */
  function threeServices() {
    const svcs = [service('a', '198.19.0.10'), service('b', '198.19.0.11'), service('c', '198.19.0.12')];
    return { model: new DesiredStateBuilder(), svcs, slices: svcs.map((s, i) => slice(s.metadata.name, [`198.18.1.${10 + i}`])) };
  }

  it('leaves out a service port no service id is free for, says so once, programs the rest and counts it', () => {
    const { maps, lines, rec } = small({ serviceIds: 2 });
    const { model, svcs, slices } = threeServices();
    let stats = rec.apply(model.build(svcs, slices, node));
    expect(programmed(maps)).toEqual(['198.19.0.10:80', '198.19.0.11:80']);
    expect(stats.overCapacity).toBe(1);
    expect(errors(lines)).toEqual([
      expect.objectContaining({
        service: 'default/c:80/TCP',
        map: 'xlb_svc_names',
        raise: '--max-services',
        msg: 'default/c:80/TCP not programmed: all 2 service ids are taken; remove Services or endpoints, or raise --max-services',
      }),
    ]);
    // Other changes go on being programmed; the problem is not said again.
    slices[1] = slice('b', ['198.18.1.21']);
    stats = rec.apply(model.build(svcs, slices, node));
    expect(stats).toMatchObject({ overCapacity: 1, tablesWritten: 1 });
    expect(maps.backends.entries().map(([, b]) => b.addr).sort()).toEqual(['198.18.1.10', '198.18.1.21']);
    expect(errors(lines)).toHaveLength(1);
    // Deleting a Service frees an id: the one left out gets it in the same apply.
    stats = rec.apply(model.build(svcs.slice(1), slices.slice(1), node));
    expect(programmed(maps)).toEqual(['198.19.0.11:80', '198.19.0.12:80']);
    expect(stats.overCapacity).toBe(0);
    expect(lines.at(-1)).toMatchObject({ level: 30, service: 'default/c:80/TCP', msg: 'default/c:80/TCP: programmed in full now' });
  });

  it('leaves out a service whose table the Maglev pool has no room for; a changed one keeps the table it has until there is room', () => {
    const { maps, tables, lines, rec } = small({});
    tables.room = 2;
    const { model, svcs, slices } = threeServices();
    let stats = rec.apply(model.build(svcs, slices, node));
    expect(programmed(maps)).toEqual(['198.19.0.10:80', '198.19.0.11:80']);
    expect(stats.overCapacity).toBe(1);
    expect(errors(lines)).toEqual([expect.objectContaining({ service: 'default/c:80/TCP', map: 'xlb_maglev', msg: expect.stringContaining('the Maglev pool has no room for its table') })]);
    // b's change finds no room either: b keeps serving from the table it has.
    const before = maps.services.get({ addr: '198.19.0.11', port: 80, proto: 6 });
    slices[1] = slice('b', ['198.18.1.21']);
    stats = rec.apply(model.build(svcs, slices, node));
    expect(maps.services.get({ addr: '198.19.0.11', port: 80, proto: 6 })).toEqual(before);
    expect([...new Set(named(maps, tables, before!.svc_id))].map((b) => maps.backends.get(b)!.addr)).toEqual(['198.18.1.11']);
    // A deleted Service makes room for one table in the same apply: c, waiting longest,
    // takes it; b still serves from the table it has.
    stats = rec.apply(model.build(svcs.slice(1), slices.slice(1), node));
    expect(stats.overCapacity).toBe(1);
    expect(programmed(maps)).toEqual(['198.19.0.11:80', '198.19.0.12:80']);
    expect([...new Set(named(maps, tables, before!.svc_id))].map((b) => maps.backends.get(b)!.addr)).toEqual(['198.18.1.11']);
  });

  it('leaves out a service whose service-endpoint pairs xlb_members has no room for; a changed one keeps what it has', () => {
    const { maps, lines, rec } = small({ members: 3 });
    const model = new DesiredStateBuilder();
    const svcs = [udpService('a', '198.19.0.10'), udpService('b', '198.19.0.11')];
    const slices = [udpSlice('a', ['198.18.1.10', '198.18.1.11']), udpSlice('b', ['198.18.1.20', '198.18.1.21'])];
    let stats = rec.apply(model.build(svcs, slices, node));
    expect(programmed(maps)).toEqual(['198.19.0.10:80']);
    expect(stats.overCapacity).toBe(1);
    expect(errors(lines)).toEqual([
      expect.objectContaining({ service: 'default/b:80/UDP', map: 'xlb_members', raise: '--max-backends', msg: expect.stringContaining('xlb_members is full (3 service-endpoint pairs)') }),
    ]);
    // a's change needs its new pairs beside the old ones until its table is in: no room, a keeps serving.
    slices[0] = udpSlice('a', ['198.18.1.12', '198.18.1.13']);
    rec.apply(model.build(svcs, slices, node));
    expect(maps.members.entries()).toHaveLength(2);
    expect(maps.backends.entries().map(([, b]) => b.addr).sort()).toEqual(['198.18.1.10', '198.18.1.11']);
    // b gone, a shrunk to one endpoint: both fit.
    slices[0] = udpSlice('a', ['198.18.1.12']);
    stats = rec.apply(model.build(svcs.slice(0, 1), slices.slice(0, 1), node));
    expect(stats.overCapacity).toBe(0);
    expect(maps.backends.entries().map(([, b]) => b.addr)).toEqual(['198.18.1.12']);
    expect(maps.members.entries()).toHaveLength(1);
  });

  it('a deleted Service and new ones in one apply: the room goes to a new one, the deleted one is removed', () => {
    const { maps, rec } = small({ serviceIds: 2 });
    rec.apply(buildDesiredState([service('a', '198.19.0.10'), service('b', '198.19.0.11')], [], node));
    // As many desired as programmed, yet one programmed is not desired.
    const stats = rec.apply(buildDesiredState([service('b', '198.19.0.11'), service('c', '198.19.0.12'), service('d', '198.19.0.13')], [], node));
    expect(programmed(maps)).toEqual(['198.19.0.11:80', '198.19.0.12:80']);
    expect(maps.names.entries().map(([, n]) => n.name).sort()).toEqual(['default/b:80/TCP', 'default/c:80/TCP']);
    expect(stats.overCapacity).toBe(1);
  });

  it('leaves out a frontend when xlb_services is full; its service keeps the frontends it has', () => {
    const { maps, lines, rec } = small({ frontends: 3 });
    const model = new DesiredStateBuilder();
    const svcs = [service('a', '198.19.0.10', 30080), service('b', '198.19.0.11'), service('c', '198.19.0.12', 30082)];
    let stats = rec.apply(model.build(svcs, [], node));
    expect(programmed(maps)).toEqual(['198.18.0.1:30080', '198.19.0.10:80', '198.19.0.11:80']);
    expect(stats.overCapacity).toBe(2);
    expect(errors(lines).map((l) => [l.service, l.frontend, l.map])).toEqual([
      ['default/c:80/TCP', '198.19.0.12:80/TCP', 'xlb_services'],
      ['default/c:80/TCP', '198.18.0.1:30082/TCP', 'xlb_services'],
    ]);
    expect(String(errors(lines)[0]!.msg)).toContain('xlb_services is full (3 frontends)');
    // c holds its service id, and none of its frontends: they are not counted.
    expect(rec.size()).toEqual({ services: 3, frontends: 3, backends: 0 });
    expect(rec.size()).toEqual(held(maps));
    stats = rec.apply(model.build([svcs[0]!, svcs[2]!], [], node));
    expect(programmed(maps)).toEqual(['198.18.0.1:30080', '198.19.0.10:80', '198.19.0.12:80']);
    expect(stats.overCapacity).toBe(1);
  });

  it('leaves out backends no backend id is free for: the service is served by the others', () => {
    const { maps, tables, lines, rec } = small({ backendIds: 3 });
    const stats = rec.apply(buildDesiredState([service('a', '198.19.0.10')], [slice('a', ['198.18.1.10', '198.18.1.11', '198.18.1.12', '198.18.1.13'])], node));
    expect(stats.overCapacity).toBe(1);
    const [[, v]] = maps.services.entries() as [[SvcKey, SvcValue]];
    expect(v.backend_count).toBe(3);
    expect([...new Set(named(maps, tables, v.svc_id))].map((id) => maps.backends.get(id)!.addr).sort()).toEqual(['198.18.1.10', '198.18.1.11', '198.18.1.12']);
    expect(errors(lines).map((l) => [l.backend, l.map])).toEqual([['198.18.1.13:8080', 'xlb_backends']]);
  });

  it('serves a Service with 300 ports: one service id and frontend each', () => {
    const { maps, rec } = setup();
    const ports = Array.from({ length: 300 }, (_, i) => ({ name: `p${i}`, port: 1000 + i }));
    const svc = makeService('default', 'many', { clusterIP: '198.19.0.77', ports });
    const sl = { ...slice('many', ['198.18.1.10']), ports: ports.map((p) => ({ name: p.name, port: 2000 + p.port })) };
    const stats = rec.apply(buildDesiredState([svc], [sl], node));
    expect(stats.overCapacity).toBe(0);
    expect(maps.services.entries()).toHaveLength(300);
    expect(new Set(maps.services.entries().map(([, v]) => v.svc_id)).size).toBe(300);
    expect(maps.backends.entries()).toHaveLength(300);
  });
});

describe('mapSizes: the agent\'s map size flags', () => {
  it('gives each flag\'s maps their entries, and refuses what is no whole number in range, naming the flag', () => {
    expect(mapSizes({ '--max-services': '100000', '--max-backends': '1000000', '--nat-table-size': undefined })).toEqual({
      xlb_services: 100000,
      xlb_svc_names: 100000,
      xlb_svc_stats: 100000,
      xlb_backends: 1000000,
      xlb_members: 2000000,
    });
    expect(() => mapSizes({ '--max-services': '10' })).toThrow('--max-services 10: must be a whole number from 1024 to 16777216');
    expect(() => mapSizes({ '--max-backends': '1e9' })).toThrow('--max-backends 1e9: must be a whole number from 1024 to 8388608');
    expect(() => mapSizes({ '--nat-table-size': 'lots' })).toThrow('--nat-table-size lots: must be a whole number');
  });
});
