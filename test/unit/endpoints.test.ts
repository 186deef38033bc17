// Table-driven endpoint categorisation, mirroring kube-proxy's CategorizeEndpoints cases.
import { describe, expect, it } from 'vitest';
import { categorizeEndpoints, type EndpointInfo, type PolicyInputs } from '../../src/model/endpoints.js';
import { backendNumber } from '../../src/model/state.js';

const node = { name: 'node-a', zone: 'zone-a' };

function ep(addr: string, o: Partial<EndpointInfo> = {}): EndpointInfo {
  return { addr, port: 80, number: backendNumber({ addr, port: 80 }), nodeName: 'node-b', ready: true, serving: true, terminating: false, ...o };
}
const terminating = { ready: false, serving: true, terminating: true };
const dead = { ready: false, serving: false, terminating: true };

const cluster: PolicyInputs = { internalLocal: false, externalLocal: false, external: true, topologyRequested: false };

interface Case {
  name: string;
  policy?: Partial<PolicyInputs>;
  eps: EndpointInfo[];
  node?: { name: string; zone?: string };
  cluster: string[];
  local: string[];
  hasAny: boolean;
}

const cases: Case[] = [
  { name: 'no endpoints', eps: [], cluster: [], local: [], hasAny: false },
  {
    name: 'ready endpoints only, not-ready ones skipped',
    eps: [ep('10.0.0.1'), ep('10.0.0.2', { ready: false, serving: false })],
    cluster: ['10.0.0.1'],
    local: [],
    hasAny: true,
  },
  {
    name: 'serving-terminating endpoints when none is ready (KEP-1669)',
    eps: [ep('10.0.0.1', terminating), ep('10.0.0.2', dead)],
    cluster: ['10.0.0.1'],
    local: [],
    hasAny: true,
  },
  {
    name: 'terminating endpoints ignored while a ready one exists',
    eps: [ep('10.0.0.1', terminating), ep('10.0.0.2')],
    cluster: ['10.0.0.2'],
    local: [],
    hasAny: true,
  },
  {
    name: 'externalTrafficPolicy Local: local ready endpoints',
    policy: { externalLocal: true },
    eps: [ep('10.0.0.1', { nodeName: 'node-a' }), ep('10.0.0.2')],
    cluster: ['10.0.0.1', '10.0.0.2'],
    local: ['10.0.0.1'],
    hasAny: true,
  },
  {
    name: 'externalTrafficPolicy Local, no local endpoint: none local, but hasAny',
    policy: { externalLocal: true },
    eps: [ep('10.0.0.2')],
    cluster: ['10.0.0.2'],
    local: [],
    hasAny: true,
  },
  {
    name: 'Local policy falls back to local serving-terminating endpoints',
    policy: { externalLocal: true },
    eps: [ep('10.0.0.1', { nodeName: 'node-a', ...terminating }), ep('10.0.0.2')],
    cluster: ['10.0.0.2'],
    local: ['10.0.0.1'],
    hasAny: true,
  },
  {
    name: 'internalTrafficPolicy Local without external traffic: no cluster endpoints needed',
    policy: { internalLocal: true, external: false },
    eps: [ep('10.0.0.1', { nodeName: 'node-a' }), ep('10.0.0.2')],
    cluster: [],
    local: ['10.0.0.1'],
    hasAny: true,
  },
  {
    name: 'topology hints: only endpoints hinted for this zone',
    policy: { topologyRequested: true },
    eps: [ep('10.0.0.1', { zoneHints: ['zone-a'] }), ep('10.0.0.2', { zoneHints: ['zone-b'] })],
    cluster: ['10.0.0.1'],
    local: [],
    hasAny: true,
  },
  {
    name: 'topology hints ignored when one ready endpoint has none',
    policy: { topologyRequested: true },
    eps: [ep('10.0.0.1', { zoneHints: ['zone-a'] }), ep('10.0.0.2')],
    cluster: ['10.0.0.1', '10.0.0.2'],
    local: [],
    hasAny: true,
  },
  {
    name: 'topology hints ignored when no endpoint is hinted for this zone',
    policy: { topologyRequested: true },
    eps: [ep('10.0.0.1', { zoneHints: ['zone-b'] }), ep('10.0.0.2', { zoneHints: ['zone-c'] })],
    cluster: ['10.0.0.1', '10.0.0.2'],
    local: [],
    hasAny: true,
  },
  {
    name: 'topology hints ignored when the node has no zone',
    policy: { topologyRequested: true },
    node: { name: 'node-a' },
    eps: [ep('10.0.0.1', { zoneHints: ['zone-a'] }), ep('10.0.0.2', { zoneHints: ['zone-b'] })],
    cluster: ['10.0.0.1', '10.0.0.2'],
    local: [],
    hasAny: true,
  },
  {
    name: 'topology hints only when requested',
    eps: [ep('10.0.0.1', { zoneHints: ['zone-a'] }), ep('10.0.0.2', { zoneHints: ['zone-b'] })],
    cluster: ['10.0.0.1', '10.0.0.2'],
    local: [],
    hasAny: true,
  },
];

describe('categorizeEndpoints', () => {
  it.each(cases)('$name', (c) => {
    const r = categorizeEndpoints(c.eps, { ...cluster, ...c.policy }, c.node ?? node);
    expect(r.cluster.map((e) => e.addr)).toEqual(c.cluster);
    expect(r.local.map((e) => e.addr)).toEqual(c.local);
    expect(r.hasAny).toBe(c.hasAny);
  });
});
