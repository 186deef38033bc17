// What operators see of the datapath: the counters it keeps (per service, per drop
// reason) and lbctl explain, whose answer must be the decision tc really makes.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { native } from '../../src/dataplane/bpf/native.js';
import { loadPrograms, type LoadedPrograms } from '../../src/dataplane/bpf/programs.js';
import { BpfReconciler } from '../../src/dataplane/bpf/reconciler.js';
import { bpfMaglevTables } from '../../src/dataplane/bpf/maglev-pool.js';
import { BpfDataplane, flowTables, mapFill } from '../../src/dataplane/bpf/dataplane.js';
import { explain } from '../../src/dataplane/bpf/explain.js';
import { buildDesiredState } from '../../src/model/desired.js';
import { buildPacket, parsePacket, TCP_FLAGS, type PacketSpec } from '../helpers/packets.js';
import { makeEndpoint, makeService, makeSlice, withIngress } from '../fixtures/k8s.js';
import { clearTraffic, testBpffs } from '../helpers/bpffs.js';
import { TC } from '../helpers/verdicts.js';

const NS = 'default';
const CLIENT = '198.18.0.2';
const NODE_IP = '198.18.0.1';
const WEB = '198.19.0.10';
const EMPTY = '198.19.0.11';
const STICKY = '198.19.0.12';
const LOCAL = '198.19.0.13';
const DRAINING = '198.19.0.14';
const GUARDED = '198.19.0.15';
const GUARDED_LB = '198.19.255.15';
const PODS = ['198.18.1.10', '198.18.1.11', '198.18.1.12'];

let pins: ReturnType<typeof testBpffs>;
let progs: LoadedPrograms;
let rec: BpfReconciler;
let dp: BpfDataplane;

const http = [{ name: 'http', port: 80, protocol: 'TCP' as const }];
const podPorts = [{ name: 'http', port: 8080 }];
/** A slice of `svc` with an endpoint per address, on `nodeName`. */
const endpoints = (svc: string, ips: string[], nodeName = 'node-a') =>
  makeSlice(NS, `${svc}-a`, svc, { ports: podPorts, endpoints: ips.map((ip) => makeEndpoint(ip, { nodeName })) });

/** The state every test reads: it changes none of it. */
function program(): void {
  const state = buildDesiredState(
    [
      makeService(NS, 'web', { type: 'NodePort', clusterIP: WEB, ports: [{ ...http[0]!, nodePort: 30080 }] }),
      makeService(NS, 'empty', { clusterIP: EMPTY, ports: http }),
      makeService(NS, 'sticky', { clusterIP: STICKY, ports: http, sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } }),
      makeService(NS, 'local', { type: 'NodePort', clusterIP: LOCAL, externalTrafficPolicy: 'Local', ports: [{ ...http[0]!, nodePort: 30013 }] }),
      makeService(NS, 'draining', { clusterIP: DRAINING, ports: http }),
      withIngress(
        makeService(NS, 'guarded', { type: 'LoadBalancer', clusterIP: GUARDED, loadBalancerSourceRanges: ['203.0.113.0/24'], ports: [{ ...http[0]!, nodePort: 30015 }] }),
        GUARDED_LB,
      ),
    ],
    [
      endpoints('web', PODS),
      endpoints('sticky', PODS),
      // Its only endpoint runs on node-b: this node (node-a) has none for external traffic.
      endpoints('local', [PODS[0]!], 'node-b'),
      makeSlice(NS, 'draining-a', 'draining', {
        ports: podPorts,
        endpoints: [makeEndpoint(PODS[0]!, { nodeName: 'node-a', conditions: { ready: false, serving: true, terminating: true } })],
      }),
      endpoints('guarded', PODS),
    ],
    { name: 'node-a', ips: [NODE_IP] },
  );
  rec.apply(state);
}

const tcIngress = (spec: Partial<PacketSpec>) => native().progTestRun(progs.tcIngressFd, packet(spec), 1);
const packet = (spec: Partial<PacketSpec>) => buildPacket({ proto: 'TCP', saddr: CLIENT, daddr: WEB, sport: 41000, dport: 80, flags: TCP_FLAGS.SYN, ...spec });
const flowsIn = () => progs.maps.ct.entries().length;

beforeAll(async () => {
  pins = testBpffs('observe');
  progs = await loadPrograms(pins.dir);
  rec = new BpfReconciler(progs.maps, bpfMaglevTables(progs.maps.maglev));
  dp = new BpfDataplane(rec, progs.maps, -1, '/nonexistent', flowTables(progs.maps), pino({ level: 'silent' }));
});
afterAll(() => {
  dp?.close();
  pins?.remove();
});
// Each test's setup: the services programmed, no flow nor affinity left by another.
beforeEach(() => {
  program();
  clearTraffic(progs.maps);
});

describe('datapath counters', () => {
  it('counts the packets and bytes tc sends to a service, by service name', () => {
    const before = dp.facts().services.find((s) => s.service === `${NS}/web:http/TCP`);
    const pkt = packet({ sport: 42001 });
    for (let i = 0; i < 3; i++) expect(native().progTestRun(progs.tcIngressFd, pkt, 1).retval).toBe(TC.OK);
    const after = dp.facts().services.find((s) => s.service === `${NS}/web:http/TCP`)!;
    expect(after.packets - (before?.packets ?? 0)).toBe(3);
    expect(after.bytes - (before?.bytes ?? 0)).toBe(3 * pkt.length);
  });

  it('counts refusals by reason: no endpoints, Local policy, source ranges', () => {
    const drops = () => dp.facts().drops;
    const before = drops();
    tcIngress({ daddr: EMPTY });
    tcIngress({ daddr: NODE_IP, dport: 30013 });
    tcIngress({ daddr: GUARDED_LB });
    tcIngress({ daddr: GUARDED_LB });
    const after = drops();
    const delta = (r: string) => (after[r] ?? 0) - (before[r] ?? 0);
    expect({ no_endpoints: delta('no_endpoints'), policy: delta('policy'), source_range: delta('source_range') }).toEqual({ no_endpoints: 1, policy: 1, source_range: 2 });
  });

  it('reports the maps\' fill against their capacity', () => {
    tcIngress({ sport: 42002 });
    const ct = mapFill(progs.maps).find((m) => m.map === 'xlb_ct')!;
    expect(ct.entries).toBe(1);
    expect(ct.capacity).toBe(native().mapInfo(progs.maps.ct.fd).maxEntries);
    expect(dp.facts().maps.map((m) => m.map)).toEqual(expect.arrayContaining(['xlb_services', 'xlb_backends', 'xlb_ct', 'xlb_nat', 'xlb_affinity', 'xlb_sockets']));
  });
});

describe('lbctl explain', () => {
  /** The backend tc really picks for this packet. */
  const tcPick = (spec: Partial<PacketSpec>) => {
    const r = tcIngress(spec);
    expect(r.retval).toBe(TC.OK);
    const p = parsePacket(r.data);
    return `${p.daddr}:${p.dport}`;
  };

  it('names the backend tc picks for new flows, by Maglev slot, for many clients, and writes nothing', () => {
    for (let port = 43000; port < 43040; port++) {
      const flows = flowsIn();
      const e = explain(pins.dir, { proto: 'TCP', client: CLIENT, clientPort: port, frontend: WEB, frontendPort: 80 });
      expect(flowsIn()).toBe(flows);
      expect(e).toMatchObject({ verdict: 'dnat', via: 'maglev', service: `${NS}/web:http/TCP`, type: 'ClusterIP' });
      expect(e.maglev!.slot).toBeGreaterThanOrEqual(0);
      expect(e.maglev!.slot).toBeLessThan(e.maglev!.size);
      expect(e.backend).toBe(tcPick({ sport: port }));
    }
  });

  it('shows an established flow kept on its backend by conntrack, with its live entry', () => {
    const backend = tcPick({ sport: 44000 });
    const e = explain(pins.dir, { proto: 'TCP', client: CLIENT, clientPort: 44000, frontend: WEB, frontendPort: 80 });
    expect(e).toMatchObject({ verdict: 'dnat', via: 'conntrack', backend, conntrack: { backend, closing: false } });
  });

  it('shows session affinity: the entry tc wrote picks the backend for any port', () => {
    const backend = tcPick({ daddr: STICKY, sport: 45000 });
    for (const port of [45001, 45002, 45003]) {
      expect(explain(pins.dir, { proto: 'TCP', client: CLIENT, clientPort: port, frontend: STICKY, frontendPort: 80 })).toMatchObject({
        verdict: 'dnat',
        via: 'affinity',
        backend,
        affinity: { backend },
        policy: { affinitySeconds: 60 },
      });
    }
  });

  it('explains refusals: no endpoints, a Local policy without local endpoints, a client outside the source ranges', () => {
    expect(explain(pins.dir, { proto: 'TCP', client: CLIENT, frontend: EMPTY, frontendPort: 80 })).toMatchObject({ verdict: 'reject', reason: 'no_endpoints' });
    expect(explain(pins.dir, { proto: 'TCP', client: CLIENT, frontend: NODE_IP, frontendPort: 30013 })).toMatchObject({ verdict: 'drop', reason: 'policy', type: 'NodePort', policy: { local: true } });
    expect(explain(pins.dir, { proto: 'TCP', client: CLIENT, frontend: GUARDED_LB, frontendPort: 80 })).toMatchObject({ verdict: 'drop', reason: 'source_range', policy: { sourceRanges: true } });
  });

  it('says when a Service is served by terminating endpoints, and when a frontend is no Service', () => {
    expect(explain(pins.dir, { proto: 'TCP', client: CLIENT, frontend: DRAINING, frontendPort: 80 })).toMatchObject({
      verdict: 'dnat',
      backend: `${PODS[0]}:8080`,
      policy: { terminatingFallback: true, local: false },
    });
    expect(explain(pins.dir, { proto: 'UDP', client: CLIENT, frontend: WEB, frontendPort: 80 })).toMatchObject({ verdict: 'pass' });
  });

  it('refuses to run where no agent pinned its maps', () => {
    expect(() => explain('/sys/fs/bpf/xlb-nothing-here', { proto: 'TCP', client: CLIENT, frontend: WEB, frontendPort: 80 })).toThrow(/no xlb maps under .*is an agent running/);
  });
});
