// The gate every source's objects pass: each kind of bad input is reported once by
// object and field and skipped (or its last good version kept); the rest goes on.
import { describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { ObjectGate, SnapshotGate } from '../../src/sources/object-gate.js';
import { validateService } from '../../src/sources/validate.js';
import type { EndpointSlice, Service } from '../../src/model/k8s.js';
import { makeEndpoint, makeService, makeSlice } from '../fixtures/k8s.js';

function capture(level = 'info') {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { log, lines };
}

const web = () => makeService('it', 'web', { clusterIP: '198.19.0.10', ports: [{ name: 'http', port: 80, targetPort: 8080 }] });
const webSlice = () => makeSlice('it', 'web-a', 'web', { ports: [{ name: 'http', port: 8080, protocol: 'TCP' }], endpoints: [makeEndpoint('198.18.1.10')] });

/** A copy of `o` with `change` applied: bad input of one kind. */
function bad<T>(o: T, change: (c: T) => void): T {
  const c = structuredClone(o);
  change(c);
  return c;
}

describe('SnapshotGate', () => {
  const cases: Array<[string, () => { svc?: Service; sl?: EndpointSlice }, string]> = [
    ['an externalIP that is no address', () => ({ svc: bad(web(), (s) => (s.spec.externalIPs = ['1.2.3'])) }), 'spec.externalIPs[0]'],
    ['a second cluster IP that is no address', () => ({ svc: bad(web(), (s) => (s.spec.clusterIPs = [s.spec.clusterIP!, 'x'])) }), 'spec.clusterIPs[1]'],
    ['a source range that is no CIDR', () => ({ svc: bad(web(), (s) => (s.spec.loadBalancerSourceRanges = ['198.51.100.0/33'])) }), 'spec.loadBalancerSourceRanges[0]'],
    ['a traffic policy neither Cluster nor Local', () => ({ svc: bad(web(), (s) => (s.spec.externalTrafficPolicy = 'Nearest' as never)) }), 'spec.externalTrafficPolicy'],
    ['a label value that is no string', () => ({ svc: bad(web(), (s) => (s.metadata.labels = { app: 1 as never })) }), 'metadata.labels.app'],
    ['two ports of one name', () => ({ svc: bad(web(), (s) => s.spec.ports!.push({ ...s.spec.ports![0]!, port: 81 })) }), 'spec.ports[1].name'],
    ['an LB ingress IP that is garbage', () => ({ svc: bad(web(), (s) => (s.status = { loadBalancer: { ingress: [{ ip: 'garbage' }] } })) }), 'status.loadBalancer.ingress[0].ip'],
    ['service port 0', () => ({ svc: bad(web(), (s) => (s.spec.ports![0]!.port = 0)) }), 'spec.ports[0].port'],
    ['service port 70000', () => ({ svc: bad(web(), (s) => (s.spec.ports![0]!.port = 70000)) }), 'spec.ports[0].port'],
    ['a port that is no integer', () => ({ svc: bad(web(), (s) => (s.spec.ports![0]!.port = 80.5)) }), 'spec.ports[0].port'],
    ['nodePort 70000', () => ({ svc: bad(web(), (s) => (s.spec.ports![0]!.nodePort = 70000)) }), 'spec.ports[0].nodePort'],
    ['targetPort 0', () => ({ svc: bad(web(), (s) => (s.spec.ports![0]!.targetPort = 0)) }), 'spec.ports[0].targetPort'],
    ['a port name that would break an iptables comment', () => ({ svc: bad(web(), (s) => (s.spec.ports![0]!.name = 'a"\nb')) }), 'spec.ports[0].name'],
    ['an IPv6 address in an IPv4 EndpointSlice', () => ({ sl: bad(webSlice(), (s) => (s.endpoints![0]!.addresses = ['fd00::1'])) }), 'endpoints[0].addresses[0]'],
    ['slice port 70000', () => ({ sl: bad(webSlice(), (s) => (s.ports![0]!.port = 70000)) }), 'ports[0].port'],
    ['slice port 1.5', () => ({ sl: bad(webSlice(), (s) => (s.ports![0]!.port = 1.5)) }), 'ports[0].port'],
    ['topology hints that are no list', () => ({ sl: bad(webSlice(), (s) => (s.endpoints![0]!.hints = { forZones: 'zone-a' as never })) }), 'endpoints[0].hints.forZones'],
  ];

  it.each(cases)('%s: skipped, reported once by object and field, the rest served', (_, make, field) => {
    const { log, lines } = capture();
    const gate = new SnapshotGate(log);
    const { svc, sl } = make();
    const other = makeService('it', 'api', { clusterIP: '198.19.0.11', ports: [{ port: 80 }] });
    const services = [other, ...(svc ? [svc] : [])];
    const slices = sl ? [sl] : [];
    for (let i = 0; i < 3; i++) {
      const out = gate.admit(services, slices);
      expect(out.services).toEqual([other]);
      expect(out.slices).toEqual([]);
    }
    expect(lines).toEqual([
      expect.objectContaining({ level: 50, kind: svc ? 'Service' : 'EndpointSlice', object: svc ? 'it/web' : 'it/web-a', field, lastGoodKept: false }),
    ]);
    expect(String(lines[0]!.msg)).toMatch(/; skipped$/);
  });

  it('keeps the last good version of an object that turns invalid, by uid: a new object of that name starts afresh', () => {
    const { log, lines } = capture();
    const gate = new SnapshotGate(log);
    const good = web();
    expect(gate.admit([good], []).services).toEqual([good]);
    const typo = bad(good, (s) => (s.spec.ports![0]!.port = 70000));
    expect(gate.admit([typo], []).services[0]).toBe(good);
    expect(lines.at(-1)).toMatchObject({ level: 50, lastGoodKept: true, msg: 'invalid Service it/web: spec.ports[0].port: must be an integer 1-65535, got 70000; its last good version is kept' });
    // Deleted and created again (another uid) with the typo: nothing to fall back to.
    const recreated = bad(typo, (s) => (s.metadata.uid = 'uid-other'));
    expect(gate.admit([recreated], []).services).toEqual([]);
    // Gone from the source: forgotten, so it comes back only as what it is.
    gate.admit([], []);
    expect(gate.admit([typo], []).services).toEqual([]);
  });

  it('passes changes the same way: a typo keeps the last good version, a bad newcomer or recreation is gone, a deletion is forgotten', () => {
    const { log, lines } = capture();
    const gate = new SnapshotGate(log);
    const none = { upserted: [], deleted: [] };
    const good = web();
    gate.admit([good], []);
    const typo = bad(good, (s) => (s.spec.ports![0]!.port = 70000));
    expect(gate.change({ upserted: [typo], deleted: [] }, none).services).toEqual({ upserted: [good], deleted: [] });
    expect(lines.at(-1)).toMatchObject({ level: 50, object: 'it/web', lastGoodKept: true });
    const recreated = bad(typo, (s) => (s.metadata.uid = 'uid-other'));
    expect(gate.change({ upserted: [recreated], deleted: [] }, none).services).toEqual({ upserted: [], deleted: ['it/web'] });
    const newcomer = bad(webSlice(), (s) => (s.endpoints![0]!.addresses = ['fd00::1']));
    expect(gate.change(none, { upserted: [newcomer], deleted: [] }).slices).toEqual({ upserted: [], deleted: ['it/web-a'] });
    // Deleted: forgotten, so the typo coming back has no good version to fall back to.
    expect(gate.change({ upserted: [], deleted: ['it/web'] }, none).services).toEqual({ upserted: [], deleted: ['it/web'] });
    expect(gate.change({ upserted: [typo], deleted: [] }, none).services).toEqual({ upserted: [], deleted: ['it/web'] });
  });

  it('says once, at debug, that IPv6 and FQDN EndpointSlices are not served, and passes them on', () => {
    const { log, lines } = capture('debug');
    const gate = new SnapshotGate(log);
    const v6 = bad(webSlice(), (s) => {
      s.metadata.name = 'web-v6';
      s.addressType = 'IPv6';
      s.endpoints![0]!.addresses = ['fd00::1'];
    });
    const fqdn = bad(webSlice(), (s) => {
      s.metadata.name = 'web-fqdn';
      s.addressType = 'FQDN';
      s.endpoints![0]!.addresses = ['db.example.invalid'];
    });
    for (let i = 0; i < 3; i++) expect(gate.admit([], [v6, fqdn, webSlice()]).slices).toHaveLength(3);
    expect(lines.map((l) => [l.level, l.object, l.msg])).toEqual([
      [20, 'it/web-v6', 'EndpointSlice it/web-v6 not served: addressType IPv6 (only IPv4 is served)'],
      [20, 'it/web-fqdn', 'EndpointSlice it/web-fqdn not served: addressType FQDN (only IPv4 is served)'],
    ]);
  });
});

describe('ObjectGate', () => {
  it('checks each object once: unchanged objects (the same identity) are not checked again', () => {
    const check = vi.fn(validateService);
    const gate = new ObjectGate('Service', check, pino({ level: 'silent' }));
    const svcs = Array.from({ length: 100 }, (_, i) => makeService('it', `s${i}`, { clusterIP: `198.19.1.${i}`, ports: [{ port: 80 }] }));
    gate.admit(svcs);
    const next = [...svcs];
    next[7] = makeService('it', 's7', { clusterIP: '198.19.2.7', ports: [{ port: 80 }] });
    expect(gate.admit(next)).toEqual(next);
    expect(check).toHaveBeenCalledTimes(101);
  });

  it('checks an invalid object each time it comes, and its last good version again once it comes back', () => {
    const { log, lines } = capture();
    const check = vi.fn(validateService);
    const gate = new ObjectGate('Service', check, log);
    const good = web();
    const broken = bad(good, (s) => (s.spec.ports![0]!.port = 0));
    expect(gate.admit([good])).toEqual([good]);
    expect(gate.admit([broken])).toEqual([good]);
    expect(gate.admit([broken])).toEqual([good]);
    expect(check).toHaveBeenCalledTimes(3);
    // The same object as the last good version, after its invalid one: checked again, and said.
    expect(gate.admit([good])).toEqual([good]);
    expect(check).toHaveBeenCalledTimes(4);
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [50, 'invalid Service it/web: spec.ports[0].port: must be an integer 1-65535, got 0; its last good version is kept'],
      [30, 'Service it/web is valid again'],
    ]);
    gate.admit([good]);
    expect(check).toHaveBeenCalledTimes(4);
  });

  it('admits an object vetted as it arrived without checking it again; an invalid one is left to admission, which reports it', () => {
    const { log, lines } = capture();
    const check = vi.fn(validateService);
    const gate = new ObjectGate('Service', check, log);
    const good = web();
    const db = makeService('it', 'db', { clusterIP: '198.19.0.11', ports: [{ port: 5432 }] });
    const broken = bad(db, (s) => (s.spec.ports![0]!.port = 0));
    gate.vet(good);
    gate.vet(broken);
    expect(check).toHaveBeenCalledTimes(2);
    // Nothing is said before the objects are admitted.
    expect(lines).toEqual([]);
    expect(gate.admit([good, broken])).toEqual([good]);
    expect(check).toHaveBeenCalledTimes(3);
    expect(lines.map((l) => l.msg)).toEqual(['invalid Service it/db: spec.ports[0].port: must be an integer 1-65535, got 0; skipped']);
    // A valid version after a reported problem is checked at admission, which says so.
    gate.vet(db);
    expect(gate.admit([good, db])).toEqual([good, db]);
    expect(check).toHaveBeenCalledTimes(4);
    expect(lines.at(-1)!.msg).toBe('Service it/db is valid again');
    // Vetted, then gone before it was admitted: forgotten, so its broken version later has no good one to keep.
    const late = makeService('it', 'late', { clusterIP: '198.19.0.12', ports: [{ port: 80 }] });
    gate.vet(late);
    expect(gate.admit([good, db])).toEqual([good, db]);
    expect(gate.admit([good, db, bad(late, (s) => (s.spec.ports![0]!.port = 0))])).toEqual([good, db]);
  });

  it('reports whatever a check trips over as the object\'s problem, never throws', () => {
    const { log, lines } = capture();
    const gate = new ObjectGate('Service', validateService, log);
    const trap = web() as unknown as Record<string, unknown>;
    Object.defineProperty(trap, 'spec', {
      get() {
        throw new Error('boom');
      },
    });
    expect(gate.admit([trap])).toEqual([]);
    expect(lines).toEqual([expect.objectContaining({ level: 50, object: 'it/web', field: '(object)', msg: 'invalid Service it/web: (object): boom; skipped' })]);
  });
});
