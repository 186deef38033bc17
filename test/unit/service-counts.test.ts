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
});
