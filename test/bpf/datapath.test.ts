// The per-packet programs (XDP, tc ingress and egress), run on packet bytes with
// BPF_PROG_TEST_RUN.
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { native } from '../../src/dataplane/bpf/native.js';
import { loadPrograms, type LoadedPrograms } from '../../src/dataplane/bpf/programs.js';
import { BpfReconciler } from '../../src/dataplane/bpf/reconciler.js';
import { bpfMaglevTables } from '../../src/dataplane/bpf/maglev-pool.js';
import { buildDesiredState } from '../../src/model/desired.js';
import { xlb_limits } from '../../src/dataplane/bpf/contract.js';
import type { EndpointSlice, Service } from '../../src/model/k8s.js';
import { buildPacket, ethHeader, parsePacket, TCP_FLAGS, type PacketSpec } from '../helpers/packets.js';
import { clearTraffic, testBpffs } from '../helpers/bpffs.js';
import { makeEndpoint, makeService, makeSlice, withIngress } from '../fixtures/k8s.js';
import { TC, XDP } from '../helpers/verdicts.js';

const NS = 'default';
const CLIENT = '198.18.0.2';
const VIP = '198.19.0.10';
const NODE_IP = '198.18.0.1';
const EMPTY_VIP = '198.19.0.12';
const STICKY_VIP = '198.19.0.14';
const GUARDED_LB = '198.19.255.15';
const MAGLEV_CHUNK_SLOTS = xlb_limits.XLB_MAGLEV_CHUNK_SLOTS;
const PODS = ['198.18.1.10', '198.18.1.11', '198.18.1.12', '198.18.1.13'];

let pins: ReturnType<typeof testBpffs>;
let progs: LoadedPrograms;
let rec: BpfReconciler;

const services: Service[] = [
  makeService(NS, 'web', { type: 'NodePort', clusterIP: VIP, ports: [{ name: 'http', port: 80, nodePort: 30080 }, { name: 'dns', port: 53, protocol: 'UDP' }] }),
  makeService(NS, 'one', { clusterIP: '198.19.0.11', ports: [{ port: 80 }] }),
  withIngress(
    makeService(NS, 'guarded', { type: 'LoadBalancer', clusterIP: '198.19.0.15', loadBalancerSourceRanges: ['198.18.0.0/30'], ports: [{ port: 80, nodePort: 30015 }] }),
    GUARDED_LB,
  ),
  makeService(NS, 'sticky', { clusterIP: STICKY_VIP, sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 1 } }, ports: [{ port: 80 }] }),
  makeService(NS, 'empty', { clusterIP: EMPTY_VIP, ports: [{ name: 'tcp', port: 80 }, { name: 'udp', port: 53, protocol: 'UDP' }] }),
  makeService(NS, 'elsewhere', { type: 'NodePort', clusterIP: '198.19.0.13', externalTrafficPolicy: 'Local', ports: [{ port: 80, nodePort: 30013 }] }),
];

/** A slice of `svc` with one endpoint per address. */
const sliceOf = (svc: string, ports: EndpointSlice['ports'], ips: string[]) => makeSlice(NS, `${svc}-x`, svc, { ports, endpoints: ips.map((ip) => makeEndpoint(ip)) });

function slices(webPods: string[]): EndpointSlice[] {
  return [
    sliceOf('web', [{ name: 'http', port: 8080 }, { name: 'dns', port: 5353, protocol: 'UDP' }], webPods),
    sliceOf('one', [{ port: 9090 }], [PODS[3]!]),
    sliceOf('sticky', [{ port: 8080 }], webPods),
    sliceOf('guarded', [{ port: 8080 }], webPods),
    // Its only endpoint runs on another node.
    makeSlice(NS, 'elsewhere-x', 'elsewhere', { ports: [{ port: 8080 }], endpoints: [makeEndpoint(PODS[0]!, { nodeName: 'node-b' })] }),
  ];
}

function program(webPods: string[], svcs = services): void {
  rec.apply(buildDesiredState(svcs, slices(webPods), { name: 'n', ips: [NODE_IP] }));
}

function xdp(pkt: Buffer) {
  return native().progTestRun(progs.xdpFd, pkt, 1);
}
function tc(pkt: Buffer) {
  return native().progTestRun(progs.tcEgressFd, pkt, 1);
}

/** The two per-packet hooks run the same decision; each is held to the same behaviour. */
interface Hook {
  name: string;
  run(pkt: Buffer): { verdict: 'pass' | 'drop' | 'reply' | 'other'; data: Buffer };
}
const verdictOf = (retval: number, pass: number, drop: number, reply: number) =>
  retval === pass ? 'pass' : retval === drop ? 'drop' : retval === reply ? 'reply' : 'other';
const HOOKS: Hook[] = [
  {
    name: 'XDP',
    run: (pkt) => {
      const r = xdp(pkt);
      return { verdict: verdictOf(r.retval, XDP.PASS, XDP.DROP, XDP.TX), data: r.data };
    },
  },
  {
    name: 'tc',
    run: (pkt) => {
      const r = native().progTestRun(progs.tcIngressFd, pkt, 1);
      return { verdict: verdictOf(r.retval, TC.OK, TC.SHOT, TC.REDIRECT), data: r.data };
    },
  },
];

const syn = (sport: number, over: Partial<PacketSpec> = {}): Buffer =>
  buildPacket({ proto: 'TCP', saddr: CLIENT, daddr: VIP, sport, dport: 80, flags: TCP_FLAGS.SYN, ...over });

/** The grace periods the Maglev pool waited for (each frees the regions retired before it). */
let graces: Array<Promise<void>> = [];
/** Resolves once every grace period started so far has passed and freed its regions. */
async function gracePeriods(): Promise<void> {
  await Promise.allSettled(graces);
  graces = [];
}

beforeAll(async () => {
  pins = testBpffs('datapath');
  progs = await loadPrograms(pins.dir);
  rec = new BpfReconciler(progs.maps, bpfMaglevTables(progs.maps.maglev));
  // The pool waits for grace periods on a worker thread; the tests wait for the same ones.
  const addon = native();
  const mapUpdateAsync = addon.mapUpdateAsync.bind(addon);
  vi.spyOn(addon, 'mapUpdateAsync').mockImplementation((...args) => {
    const p = mapUpdateAsync(...args);
    graces.push(p);
    return p;
  });
});
afterAll(() => {
  vi.restoreAllMocks();
  pins?.remove();
});
// Each test's setup: three web backends, no flow, affinity or answer budget left by another.
beforeEach(() => {
  program(PODS.slice(0, 3));
  clearTraffic(progs.maps);
});

describe.each(HOOKS)('$name load balancer', (hook) => {
  it('DNATs a SYN to a single-backend ClusterIP to that backend with valid checksums', () => {
    const r = hook.run(syn(40000, { daddr: '198.19.0.11' }));
    expect(r.verdict).toBe('pass');
    expect(parsePacket(r.data)).toMatchObject({ saddr: CLIENT, daddr: PODS[3], sport: 40000, dport: 9090, ipChecksumOk: true, l4ChecksumOk: true });
  });

  it('DNATs a SYN to the backend its flow is recorded with, and spreads flows over all backends', () => {
    const seen = new Set<string>();
    for (let sport = 41000; sport < 41060; sport++) {
      const out = parsePacket(hook.run(syn(sport)).data);
      expect(out).toMatchObject({ ipChecksumOk: true, l4ChecksumOk: true, dport: 8080 });
      const ct = progs.maps.ct.get({ saddr: CLIENT, daddr: VIP, sport, dport: 80, proto: 6 });
      expect(ct?.backend_addr).toBe(out.daddr);
      seen.add(out.daddr);
    }
    expect([...seen].sort()).toEqual(PODS.slice(0, 3));
  });

  it('DNATs a SYN to a NodePort on the node IP', () => {
    const out = parsePacket(hook.run(syn(42000, { daddr: NODE_IP, dport: 30080 })).data);
    expect(PODS.slice(0, 3)).toContain(out.daddr);
    expect(out).toMatchObject({ dport: 8080, ipChecksumOk: true, l4ChecksumOk: true });
  });

  it('DNATs UDP with a valid checksum, and keeps a zero UDP checksum zero', () => {
    const u = parsePacket(hook.run(buildPacket({ proto: 'UDP', saddr: CLIENT, daddr: VIP, sport: 43000, dport: 53 })).data);
    expect(u).toMatchObject({ dport: 5353, ipChecksumOk: true, l4ChecksumOk: true });
    const z = parsePacket(hook.run(buildPacket({ proto: 'UDP', saddr: CLIENT, daddr: VIP, sport: 43001, dport: 53, udpNoChecksum: true })).data);
    expect(z).toMatchObject({ dport: 5353, udpChecksum: 0, ipChecksumOk: true });
  });

  it('keeps an established flow on its backend after the Maglev table changes', () => {
    const first = parsePacket(hook.run(syn(44000)).data).daddr;
    program(PODS); // a fourth backend: the table is rebuilt
    for (let i = 0; i < 3; i++) {
      const ack = syn(44000, { flags: TCP_FLAGS.ACK });
      expect(parsePacket(hook.run(ack).data).daddr).toBe(first);
    }
  });

  it('moves a flow whose backend was removed to a live backend', () => {
    const u = () => parsePacket(hook.run(buildPacket({ proto: 'UDP', saddr: CLIENT, daddr: VIP, sport: 45000, dport: 53 })).data).daddr;
    const first = u();
    program(PODS.slice(0, 3).filter((p) => p !== first));
    const next = u();
    expect(next).not.toBe(first);
    expect(PODS.slice(0, 3)).toContain(next);
  });

  it('moves a UDP flow whose endpoint left the service but still serves another one', () => {
    const u = () => parsePacket(hook.run(buildPacket({ proto: 'UDP', saddr: CLIENT, daddr: VIP, sport: 45100, dport: 53 })).data).daddr;
    const first = u();
    const rest = PODS.slice(0, 3).filter((p) => p !== first);
    // The backend stays programmed (same address and port) through another Service.
    rec.apply(
      buildDesiredState(
        [...services, makeService(NS, 'keeper', { clusterIP: '198.19.0.16', ports: [{ port: 53, protocol: 'UDP' }] })],
        [...slices(rest), sliceOf('keeper', [{ port: 5353, protocol: 'UDP' }], [first])],
        { name: 'n', ips: [NODE_IP] },
      ),
    );
    expect(rest).toContain(u());
  });

  it('passes non-service, ARP, IPv6, truncated and fragmented packets unchanged', () => {
    const arp = Buffer.concat([ethHeader(0x0806), Buffer.alloc(28, 1)]);
    const ipv6 = Buffer.concat([ethHeader(0x86dd), Buffer.from([0x60, 0, 0, 0, 0, 8, 17, 64]), Buffer.alloc(40, 2)]);
    const full = syn(46000);
    const cases: Record<string, Buffer> = {
      'non-service': syn(46000, { daddr: '198.19.9.9' }),
      'wrong port': syn(46000, { dport: 81 }),
      arp,
      ipv6,
      'truncated TCP': full.subarray(0, 14 + 20 + 10),
      'truncated IP': full.subarray(0, 14 + 12),
      fragment: syn(46001, { fragField: 0x2000 }),
      'later fragment': syn(46002, { fragField: 0x0010 }),
    };
    // The kernel's test harness builds no skb from an incomplete IPv4 header (EINVAL).
    if (hook.name === 'tc') delete cases['truncated IP'];
    for (const [name, pkt] of Object.entries(cases)) {
      const r = hook.run(pkt);
      expect(r.verdict, name).toBe('pass');
      expect(r.data.equals(pkt), name).toBe(true);
    }
  });
});

/** One's-complement check of a byte range (valid when it sums to 0xffff). */
function sumOk(b: Buffer): boolean {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += (b[i]! << 8) + (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s === 0xffff;
}

describe.each(HOOKS)('$name: no endpoints, Local policy', (hook) => {
  it('drops when a Local policy leaves this node without endpoints of its own', () => {
    expect(hook.run(syn(48200, { daddr: NODE_IP, dport: 30013 })).verdict).toBe('drop');
  });
});

describe('XDP: no endpoints', () => {
  it('leaves the answer to tc behind it (XDP.TX never reaches a veth peer without XDP)', () => {
    for (const pkt of [syn(48300, { daddr: EMPTY_VIP }), buildPacket({ proto: 'UDP', saddr: CLIENT, daddr: EMPTY_VIP, sport: 48301, dport: 53 })]) {
      const r = HOOKS[0]!.run(pkt);
      expect(r.verdict).toBe('pass');
      expect(r.data.equals(pkt)).toBe(true);
    }
  });
});

describe('tc: no endpoints', () => {
  const hook = HOOKS[1]!;
  it('answers a SYN with a RST from the frontend, at once', () => {
    const inPkt = syn(48000, { daddr: EMPTY_VIP, payload: Buffer.alloc(0) });
    const r = hook.run(inPkt);
    expect(r.verdict).toBe('reply');
    expect(r.data.length).toBe(54);
    expect(r.data.subarray(0, 6).equals(inPkt.subarray(6, 12))).toBe(true); // back to the sender's MAC
    expect(parsePacket(r.data)).toMatchObject({ saddr: EMPTY_VIP, daddr: CLIENT, sport: 80, dport: 48000, ipChecksumOk: true, l4ChecksumOk: true });
    const tcp = r.data.subarray(34);
    expect(tcp[13]).toBe(TCP_FLAGS.RST | TCP_FLAGS.ACK);
    expect(tcp.readUInt32BE(8)).toBe(1001); // acknowledges the SYN (seq 1000)
  });

  it('answers an established segment with a RST carrying its ack as sequence number', () => {
    const r = hook.run(syn(48001, { daddr: EMPTY_VIP, flags: TCP_FLAGS.ACK, payload: Buffer.from('hello') }));
    expect(r.verdict).toBe('reply');
    const tcp = r.data.subarray(34);
    expect(tcp[13]).toBe(TCP_FLAGS.RST);
    expect(parsePacket(r.data).l4ChecksumOk).toBe(true);
  });

  it('never answers a RST', () => {
    expect(hook.run(syn(48002, { daddr: EMPTY_VIP, flags: TCP_FLAGS.RST })).verdict).toBe('drop');
  });

  it('answers UDP with ICMP port unreachable quoting the datagram', () => {
    const inPkt = buildPacket({ proto: 'UDP', saddr: CLIENT, daddr: EMPTY_VIP, sport: 48100, dport: 53, payload: Buffer.alloc(100, 1) });
    const r = hook.run(inPkt);
    expect(r.verdict).toBe('reply');
    const ip = r.data.subarray(14, 34);
    const icmp = r.data.subarray(34);
    expect(r.data.length).toBe(14 + 20 + 8 + 28);
    expect(ip[9]).toBe(1);
    expect([...ip.subarray(12, 16)].join('.')).toBe(EMPTY_VIP);
    expect([...ip.subarray(16, 20)].join('.')).toBe(CLIENT);
    expect(sumOk(ip)).toBe(true);
    expect([icmp[0], icmp[1]]).toEqual([3, 3]);
    expect(sumOk(icmp)).toBe(true);
    expect(icmp.subarray(8).equals(inPkt.subarray(14, 14 + 28))).toBe(true);
  });

  it('answers a source at most its budget (burst, then the refill rate): the node is never a reflector', () => {
    const source = '198.18.0.77';
    const answer = (sport: number, saddr = source) => hook.run(syn(sport, { saddr, daddr: EMPTY_VIP })).verdict;
    const verdicts = Array.from({ length: 101 }, (_, i) => answer(48400 + i));
    expect(verdicts.slice(0, 100).every((v) => v === 'reply')).toBe(true);
    expect(verdicts[100]).toBe('drop');
    expect(answer(48600, '198.18.0.78')).toBe('reply'); // other sources keep their own budget
    // A second later the bucket holds XLB_REPLY_RATE more answers.
    const budget = progs.maps.replyBudget.get({ addr: source })!;
    progs.maps.replyBudget.set({ addr: source }, { ...budget, refilled_ns: budget.refilled_ns - 1_000_000_000n });
    expect(answer(48601)).toBe('reply');
  });
});

describe.each(HOOKS)('$name: sessionAffinity ClientIP', (hook) => {
  const pick = (saddr: string, sport: number) => parsePacket(hook.run(syn(sport, { saddr, daddr: STICKY_VIP })).data).daddr;

  it('sends every new flow of a client to the same backend, different clients spread', () => {
    const first = pick(CLIENT, 49000);
    for (let sport = 49001; sport < 49020; sport++) expect(pick(CLIENT, sport)).toBe(first);
    const others = new Set(Array.from({ length: 40 }, (_, i) => pick(`198.18.0.${100 + i}`, 49000)));
    expect(others.size).toBeGreaterThan(1);
  });

  it('uses a remembered backend only until the entry expires, and remembers for timeoutSeconds', () => {
    const flow = { saddr: CLIENT, daddr: STICKY_VIP, sport: 49100, dport: 80, proto: 6 };
    const fresh = () => {
      progs.maps.ct.delete(flow);
      return pick(CLIENT, 49100);
    };
    const maglevChoice = fresh();
    const [key, remembered] = progs.maps.affinity.entries().find(([k]) => k.client === CLIENT)!;
    const left = Number(remembered.expires_ns - native().monotonicNs()) / 1e9;
    expect(left).toBeGreaterThan(0.5);
    expect(left).toBeLessThanOrEqual(1);

    const [otherId, other] = progs.maps.backends.entries().find(([, b]) => b.port === 8080 && b.addr !== maglevChoice && b.flags === 0)!; // one of the Service's (its pods are this node's)
    progs.maps.affinity.set(key, { expires_ns: native().monotonicNs() + 5_000_000_000n, backend_id: otherId });
    expect(fresh()).toBe(other.addr);
    progs.maps.affinity.set(key, { expires_ns: native().monotonicNs() - 1n, backend_id: otherId });
    expect(fresh()).toBe(maglevChoice);
  });

  it('never sends a client to a backend its service no longer has', () => {
    const first = pick(CLIENT, 49200);
    program(PODS.slice(0, 3).filter((p) => p !== first));
    expect(pick(CLIENT, 49201)).not.toBe(first);
  });
});

describe.each(HOOKS)('$name: loadBalancerSourceRanges', (hook) => {
  it('admits clients inside a range on the LoadBalancer IP and drops the rest', () => {
    expect(hook.run(syn(50000, { daddr: GUARDED_LB })).verdict).toBe('pass');
    expect(parsePacket(hook.run(syn(50000, { daddr: GUARDED_LB })).data).dport).toBe(8080);
    expect(hook.run(syn(50001, { saddr: '198.18.0.9', daddr: GUARDED_LB })).verdict).toBe('drop');
  });

  it('leaves the ClusterIP and NodePort of the same Service open to everyone', () => {
    expect(parsePacket(hook.run(syn(50002, { saddr: '198.18.0.9', daddr: '198.19.0.15' })).data).dport).toBe(8080);
    expect(parsePacket(hook.run(syn(50003, { saddr: '198.18.0.9', daddr: NODE_IP, dport: 30015 })).data).dport).toBe(8080);
  });
});

describe('tc reverse NAT', () => {
  it('rewrites a reply of a tracked flow back to the frontend with valid checksums', () => {
    const out = parsePacket(xdp(syn(47000)).data);
    const reply = buildPacket({ proto: 'TCP', saddr: out.daddr, daddr: CLIENT, sport: 8080, dport: 47000, flags: TCP_FLAGS.SYN | TCP_FLAGS.ACK });
    const r = tc(reply);
    expect(r.retval).toBe(TC.OK);
    expect(parsePacket(r.data)).toMatchObject({ saddr: VIP, sport: 80, daddr: CLIENT, dport: 47000, ipChecksumOk: true, l4ChecksumOk: true });
  });

  it('leaves replies of untracked flows alone', () => {
    const reply = buildPacket({ proto: 'TCP', saddr: PODS[0]!, daddr: CLIENT, sport: 8080, dport: 47001, flags: TCP_FLAGS.ACK });
    const r = tc(reply);
    expect(r.retval).toBe(TC.OK);
    expect(r.data.equals(reply)).toBe(true);
  });

  it('never applies a service translation to a later direct flow reusing the client port', () => {
    const backend = parsePacket(xdp(syn(47100)).data).daddr;
    // The same client port now talks to the pod directly (no service involved).
    xdp(buildPacket({ proto: 'TCP', saddr: CLIENT, daddr: backend, sport: 47100, dport: 8080, flags: TCP_FLAGS.SYN }));
    const reply = buildPacket({ proto: 'TCP', saddr: backend, daddr: CLIENT, sport: 8080, dport: 47100, flags: TCP_FLAGS.SYN | TCP_FLAGS.ACK });
    expect(tc(reply).data.equals(reply)).toBe(true);
  });

  it('ends a flow after FIN/RST: its entries get the short closing lifetime', () => {
    const backend = parsePacket(xdp(syn(47200)).data).daddr;
    xdp(syn(47200, { flags: TCP_FLAGS.RST | TCP_FLAGS.ACK }));
    const key = { saddr: CLIENT, daddr: VIP, sport: 47200, dport: 80, proto: 6 };
    const ct = progs.maps.ct.get(key)!;
    const left = Number(ct.expires_ns - native().monotonicNs()) / 1e9;
    expect(ct.flags & 1).toBe(1);
    expect(left).toBeLessThanOrEqual(10);
    const rn = progs.maps.rnat.get({ saddr: backend, daddr: CLIENT, sport: 8080, dport: 47200, proto: 6 })!;
    expect(Number(rn.expires_ns - native().monotonicNs()) / 1e9).toBeLessThanOrEqual(10);
  });
});

describe('Maglev pool', () => {
  const web = () => progs.maps.services.get({ addr: VIP, port: 80, proto: 6 })!;
  const chunkIds = () => progs.maps.maglev.entries().filter(([k]) => k > 0);
  let nextPort = 47000;
  /** Backends that new flows (fresh source ports) to `vip` go to. */
  const backendsSeen = (vip = VIP) => new Set(Array.from({ length: 40 }, () => parsePacket(xdp(syn(nextPort++, { daddr: vip })).data).daddr));

  // Setup: web made anew with three backends, and no grace period of an earlier change still to come.
  beforeEach(async () => {
    program(PODS.slice(0, 3), services.filter((s) => s.metadata.name !== 'web'));
    program(PODS.slice(0, 3));
    await gracePeriods();
  });

  it('writes an endpoint change into a region packets do not read and points the frontends at it; the old one is reused after a grace period', async () => {
    const [t0, chunks0] = [web().table, chunkIds()];
    program(PODS.slice(0, 2));
    const t1 = web().table;
    expect(t1).not.toBe(t0);
    expect(chunkIds()).toEqual(chunks0); // no new map, no outer-map update
    expect([...backendsSeen()].sort()).toEqual(PODS.slice(0, 2));
    // Until a grace period has passed, the region left behind is not written again.
    program(PODS.slice(0, 3));
    const t2 = web().table;
    expect([t0, t1]).not.toContain(t2);
    await gracePeriods();
    // Then regions are reused: going back and forth needs no new room.
    for (const pods of [PODS.slice(0, 2), PODS.slice(0, 3), PODS.slice(0, 2)]) {
      program(pods);
      expect([...backendsSeen()].sort()).toEqual(pods);
      await gracePeriods();
    }
    expect(chunkIds()).toEqual(chunks0);
  });

  it('adds a chunk when the tables outgrow the pool, and serves from every chunk', () => {
    // 700 backends: 65,537 slots each; four of them do not fit the first chunk (262,144 slots) with the rest.
    const big = Array.from({ length: 4 }, (_, i) => makeService(NS, `big${i}`, { clusterIP: `198.19.1.${i}`, ports: [{ port: 80 }] }));
    const bigSlices = big.map((b, i) => sliceOf(b.metadata.name, [{ port: 8080 }], Array.from({ length: 700 }, (_, e) => `198.18.${100 + i * 3 + Math.floor(e / 250)}.${e % 250}`)));
    try {
      rec.apply(buildDesiredState([...services, ...big], [...slices(PODS.slice(0, 3)), ...bigSlices], { name: 'n', ips: [NODE_IP] }));
      expect(chunkIds().map(([k]) => k)).toEqual([1, 2]);
      const last = progs.maps.services.get({ addr: '198.19.1.3', port: 80, proto: 6 })!;
      expect(last.maglev_size).toBe(65537);
      expect(Math.floor(last.table / MAGLEV_CHUNK_SLOTS)).toBe(2);
      const wanted = new Set(bigSlices[3]!.endpoints!.map((e) => e.addresses[0]));
      expect(wanted.size).toBe(700);
      for (const b of backendsSeen('198.19.1.3')) expect(wanted.has(b)).toBe(true);
      expect([...backendsSeen()].sort()).toEqual(PODS.slice(0, 3));
    } finally {
      program(PODS.slice(0, 3));
    }
  });
});
