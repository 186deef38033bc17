// ApplyStats of the rule-based datapaths: counted from the services an apply rewrote.
import { describe, expect, it } from 'vitest';
import { ServiceCounts } from '../../src/dataplane/service-counts.js';
import type { LbService } from '../../src/model/state.js';

const svc = (name: string, backends: string[], frontends = [`198.19.0.${name.length}`]): LbService => ({
  key: `ns/${name}:http/TCP`,
  namespace: 'ns',
  name,
  portName: 'http',
  protocol: 'TCP',
  frontends: frontends.map((addr) => ({ addr, port: 80, protocol: 'TCP', type: 'ClusterIP' })),
  backends: backends.map((addr) => ({ addr, port: 8080, weight: 1 })),
  noEndpoints: 'reject',
  affinitySeconds: 0,
  externalPolicyLocal: false,
  internalPolicyLocal: false,
  terminatingFallback: false,
  sourceRanges: [],
});

describe('ServiceCounts', () => {
  it('counts a backend once however many services use it, and only what an endpoint change changed', () => {
    const c = new ServiceCounts();
    expect(c.count([svc('a', ['10.0.0.1', '10.0.0.2']), svc('bb', ['10.0.0.2'])], [])).toMatchObject({ servicesWritten: 2, frontendsWritten: 2, backendsAdded: 2, backendsRemoved: 0 });
    // a: 10.0.0.2 -> 10.0.0.3; 10.0.0.1 stays, 10.0.0.2 is still used by bb.
    expect(c.count([svc('a', ['10.0.0.1', '10.0.0.3'])], [svc('a', ['10.0.0.1', '10.0.0.2'])])).toMatchObject({ servicesWritten: 1, servicesRemoved: 0, backendsAdded: 1, backendsRemoved: 0 });
    expect(c.count([], [svc('bb', ['10.0.0.2'])])).toMatchObject({ servicesWritten: 0, servicesRemoved: 1, frontendsRemoved: 1, backendsAdded: 0, backendsRemoved: 1 });
  });

  it('says what the rules hold through rewrites, removals and a reset: service ports, frontends, distinct address:port/protocol backends', () => {
    const c = new ServiceCounts();
    const udp = (name: string, backends: string[]): LbService => ({ ...svc(name, backends), key: `ns/${name}:dns/UDP`, protocol: 'UDP' });
    c.count([svc('a', ['10.0.0.1', '10.0.0.2']), svc('bb', ['10.0.0.2', '10.0.0.3']), udp('ccc', ['10.0.0.1'])], []);
    // 10.0.0.1:8080 over TCP and over UDP are two backends.
    expect(c.size()).toEqual({ services: 3, frontends: 3, backends: 4 });
    // a rewritten with a second frontend and one backend fewer.
    c.count([svc('a', ['10.0.0.1'], ['198.19.0.1', '198.19.0.2'])], [svc('a', ['10.0.0.1', '10.0.0.2'])]);
    expect(c.size()).toEqual({ services: 3, frontends: 4, backends: 4 });
    c.count([], [svc('bb', ['10.0.0.2', '10.0.0.3'])]);
    expect(c.size()).toEqual({ services: 2, frontends: 3, backends: 2 });
    c.reset();
    expect(c.size()).toEqual({ services: 0, frontends: 0, backends: 0 });
  });
});
