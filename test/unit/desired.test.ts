import { describe, expect, it } from 'vitest';
import { buildDesiredState, DesiredStateBuilder } from '../../src/model/desired.js';
import type { EndpointSlice, Service } from '../../src/model/k8s.js';

const node = { name: 'node-a', ips: ['198.18.0.1', '198.18.0.5'] };

function svc(name: string, spec: Service['spec'], status?: Service['status']): Service {
  return { kind: 'Service', metadata: { name, namespace: 'shop' }, spec, status };
}

function slice(name: string, svcName: string, ports: EndpointSlice['ports'], endpoints: EndpointSlice['endpoints']): EndpointSlice {
  return {
    kind: 'EndpointSlice',
    metadata: { name, namespace: 'shop', labels: { 'kubernetes.io/service-name': svcName } },
    addressType: 'IPv4',
    ports,
    endpoints,
  };
}

const ep = (ip: string, ready?: boolean) => ({ addresses: [ip], conditions: ready === undefined ? {} : { ready } });

describe('buildDesiredState', () => {
  it('merges endpoints of several slices and deduplicates them', () => {
    const s = svc('web', { clusterIP: '198.19.0.10', ports: [{ port: 80, targetPort: 8080 }] });
    const state = buildDesiredState(
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

  it('resolves named target ports through the slice ports, by name and protocol', () => {
    const s = svc('dns', {
      clusterIP: '198.19.0.53',
      ports: [
        { name: 'dns', port: 53, protocol: 'UDP', targetPort: 'dns' },
        { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 'dns-tcp' },
      ],
    });
    const state = buildDesiredState(
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
    const state = buildDesiredState(
      [s],
      [slice('w', 'web', [{ port: 80 }], [ep('198.18.1.10', true), ep('198.18.1.11', false), ep('198.18.1.12')])],
      node,
    );
    expect(state.services.get('shop/web:80/TCP')!.backends.map((b) => b.addr)).toEqual(['198.18.1.10', '198.18.1.12']);
  });

  it('ignores slices of other services, other namespaces and non-IPv4 address types', () => {
    const s = svc('web', { clusterIP: '198.19.0.10', ports: [{ port: 80 }] });
    const other = slice('o', 'api', [{ port: 80 }], [ep('198.18.1.30')]);
    const otherNs = { ...slice('n', 'web', [{ port: 80 }], [ep('198.18.1.31')]), metadata: { name: 'n', namespace: 'dev', labels: { 'kubernetes.io/service-name': 'web' } } };
    const v6: EndpointSlice = { ...slice('v6', 'web', [{ port: 80 }], [{ addresses: ['fd00::1'] }]), addressType: 'IPv6' };
    const state = buildDesiredState([s], [other, otherNs, v6], node);
    expect(state.services.get('shop/web:80/TCP')!.backends).toEqual([]);
  });

  it('skips headless, IP-less and ExternalName services', () => {
    const state = buildDesiredState(
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
    const fe = buildDesiredState([s], [], node).services.get('shop/shop:443/TCP')!.frontends;
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
    expect(buildDesiredState([s], [], node).services.get('shop/c:80/TCP')!.frontends.map((f) => f.type)).toEqual(['ClusterIP']);
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
    expect([...buildDesiredState([s], [], node).services.keys()]).toEqual(['shop/m:a/TCP', 'shop/m:b/UDP']);
  });

  it('uses only the IPv4 cluster IPs of a dual-stack service', () => {
    const s = svc('d', { clusterIP: 'fd00::10', clusterIPs: ['fd00::10', '198.19.0.43'], ports: [{ port: 80 }] });
    expect(buildDesiredState([s], [], node).services.get('shop/d:80/TCP')!.frontends.map((f) => f.addr)).toEqual(['198.19.0.43']);
  });

  it('skips Services owned by another proxy or labelled headless, serves ours', () => {
    const labelled = (name: string, labels: Record<string, string>): Service => ({
      metadata: { name, namespace: 'shop', labels },
      spec: { clusterIP: '198.19.0.50', ports: [{ port: 80 }] },
    });
    const svcs = [
      labelled('other', { 'service.kubernetes.io/service-proxy-name': 'cilium' }),
      labelled('mine', { 'service.kubernetes.io/service-proxy-name': 'xlb' }),
      labelled('headless', { 'service.kubernetes.io/headless': '' }),
    ];
    expect([...buildDesiredState(svcs, [], node).services.keys()]).toEqual([]);
    expect([...buildDesiredState(svcs, [], { ...node, proxyName: 'xlb' }).services.keys()]).toEqual(['shop/mine:80/TCP']);
  });

  it('externalTrafficPolicy Local: external frontends get only this node\'s endpoints, ClusterIP all', () => {
    const s = svc('lb', { type: 'NodePort', clusterIP: '198.19.0.60', externalTrafficPolicy: 'Local', ports: [{ port: 80, nodePort: 30060 }] });
    const sl = slice('lb-a', 'lb', [{ port: 8080 }], [
      { addresses: ['198.18.1.10'], nodeName: 'node-a' },
      { addresses: ['198.18.1.11'], nodeName: 'node-b' },
    ]);
    const st = buildDesiredState([s], [sl], node).services;
    expect(st.get('shop/lb:80/TCP')!.frontends.map((f) => f.type)).toEqual(['ClusterIP']);
    expect(st.get('shop/lb:80/TCP')!.backends.map((b) => b.addr)).toEqual(['198.18.1.10', '198.18.1.11']);
    expect(st.get('shop/lb:80/TCP/external')!.frontends.map((f) => f.type)).toEqual(['NodePort', 'NodePort']);
    expect(st.get('shop/lb:80/TCP/external')!.backends.map((b) => b.addr)).toEqual(['198.18.1.10']);
  });

  it('internalTrafficPolicy Local: ClusterIP gets only this node\'s endpoints', () => {
    const s = svc('itp', { clusterIP: '198.19.0.61', internalTrafficPolicy: 'Local', ports: [{ port: 80 }] });
    const sl = slice('itp-a', 'itp', [{ port: 80 }], [
      { addresses: ['198.18.1.10'], nodeName: 'node-b' },
      { addresses: ['198.18.1.11'], nodeName: 'node-a' },
    ]);
    const st = buildDesiredState([s], [sl], node).services;
    expect([...st.keys()]).toEqual(['shop/itp:80/TCP']);
    expect(st.get('shop/itp:80/TCP')!.backends.map((b) => b.addr)).toEqual(['198.18.1.11']);
  });

  it('serves serving-terminating endpoints when no endpoint is ready', () => {
    const s = svc('t', { clusterIP: '198.19.0.62', ports: [{ port: 80 }] });
    const sl = slice('t-a', 't', [{ port: 80 }], [
      { addresses: ['198.18.1.10'], conditions: { ready: false, serving: true, terminating: true } },
      { addresses: ['198.18.1.11'], conditions: { ready: false, serving: false, terminating: true } },
    ]);
    expect(buildDesiredState([s], [sl], node).services.get('shop/t:80/TCP')!.backends.map((b) => b.addr)).toEqual(['198.18.1.10']);
  });

  it('normalises loadBalancerSourceRanges and skips IPv6 ones', () => {
    const s = svc('r', { type: 'LoadBalancer', clusterIP: '198.19.0.63', loadBalancerSourceRanges: ['198.18.7.9/16', ' 203.0.113.0/24', 'fd00::/8'], ports: [{ port: 80 }] });
    expect(buildDesiredState([s], [], node).services.get('shop/r:80/TCP')!.sourceRanges).toEqual(['198.18.0.0/16', '203.0.113.0/24']);
  });

  it('counts this node\'s ready endpoints for the healthCheckNodePort of an ETP=Local LoadBalancer', () => {
    const s = svc('hc', { type: 'LoadBalancer', clusterIP: '198.19.0.64', externalTrafficPolicy: 'Local', healthCheckNodePort: 32000, ports: [{ port: 80 }] });
    const sl = slice('hc-a', 'hc', [{ port: 80 }], [
      { addresses: ['198.18.1.10'], nodeName: 'node-a' },
      { addresses: ['198.18.1.11'], nodeName: 'node-a', conditions: { ready: false } },
      { addresses: ['198.18.1.12'], nodeName: 'node-b' },
    ]);
    expect(buildDesiredState([s], [sl], node).healthChecks.get(32000)).toEqual({ namespace: 'shop', name: 'hc', localEndpoints: 1 });
    const cluster = svc('hc2', { type: 'LoadBalancer', clusterIP: '198.19.0.65', healthCheckNodePort: 32001, ports: [{ port: 80 }] });
    expect(buildDesiredState([cluster], [], node).healthChecks.size).toBe(0);
  });

  it('publishNotReadyAddresses serves endpoints that are not ready', () => {
    const s = svc('p', { clusterIP: '198.19.0.66', publishNotReadyAddresses: true, ports: [{ port: 80 }] });
    const sl = slice('p-a', 'p', [{ port: 80 }], [{ addresses: ['198.18.1.10'], conditions: { ready: false, serving: false } }]);
    expect(buildDesiredState([s], [sl], node).services.get('shop/p:80/TCP')!.backends.map((b) => b.addr)).toEqual(['198.18.1.10']);
  });
});

describe('DesiredStateBuilder', () => {
  const web = svc('web', { clusterIP: '198.19.0.10', ports: [{ port: 80 }] });
  const api = svc('api', { clusterIP: '198.19.0.11', ports: [{ port: 80 }] });
  const webSlice = slice('web-a', 'web', [{ port: 8080 }], [ep('198.18.1.10')]);
  const apiSlice = slice('api-a', 'api', [{ port: 8080 }], [ep('198.18.1.20')]);

  it('reuses what it built for objects that did not change, and rebuilds what did', () => {
    const model = new DesiredStateBuilder();
    const first = new Map(model.build([web, api], [webSlice, apiSlice], node).services);
    const apiSlice2 = slice('api-a', 'api', [{ port: 8080 }], [ep('198.18.1.21')]);
    const second = model.build([web, api], [webSlice, apiSlice2], node).services;
    expect(second.get('shop/web:80/TCP')).toBe(first.get('shop/web:80/TCP'));
    expect(second.get('shop/api:80/TCP')).not.toBe(first.get('shop/api:80/TCP'));
    expect(second.get('shop/api:80/TCP')!.backends.map((b) => b.addr)).toEqual(['198.18.1.21']);
    // Results equal a build from scratch.
    expect(second).toEqual(buildDesiredState([web, api], [webSlice, apiSlice2], node).services);
  });

  it('rebuilds everything when the node context changes', () => {
    const model = new DesiredStateBuilder();
    const np = svc('np', { type: 'NodePort', clusterIP: '198.19.0.12', ports: [{ port: 80, nodePort: 30080 }] });
    const before = model.build([np], [], node).services.get('shop/np:80/TCP')!;
    const after = model.build([np], [], { ...node, ips: ['198.18.0.9'] }).services.get('shop/np:80/TCP')!;
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
    const scratch = buildDesiredState(nextSvcs, nextSlices, node);
    expect(got.services).toEqual(scratch.services);
    expect(got.healthChecks).toEqual(scratch.healthChecks);
    // And it says which services changed: the deleted ten, s60 (a new slice) and the
    // fifty whose slices moved (their slice objects were re-added, not changed).
    expect([...got.changed!].sort()).toContain('shop/s0:80/TCP');
    expect(got.changed!.has('shop/s60:80/TCP')).toBe(true);
    expect(got.services.size).toBe(90);
    expect(got.services.get('shop/s60:80/TCP')!.backends.map((b) => b.addr)).toEqual(['198.18.2.60', '198.18.3.60']);
  });

  it('drops a Service whose slices vanished to nothing, and one that was deleted', () => {
    const model = new DesiredStateBuilder();
    model.build([web, api], [webSlice, apiSlice], node);
    const st = model.build([web], [], node).services;
    expect([...st.keys()]).toEqual(['shop/web:80/TCP']);
    expect(st.get('shop/web:80/TCP')!.backends).toEqual([]);
  });
});
