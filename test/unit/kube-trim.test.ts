// What the agent keeps of a watched object: the fields the model reads, and endpoints
// sharing their conditions objects.
import { describe, expect, it } from 'vitest';
import { TRIGGER_TIME_ANNOTATION, trimEndpointSlice, trimService } from '../../src/sources/trim.js';
import { buildDesiredState } from '../../src/model/desired.js';
import type { EndpointSlice } from '../../src/model/k8s.js';
import { validateEndpointSlice } from '../../src/sources/validate.js';
import { makeEndpoint, makeService, makeSlice } from '../fixtures/k8s.js';

describe('trimEndpointSlice', () => {
  it('keeps the fields the model reads, shares well-formed conditions and leaves odd ones to the gate', () => {
    const full = makeSlice('it', 'web-a', 'web', {
      ports: [{ name: 'http', port: 8080 }],
      endpoints: ['198.18.1.10', '198.18.1.11', '198.18.1.12'].map((ip, i) =>
        makeEndpoint(ip, { conditions: { ready: i !== 2, serving: true }, targetRef: { kind: 'Pod', name: `web-${i}`, namespace: 'it' } }),
      ),
    });
    full.metadata.annotations = { [TRIGGER_TIME_ANNOTATION]: '2026-11-23T10:00:00Z', 'kubectl.kubernetes.io/last-applied-configuration': '{…}' };
    const odd = structuredClone(full.endpoints![0]!);
    (odd.conditions as Record<string, unknown>).ready = 'yes';
    full.endpoints!.push(odd);
    const t = trimEndpointSlice(full as EndpointSlice);
    expect(t.metadata.annotations).toEqual({ [TRIGGER_TIME_ANNOTATION]: '2026-11-23T10:00:00Z' });
    const [a, b, c, d] = t.endpoints!;
    expect(a!.conditions).toBe(b!.conditions);
    expect(a!.conditions).toEqual({ ready: true, serving: true, terminating: undefined });
    expect(Object.isFrozen(a!.conditions)).toBe(true);
    expect(c!.conditions).toEqual({ ready: false, serving: true, terminating: undefined });
    expect(d!.conditions).not.toBe(a!.conditions);
    expect(d!.conditions!.ready).toBe('yes');
    expect(a!.targetRef).toEqual({ name: 'web-0' });
    expect([a, b, c].map((e) => e!.addresses)).toEqual([['198.18.1.10'], ['198.18.1.11'], ['198.18.1.12']]);
    expect('zone' in a!).toBe(false);
    // Another slice's endpoints share the same objects.
    expect(trimEndpointSlice(full as EndpointSlice).endpoints![0]!.conditions).toBe(a!.conditions);
  });

  it('keeps an address list other than one address as given, for the gate to judge', () => {
    const lists = [['198.18.1.20', 'fe80::1'], [], ['198.18.1.21', '198.18.1.22']];
    const s = makeSlice('it', 'odd-a', 'odd', { ports: [{ name: 'http', port: 8080 }], endpoints: lists.map((l) => ({ ...makeEndpoint('198.18.1.1'), addresses: l })) });
    const t = trimEndpointSlice(s as EndpointSlice);
    expect(t.endpoints!.map((e) => e.addresses)).toEqual(lists);
    expect(() => validateEndpointSlice(t as never)).toThrow('endpoints[0].addresses[1]: must be an IPv4 address, got "fe80::1"');
    // Every field of an endpoint is named from the slice.
    const bad = (e: unknown) => () => validateEndpointSlice({ ...s, endpoints: [makeEndpoint('198.18.1.1'), e] } as never);
    expect(bad('x')).toThrow('endpoints[1]: must be an object, got "x"');
    expect(bad({ ...makeEndpoint('198.18.1.2'), conditions: { ready: 'yes' } })).toThrow('endpoints[1].conditions.ready: must be true or false, got "yes"');
    expect(bad({ ...makeEndpoint('198.18.1.2'), hints: { forZones: [{ name: 1 }] } })).toThrow('endpoints[1].hints.forZones[0].name: must be a string, got 1');
    expect(bad({ ...makeEndpoint('198.18.1.2'), addresses: ['0.0.0.0'] })).toThrow('endpoints[1].addresses[0]: must not be the unspecified address, got "0.0.0.0"');
  });
});

describe('trimService', () => {
  it("keeps a Service's creationTimestamp: of two Services listed from the API claiming one frontend, the older keeps it", () => {
    const svc = (name: string, clusterIP: string, created: string) => {
      const s = makeService('shop', name, { clusterIP, externalIPs: ['198.19.9.9'], ports: [{ port: 80 }] });
      Object.assign(s.metadata, { creationTimestamp: created, managedFields: [{ manager: 'kubectl' }] });
      return trimService(s);
    };
    // The newer one is first by name too: only its age can decide.
    const [older, newer] = [svc('z-old', '198.19.0.1', '2024-01-01T00:00:00Z'), svc('a-new', '198.19.0.2', '2025-01-01T00:00:00Z')];
    expect(older.metadata.creationTimestamp).toBe('2024-01-01T00:00:00Z');
    const st = buildDesiredState([newer, older], [], { name: 'node-a', ips: ['198.18.0.1'] });
    expect(st.state.services.get('shop/z-old:80/TCP')!.frontends.map((f) => f.addr)).toEqual(['198.19.0.1', '198.19.9.9']);
    expect(st.state.services.get('shop/a-new:80/TCP')!.frontends.map((f) => f.addr)).toEqual(['198.19.0.2']);
  });

  it('leaves out clusterIPs when it only repeats clusterIP, keeps a dual-stack list, and the model serves both the same', () => {
    const single = makeService('it', 'one', { clusterIP: '198.19.0.5', ports: [{ port: 80 }] });
    single.spec.clusterIPs = ['198.19.0.5'];
    const dual = makeService('it', 'two', { clusterIP: '198.19.0.6', ports: [{ port: 80 }] });
    dual.spec.clusterIPs = ['198.19.0.6', 'fd00::6'];
    const [t1, t2] = [trimService(single), trimService(dual)];
    expect(t1.spec.clusterIPs).toBeUndefined();
    expect(t2.spec.clusterIPs).toEqual(['198.19.0.6', 'fd00::6']);
    const st = buildDesiredState([t1, t2], [], { name: 'node-a', ips: ['198.18.0.1'] }).state;
    expect([...st.services.values()].map((s) => s.frontends.map((f) => f.addr))).toEqual([['198.19.0.5'], ['198.19.0.6']]);
  });
});
