import { describe, expect, it } from 'vitest';
import { buildDesiredState, DesiredStateBuilder } from '../../src/model/desired.js';
import type { StateUpdate } from '../../src/model/state.js';
import type { EndpointSlice, Service } from '../../src/model/k8s.js';
import { makeEndpoint, makeService, makeSlice } from '../fixtures/k8s.js';
import { ipv4ToInt } from '../../src/model/ipv4.js';

const node = { name: 'node-a', ips: ['198.18.0.1', '198.18.0.5'] };

const svc = (name: string, spec: Service['spec'], status?: Service['status']): Service => ({ ...makeService('shop', name, spec), status });

const slice = (name: string, svcName: string, ports: EndpointSlice['ports'], endpoints: EndpointSlice['endpoints']) =>
  makeSlice('shop', name, svcName, { ports, endpoints });

const ep = (ip: string, ready?: boolean) => makeEndpoint(ip, ready === undefined ? undefined : { conditions: { ready } });

/** The state of a build from scratch. */
const stateOf = (...args: Parameters<typeof buildDesiredState>) => buildDesiredState(...args).state;

describe('buildDesiredState', () => {
  it('merges endpoints of several slices and deduplicates them', () => {
    const s = svc('web', { clusterIP: '198.19.0.10', ports: [{ port: 80, targetPort: 8080 }] });
    const state = stateOf(
      [s],
      [
        slice('web-a', 'web', [{ port: 8080 }], [ep('198.18.1.11'), ep('198.18.1.10')]),
        slice('web-b', 'web', [{ port: 8080 }], [ep('198.18.1.10'), ep('198.18.1.12')]),
      ],
      node,
    );
    const lb = state.services.get('shop/web:80/TCP')!;
    expect(lb.backends.map((b) => `${b.addr}:${b.port}`)).toEqual(['198.18.1.10:8080', '198.18.1.11:8080', '198.18.1.12:8080']);
    expect(lb.frontends).toEqual([{ addr: '198.19.0.10', port: 80, protocol: 'TCP', type: 'ClusterIP' }]);
  });

  it('deduplicates many endpoints across slices, the first slice\'s conditions winning, and orders them by address', () => {
    const s = svc('big', { clusterIP: '198.19.0.11', ports: [{ port: 80, targetPort: 8080 }] });
    const ips = Array.from({ length: 60 }, (_, i) => `198.18.${1 + (i % 2)}.${100 - i}`);
    const state = stateOf(
      [s],
      [
        // The first slice says every other one of the last 30 is not ready; the second repeats them as ready.
        slice('big-a', 'big', [{ port: 8080 }], ips.map((ip, i) => ep(ip, i < 30 || i % 2 === 0))),
        slice('big-b', 'big', [{ port: 8080 }], [...ips].reverse().map((ip) => ep(ip, true))),
      ],
      node,
    );
    const lb = state.services.get('shop/big:80/TCP')!;
    const want = ips.filter((_, i) => i < 30 || i % 2 === 0).sort((a, b) => ipv4ToInt(a) - ipv4ToInt(b));
    expect(lb.backends.map((b) => b.addr)).toEqual(want);
    expect(new Set(lb.backends.map((b) => b.addr)).size).toBe(45);
  });

  it('resolves named target ports through the slice ports, by name and protocol', () => {
    const s = svc('dns', {
      clusterIP: '198.19.0.53',
      ports: [
        { name: 'dns', port: 53, protocol: 'UDP', targetPort: 'dns' },
        { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 'dns-tcp' },
      ],
    });
    const state = stateOf(
      [s],
      [
        slice(
          'dns-x',
          'dns',
          [
            { name: 'dns', port: 5353, protocol: 'UDP' },
            { name: 'dns-tcp', port: 5354, protocol: 'TCP' },
          ],
          [ep('198.18.1.20')],
        ),
      ],
      node,
    );
    expect(state.services.get('shop/dns:dns/UDP')!.backends.map((b) => b.port)).toEqual([5353]);
    expect(state.services.get('shop/dns:dns-tcp/TCP')!.backends.map((b) => b.port)).toEqual([5354]);
  });

  it('serves only ready endpoints (a missing ready condition means ready)', () => {
    const s = svc('web', { clusterIP: '198.19.0.10', ports: [{ port: 80 }] });
    const state = stateOf(
      [s],
      [slice('w', 'web', [{ port: 80 }], [ep('198.18.1.10', true), ep('198.18.1.11', false), makeEndpoint('198.18.1.12', { conditions: {} })])],
      node,
    );
    expect(state.services.get('shop/web:80/TCP')!.backends.map((b) => b.addr)).toEqual(['198.18.1.10', '198.18.1.12']);
  });

  it('ignores slices of other services, other namespaces and non-IPv4 address types', () => {
    const s = svc('web', { clusterIP: '198.19.0.10', ports: [{ port: 80 }] });
    const other = slice('o', 'api', [{ port: 80 }], [ep('198.18.1.30')]);
    const otherNs = makeSlice('dev', 'n', 'web', { ports: [{ port: 80 }], endpoints: [ep('198.18.1.31')] });
    const v6 = makeSlice('shop', 'v6', 'web', { addressType: 'IPv6', ports: [{ port: 80 }], endpoints: [ep('fd00::1')] });
    const state = stateOf([s], [other, otherNs, v6], node);
    expect(state.services.get('shop/web:80/TCP')!.backends).toEqual([]);
  });

  it('skips headless, IP-less and ExternalName services', () => {
    const state = stateOf(
      [
        svc('headless', { clusterIP: 'None', ports: [{ port: 80 }] }),
        svc('noip', { ports: [{ port: 80 }] }),
        svc('ext', { type: 'ExternalName', externalName: 'example.invalid', ports: [{ port: 80 }] }),
      ],
      [],
      node,
    );
    expect(state.services.size).toBe(0);
  });

  it('adds NodePort frontends on every node IP, ExternalIPs and LoadBalancer ingress IPs', () => {
    const s = svc(
      'shop',
      { type: 'LoadBalancer', clusterIP: '198.19.0.40', externalIPs: ['198.19.1.1'], ports: [{ port: 443, nodePort: 30443 }] },
      { loadBalancer: { ingress: [{ ip: '198.19.255.1' }, { hostname: 'lb.example.invalid' }] } },
    );
    const fe = stateOf([s], [], node).services.get('shop/shop:443/TCP')!.frontends;
    expect(fe.map((f) => `${f.type} ${f.addr}:${f.port}`)).toEqual([
      'ClusterIP 198.19.0.40:443',
      'NodePort 198.18.0.1:30443',
      'NodePort 198.18.0.5:30443',
      'ExternalIP 198.19.1.1:443',
      'LoadBalancer 198.19.255.1:443',
    ]);
  });

  it('gives a ClusterIP service no NodePort or LB frontends even if fields are set', () => {
    const s = svc('c', { type: 'ClusterIP', clusterIP: '198.19.0.41', ports: [{ port: 80, nodePort: 30080 }] }, { loadBalancer: { ingress: [{ ip: '198.19.255.2' }] } });
    expect(stateOf([s], [], node).services.get('shop/c:80/TCP')!.frontends.map((f) => f.type)).toEqual(['ClusterIP']);
  });

  it('serves the same port number on TCP and UDP as separate services; SCTP is not served', () => {
    const s = svc('m', {
      clusterIP: '198.19.0.42',
      ports: [
        { name: 'a', port: 53, protocol: 'TCP' },
        { name: 'b', port: 53, protocol: 'UDP' },
        { name: 'c', port: 99, protocol: 'SCTP' },
      ],
    });
    expect([...stateOf([s], [], node).services.keys()]).toEqual(['shop/m:a/TCP', 'shop/m:b/UDP']);
  });

  it('uses only the IPv4 cluster IPs of a dual-stack service', () => {
    const s = svc('d', { clusterIP: 'fd00::10', clusterIPs: ['fd00::10', '198.19.0.43'], ports: [{ port: 80 }] });
    expect(stateOf([s], [], node).services.get('shop/d:80/TCP')!.frontends.map((f) => f.addr)).toEqual(['198.19.0.43']);
  });

  it('skips Services owned by another proxy or labelled headless, serves ours', () => {
    const labelled = (name: string, labels: Record<string, string>) =>
      makeService('shop', name, (s) => {
        s.metadata.labels = labels;
        Object.assign(s.spec, { clusterIP: '198.19.0.50', ports: [{ port: 80 }] });
      });
    const svcs = [
      labelled('other', { 'service.kubernetes.io/service-proxy-name': 'cilium' }),
      labelled('mine', { 'service.kubernetes.io/service-proxy-name': 'xlb' }),
      labelled('headless', { 'service.kubernetes.io/headless': '' }),
    ];
    expect([...stateOf(svcs, [], node).services.keys()]).toEqual([]);
    expect([...stateOf(svcs, [], { ...node, proxyName: 'xlb' }).services.keys()]).toEqual(['shop/mine:80/TCP']);
  });

  it('externalTrafficPolicy Local: external frontends get only this node\'s endpoints, ClusterIP all', () => {
    const s = svc('lb', { type: 'NodePort', clusterIP: '198.19.0.60', externalTrafficPolicy: 'Local', ports: [{ port: 80, nodePort: 30060 }] });
    const sl = slice('lb-a', 'lb', [{ port: 8080 }], [
      makeEndpoint('198.18.1.10', { nodeName: 'node-a' }),
      makeEndpoint('198.18.1.11', { nodeName: 'node-b' }),
    ]);
    const st = stateOf([s], [sl], node).services;
    expect(st.get('shop/lb:80/TCP')!.frontends.map((f) => f.type)).toEqual(['ClusterIP']);
    expect(st.get('shop/lb:80/TCP')!.backends.map((b) => b.addr)).toEqual(['198.18.1.10', '198.18.1.11']);
    expect(st.get('shop/lb:80/TCP/external')!.frontends.map((f) => f.type)).toEqual(['NodePort', 'NodePort']);
    expect(st.get('shop/lb:80/TCP/external')!.backends.map((b) => b.addr)).toEqual(['198.18.1.10']);
  });

  it('internalTrafficPolicy Local: ClusterIP gets only this node\'s endpoints', () => {
    const s = svc('itp', { clusterIP: '198.19.0.61', internalTrafficPolicy: 'Local', ports: [{ port: 80 }] });
    const sl = slice('itp-a', 'itp', [{ port: 80 }], [
      makeEndpoint('198.18.1.10', { nodeName: 'node-b' }),
      makeEndpoint('198.18.1.11', { nodeName: 'node-a' }),
    ]);
    const st = stateOf([s], [sl], node).services;
    expect([...st.keys()]).toEqual(['shop/itp:80/TCP']);
    expect(st.get('shop/itp:80/TCP')!.backends.map((b) => b.addr)).toEqual(['198.18.1.11']);
  });

  it('serves serving-terminating endpoints when no endpoint is ready', () => {
    const s = svc('t', { clusterIP: '198.19.0.62', ports: [{ port: 80 }] });
    const sl = slice('t-a', 't', [{ port: 80 }], [
      makeEndpoint('198.18.1.10', { conditions: { ready: false, serving: true, terminating: true } }),
      makeEndpoint('198.18.1.11', { conditions: { ready: false, serving: false, terminating: true } }),
    ]);
    expect(stateOf([s], [sl], node).services.get('shop/t:80/TCP')!.backends.map((b) => b.addr)).toEqual(['198.18.1.10']);
  });

  it('normalises loadBalancerSourceRanges and skips IPv6 ones', () => {
    const s = svc('r', { type: 'LoadBalancer', clusterIP: '198.19.0.63', loadBalancerSourceRanges: ['198.18.7.9/16', ' 203.0.113.0/24', 'fd00::/8'], ports: [{ port: 80 }] });
    expect(stateOf([s], [], node).services.get('shop/r:80/TCP')!.sourceRanges).toEqual(['198.18.0.0/16', '203.0.113.0/24']);
  });

  it('counts this node\'s ready endpoints for the healthCheckNodePort of an ETP=Local LoadBalancer', () => {
    const s = svc('hc', { type: 'LoadBalancer', clusterIP: '198.19.0.64', externalTrafficPolicy: 'Local', healthCheckNodePort: 32000, ports: [{ port: 80 }] });
    const sl = slice('hc-a', 'hc', [{ port: 80 }], [
      makeEndpoint('198.18.1.10', { nodeName: 'node-a' }),
      makeEndpoint('198.18.1.11', { nodeName: 'node-a', conditions: { ready: false } }),
      makeEndpoint('198.18.1.12', { nodeName: 'node-b' }),
    ]);
    expect(stateOf([s], [sl], node).healthChecks.get(32000)).toEqual({ namespace: 'shop', name: 'hc', localEndpoints: 1 });
    const cluster = svc('hc2', { type: 'LoadBalancer', clusterIP: '198.19.0.65', healthCheckNodePort: 32001, ports: [{ port: 80 }] });
    expect(stateOf([cluster], [], node).healthChecks.size).toBe(0);
  });

  it('publishNotReadyAddresses serves endpoints that are not ready', () => {
    const s = svc('p', { clusterIP: '198.19.0.66', publishNotReadyAddresses: true, ports: [{ port: 80 }] });
    const sl = slice('p-a', 'p', [{ port: 80 }], [makeEndpoint('198.18.1.10', { conditions: { ready: false, serving: false } })]);
    expect(stateOf([s], [sl], node).services.get('shop/p:80/TCP')!.backends.map((b) => b.addr)).toEqual(['198.18.1.10']);
  });
});

describe('DesiredStateBuilder', () => {
  const web = svc('web', { clusterIP: '198.19.0.10', ports: [{ port: 80 }] });
  const api = svc('api', { clusterIP: '198.19.0.11', ports: [{ port: 80 }] });
  const webSlice = slice('web-a', 'web', [{ port: 8080 }], [ep('198.18.1.10')]);
  const apiSlice = slice('api-a', 'api', [{ port: 8080 }], [ep('198.18.1.20')]);

  it('reuses what it built for objects that did not change, and rebuilds what did', () => {
    const model = new DesiredStateBuilder();
    const first = new Map(model.build([web, api], [webSlice, apiSlice], node).state.services);
    const apiSlice2 = slice('api-a', 'api', [{ port: 8080 }], [ep('198.18.1.21')]);
    const second = model.build([web, api], [webSlice, apiSlice2], node).state.services;
    expect(second.get('shop/web:80/TCP')).toBe(first.get('shop/web:80/TCP'));
    expect(second.get('shop/api:80/TCP')).not.toBe(first.get('shop/api:80/TCP'));
    expect(second.get('shop/api:80/TCP')!.backends.map((b) => b.addr)).toEqual(['198.18.1.21']);
    // Results equal a build from scratch.
    expect(second).toEqual(stateOf([web, api], [webSlice, apiSlice2], node).services);
  });

  it('rebuilds everything when the node context changes', () => {
    const model = new DesiredStateBuilder();
    const np = svc('np', { type: 'NodePort', clusterIP: '198.19.0.12', ports: [{ port: 80, nodePort: 30080 }] });
    const before = model.build([np], [], node).state.services.get('shop/np:80/TCP')!;
    const after = model.build([np], [], { ...node, ips: ['198.18.0.9'] }).state.services.get('shop/np:80/TCP')!;
    expect(after.frontends.map((f) => `${f.addr}:${f.port}`)).toEqual(['198.19.0.12:80', '198.18.0.9:30080']);
    expect(before.frontends).toHaveLength(3);
  });

  it('follows additions, deletions and reordering like a build from scratch', () => {
    const model = new DesiredStateBuilder();
    const svcs = Array.from({ length: 100 }, (_, i) => svc(`s${i}`, { clusterIP: `198.19.1.${i}`, ports: [{ port: 80 }] }));
    const slices = svcs.map((_, i) => slice(`s${i}-a`, `s${i}`, [{ port: 8080 }], [ep(`198.18.2.${i}`)]));
    model.build(svcs, slices, node);
    // Delete the first ten Services, move slices around, add a second slice to one.
    const nextSvcs = svcs.slice(10);
    const nextSlices = [...slices.slice(50), slice('s60-b', 's60', [{ port: 8080 }], [ep('198.18.3.60')]), ...slices.slice(0, 50).reverse()];
    const got = model.build(nextSvcs, nextSlices, node);
    const scratch = stateOf(nextSvcs, nextSlices, node);
    expect(got.state.services).toEqual(scratch.services);
    expect(got.state.healthChecks).toEqual(scratch.healthChecks);
    // And it says, as data, what changed: the deleted ten are removed, s60 (a new
    // slice) is upserted; nothing is both, and every upserted key is in the state.
    expect(got.delta.full).toBe(false);
    expect([...got.delta.removed].sort()).toEqual(svcs.slice(0, 10).map((_, i) => `shop/s${i}:80/TCP`).sort());
    expect(got.delta.upserted.has('shop/s60:80/TCP')).toBe(true);
    for (const k of got.delta.upserted) expect(got.state.services.has(k) && !got.delta.removed.has(k), k).toBe(true);
    expect(got.state.services.size).toBe(90);
    expect(got.state.services.get('shop/s60:80/TCP')!.backends.map((b) => b.addr)).toEqual(['198.18.2.60', '198.18.3.60']);
    // A build with nothing new says so.
    const same = model.build(nextSvcs, nextSlices, node).delta;
    expect([same.upserted.size, same.removed.size, same.full]).toEqual([0, 0, false]);
  });

  it('takes changes as data (upserts and names gone) to the state a build from scratch gives, touching only what changed', () => {
    const model = new DesiredStateBuilder();
    const svcs = Array.from({ length: 50 }, (_, i) => svc(`s${i}`, { clusterIP: `198.19.1.${i}`, ports: [{ port: 80 }] }));
    const slices = svcs.map((_, i) => slice(`s${i}-a`, `s${i}`, [{ port: 8080 }], [ep(`198.18.2.${i}`)]));
    model.build(svcs, slices, node);
    // s1's slice changes, s2 goes, s3's slice moves to s4 (relabelled), a new Service comes.
    const s1a = slice('s1-a', 's1', [{ port: 8080 }], [ep('198.18.3.1')]);
    const moved = slice('s3-a', 's4', [{ port: 8080 }], [ep('198.18.2.3')]);
    const s50 = svc('s50', { clusterIP: '198.19.1.50', ports: [{ port: 80 }] });
    const got = model.change({ upserted: [s50], deleted: ['shop/s2'] }, { upserted: [s1a, moved], deleted: ['shop/s2-a'] }, node);
    const nextSvcs = [...svcs.filter((_, i) => i !== 2), s50];
    const nextSlices = [...slices.filter((_, i) => i > 3), slices[0]!, s1a, moved];
    expect(got.state.services).toEqual(stateOf(nextSvcs, nextSlices, node).services);
    expect(got.delta.full).toBe(false);
    expect([...got.delta.upserted].sort()).toEqual(['shop/s1:80/TCP', 'shop/s3:80/TCP', 'shop/s4:80/TCP', 'shop/s50:80/TCP']);
    expect([...got.delta.removed]).toEqual(['shop/s2:80/TCP']);
    expect(got.state.services.get('shop/s4:80/TCP')!.backends.map((b) => b.addr)).toEqual(['198.18.2.3', '198.18.2.4']);
    expect(got.state.services.get('shop/s3:80/TCP')!.backends).toEqual([]);
    // A name gone that the model never had, and an object delivered again unchanged, change nothing.
    const none = model.change({ upserted: [s50], deleted: ['shop/unknown'] }, { upserted: [s1a], deleted: [] }, node).delta;
    expect([none.upserted.size, none.removed.size]).toEqual([0, 0]);
    // A later full build agrees with what the changes built.
    const full = model.build(nextSvcs, nextSlices, node).delta;
    expect([full.upserted.size, full.removed.size]).toEqual([0, 0]);
  });

  it('drops a Service whose slices vanished to nothing, and one that was deleted', () => {
    const model = new DesiredStateBuilder();
    model.build([web, api], [webSlice, apiSlice], node);
    const st = model.build([web], [], node).state.services;
    expect([...st.keys()]).toEqual(['shop/web:80/TCP']);
    expect(st.get('shop/web:80/TCP')!.backends).toEqual([]);
  });
});

describe('frontends claimed by more than one Service', () => {
  const dated = (name: string, created: string | Date | undefined, spec: Service['spec']): Service => {
    const s = makeService('shop', name, spec);
    // A string as manifests and the API give it; the model also takes a Date (client-node's typed objects).
    if (created !== undefined) Object.assign(s.metadata, { creationTimestamp: created });
    return s;
  };
  const withExternal = (name: string, clusterIP: string, created?: string | Date) =>
    dated(name, created, { clusterIP, externalIPs: ['198.19.9.9'], ports: [{ port: 80 }] });
  const addrs = (u: StateUpdate, key: string) => u.state.services.get(key)?.frontends.map((f) => `${f.type} ${f.addr}:${f.port}`);

  it('gives the frontend to the older Service only, and says so once, naming both and the frontend', () => {
    const model = new DesiredStateBuilder();
    const older = withExternal('old', '198.19.0.1', '2024-01-01T00:00:00Z');
    const newer = withExternal('new', '198.19.0.2', '2025-01-01T00:00:00Z');
    // The newer one first: the order objects arrive in decides nothing.
    const st = model.build([newer, older], [], node);
    expect(addrs(st, 'shop/old:80/TCP')).toEqual(['ClusterIP 198.19.0.1:80', 'ExternalIP 198.19.9.9:80']);
    expect(addrs(st, 'shop/new:80/TCP')).toEqual(['ClusterIP 198.19.0.2:80']);
    expect(st.notices).toEqual([
      {
        level: 'warn',
        fields: { frontend: '198.19.9.9:80/TCP', service: 'shop/new:80/TCP', owner: 'shop/old:80/TCP' },
        message: 'frontend 198.19.9.9:80/TCP is claimed by shop/old:80/TCP and shop/new:80/TCP: programmed for shop/old:80/TCP (the older Service) only',
      },
    ]);
    // A re-sync says nothing new; a change elsewhere neither.
    expect(model.build([newer, older], [], node).notices).toEqual([]);
    expect(model.build([newer, older, web()], [], node).notices).toEqual([]);
  });

  it('reads creationTimestamp as a string (manifests, watches) or a Date (client-node lists); ties go by namespace/name', () => {
    const a = withExternal('a', '198.19.0.1', new Date('2025-01-01T00:00:00Z'));
    const b = withExternal('b', '198.19.0.2', '2024-06-01T00:00:00Z');
    expect(addrs(buildDesiredState([a, b], [], node), 'shop/b:80/TCP')).toContain('ExternalIP 198.19.9.9:80');
    const tie = buildDesiredState([withExternal('z', '198.19.0.3'), withExternal('y', '198.19.0.4')], [], node);
    expect(addrs(tie, 'shop/y:80/TCP')).toContain('ExternalIP 198.19.9.9:80');
    expect(addrs(tie, 'shop/z:80/TCP')).toEqual(['ClusterIP 198.19.0.3:80']);
    expect(tie.notices![0]!.message).toContain('(first by namespace/name)');
  });

  it('incrementally: when the older Service goes, the newer one gets the frontend at the next build', () => {
    const model = new DesiredStateBuilder();
    const older = withExternal('old', '198.19.0.1', '2024-01-01T00:00:00Z');
    const newer = withExternal('new', '198.19.0.2', '2025-01-01T00:00:00Z');
    model.build([older, newer], [], node);
    const st = model.build([newer], [], node);
    expect(addrs(st, 'shop/new:80/TCP')).toEqual(['ClusterIP 198.19.0.2:80', 'ExternalIP 198.19.9.9:80']);
    expect([...st.delta.upserted]).toEqual(['shop/new:80/TCP']);
    expect([...st.delta.removed]).toEqual(['shop/old:80/TCP']);
    expect(st.notices).toEqual([
      expect.objectContaining({ level: 'info', message: 'frontend 198.19.9.9:80/TCP is no longer claimed by both shop/old:80/TCP and shop/new:80/TCP' }),
    ]);
    // And back: the older one returns and takes it again.
    const again = model.build([older, newer], [], node);
    expect(addrs(again, 'shop/new:80/TCP')).toEqual(['ClusterIP 198.19.0.2:80']);
    expect(again.state.services).toEqual(buildDesiredState([older, newer], [], node).state.services);
  });

  it('incrementally: a Service that stops claiming the frontend hands it over; unaffected ones keep their identity', () => {
    const model = new DesiredStateBuilder();
    const older = withExternal('old', '198.19.0.1', '2024-01-01T00:00:00Z');
    const newer = withExternal('new', '198.19.0.2', '2025-01-01T00:00:00Z');
    const bystander = web();
    const first = model.build([older, newer, bystander], [], node);
    const webLb = first.state.services.get('shop/web:80/TCP');
    const olderFixed = dated('old', '2024-01-01T00:00:00Z', { clusterIP: '198.19.0.1', ports: [{ port: 80 }] });
    const st = model.build([olderFixed, newer, bystander], [], node);
    expect(addrs(st, 'shop/new:80/TCP')).toEqual(['ClusterIP 198.19.0.2:80', 'ExternalIP 198.19.9.9:80']);
    expect(st.state.services.get('shop/web:80/TCP')).toBe(webLb);
    expect(st.delta.upserted.has('shop/web:80/TCP')).toBe(false);
    expect(st.state.services).toEqual(buildDesiredState([olderFixed, newer, bystander], [], node).state.services);
  });

  it('a Service left with no frontend at all (a duplicate clusterIP from manifests) is not in the state', () => {
    const st = buildDesiredState(
      [dated('first', '2024-01-01T00:00:00Z', { clusterIP: '198.19.0.1', ports: [{ port: 80 }] }), dated('copy', '2025-01-01T00:00:00Z', { clusterIP: '198.19.0.1', ports: [{ port: 80 }] })],
      [],
      node,
    );
    expect([...st.state.services.keys()]).toEqual(['shop/first:80/TCP']);
    expect(st.notices!.map((n) => n.fields)).toEqual([{ frontend: '198.19.0.1:80/TCP', service: 'shop/copy:80/TCP', owner: 'shop/first:80/TCP' }]);
  });

  it('two Services with one NodePort: the older one keeps it on every node IP', () => {
    const np = (name: string, ip: string, created: string) => dated(name, created, { type: 'NodePort', clusterIP: ip, ports: [{ port: 80, nodePort: 30080 }] });
    const st = buildDesiredState([np('b', '198.19.0.2', '2024-01-01T00:00:00Z'), np('a', '198.19.0.1', '2025-01-01T00:00:00Z')], [], node);
    expect(addrs(st, 'shop/b:80/TCP')).toEqual(['ClusterIP 198.19.0.2:80', 'NodePort 198.18.0.1:30080', 'NodePort 198.18.0.5:30080']);
    expect(addrs(st, 'shop/a:80/TCP')).toEqual(['ClusterIP 198.19.0.1:80']);
    expect(st.notices).toHaveLength(2);
  });

  it('within one Service: a repeat is dropped quietly, and its internal port keeps an address its external one repeats', () => {
    const repeat = dated('r', undefined, { clusterIP: '198.19.0.1', externalIPs: ['198.19.9.9', '198.19.9.9'], ports: [{ port: 80 }] });
    const st = buildDesiredState([repeat], [], node);
    expect(addrs(st, 'shop/r:80/TCP')).toEqual(['ClusterIP 198.19.0.1:80', 'ExternalIP 198.19.9.9:80']);
    expect(st.notices).toEqual([]);
    // externalTrafficPolicy Local splits the port in two; the external one repeats the cluster IP.
    const local = dated('l', undefined, { clusterIP: '198.19.0.2', externalIPs: ['198.19.0.2', '198.19.9.8'], externalTrafficPolicy: 'Local', ports: [{ port: 80 }] });
    const sl = slice('l-a', 'l', [{ port: 80 }], [makeEndpoint('198.18.1.10', { nodeName: 'node-b' })]);
    const split = buildDesiredState([local], [sl], node);
    expect(addrs(split, 'shop/l:80/TCP')).toEqual(['ClusterIP 198.19.0.2:80']);
    expect(addrs(split, 'shop/l:80/TCP/external')).toEqual(['ExternalIP 198.19.9.8:80']);
    expect(split.notices!.map((n) => n.fields)).toEqual([{ frontend: '198.19.0.2:80/TCP', service: 'shop/l:80/TCP/external', owner: 'shop/l:80/TCP' }]);
    expect(split.notices![0]!.message).toContain("(the Service's earlier port)");
  });

  it('a node change rebuilds everything but reports no conflict again', () => {
    const model = new DesiredStateBuilder();
    const svcs = [withExternal('old', '198.19.0.1', '2024-01-01T00:00:00Z'), withExternal('new', '198.19.0.2', '2025-01-01T00:00:00Z')];
    expect(model.build(svcs, [], node).notices).toHaveLength(1);
    expect(model.build(svcs, [], { ...node, ips: ['198.18.0.9'] }).notices).toEqual([]);
  });

  function web(): Service {
    return svc('web', { clusterIP: '198.19.0.10', ports: [{ port: 80 }] });
  }
});

describe('inputs the model serves partly or not at all', () => {
  it('an IPv6 single-stack Service is not served, not even its NodePort on IPv4 node addresses (as kube-proxy\'s IPv4 proxier)', () => {
    const v6 = svc('v6', { type: 'NodePort', clusterIP: 'fd00::10', clusterIPs: ['fd00::10'], ports: [{ port: 80, nodePort: 30080 }] });
    expect(stateOf([v6], [], node).services.size).toBe(0);
  });

  it('a Service with 300 ports gives 300 service ports, each with its endpoints', () => {
    const ports = Array.from({ length: 300 }, (_, i) => ({ name: `p${i}`, port: 1000 + i, targetPort: 2000 + i }));
    const s = svc('many', { clusterIP: '198.19.0.77', ports });
    const sl = slice('many-a', 'many', ports.map((p) => ({ name: p.name, port: p.targetPort })), [ep('198.18.1.10')]);
    const st = stateOf([s], [sl], node);
    expect(st.services.size).toBe(300);
    expect(st.services.get('shop/many:p299/TCP')!.frontends[0]!.port).toBe(1299);
    expect(st.services.get('shop/many:p299/TCP')!.backends.map((b) => b.port)).toEqual([2299]);
  });
});
