// SNAT to backends on other nodes, at tc (BPF_PROG_TEST_RUN in a network namespace
// of the test's own, whose FIB and neighbours the programs' lookups see).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { native } from '../../src/dataplane/bpf/native.js';
import { loadPrograms, type LoadedPrograms } from '../../src/dataplane/bpf/programs.js';
import { BpfReconciler } from '../../src/dataplane/bpf/reconciler.js';
import { bpfMaglevTables } from '../../src/dataplane/bpf/maglev-pool.js';
import { buildDesiredState } from '../../src/model/desired.js';
import { spawn } from 'node:child_process';
import { sh, waitForLine } from '../testbed/netns.js';
import { buildIcmpError, buildPacket, parseIcmpError, parsePacket, TCP_FLAGS, type PacketSpec } from '../helpers/packets.js';
import { clearTraffic, testBpffs } from '../helpers/bpffs.js';
import { makeEndpoint, makeService, makeSlice } from '../fixtures/k8s.js';
import { TC, XDP } from '../helpers/verdicts.js';

const NODE_IP = '198.18.0.1';
const CLIENT = '198.18.0.2';
const NODE_B = '198.18.0.3';
const FAR = '198.18.2.10';
const NEAR = '198.18.1.10';
const MAC = { client: '02:00:00:00:00:02', nodeB: '02:00:00:00:00:03' };
const NS = `xlb${process.pid}nat`;

let pins: ReturnType<typeof testBpffs>;
let progs: LoadedPrograms;
let rec: BpfReconciler;

/** far: its backend on node-b (SNATed); near: on this node. */
const nodePort = (name: string, clusterIP: string, port: number, ip: string, nodeName: string) => [
  makeService('default', name, { type: 'NodePort', clusterIP, ports: [{ port: 80, nodePort: port }, { name: 'dns', port: 53, protocol: 'UDP', nodePort: port + 1 }] }),
  makeSlice('default', `${name}-x`, name, { ports: [{ port: 8080 }, { name: 'dns', port: 5353, protocol: 'UDP' }], endpoints: [makeEndpoint(ip, { nodeName })] }),
] as const;
const [far, farSlice] = nodePort('far', '198.19.0.17', 30090, FAR, 'node-b');
const [near, nearSlice] = nodePort('near', '198.19.0.18', 30092, NEAR, 'n');

const tcIn = (pkt: Buffer) => native().progTestRun(progs.tcIngressFd, pkt, 1, `/run/netns/${NS}`);
const tcOut = (pkt: Buffer) => native().progTestRun(progs.tcEgressFd, pkt, 1, `/run/netns/${NS}`);
const spec = (over: Partial<PacketSpec>): PacketSpec => ({ proto: 'TCP', saddr: CLIENT, daddr: NODE_IP, sport: 50500, dport: 30090, flags: TCP_FLAGS.SYN, ...over });
const mac = (frame: Buffer, at: number) => [...frame.subarray(at, at + 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
const ttl = (frame: Buffer) => frame[14 + 8]!;

beforeAll(async () => {
  // A node's view: its device on the L2 segment, node-b's pod CIDR behind node-b.
  sh('ip', ['netns', 'add', NS]);
  const ns = (...args: string[]) => sh('nsenter', [`--net=/run/netns/${NS}`, ...args]);
  ns('ip', 'link', 'add', 'dev0', 'type', 'veth', 'peer', 'name', 'peer0');
  ns('ip', 'addr', 'add', `${NODE_IP}/24`, 'dev', 'dev0');
  for (const dev of ['dev0', 'peer0']) ns('ip', 'link', 'set', dev, 'up');
  ns('ip', 'route', 'add', '198.18.2.0/24', 'via', NODE_B);
  ns('ip', 'neigh', 'add', NODE_B, 'lladdr', MAC.nodeB, 'dev', 'dev0', 'nud', 'permanent');
  ns('ip', 'neigh', 'add', CLIENT, 'lladdr', MAC.client, 'dev', 'dev0', 'nud', 'permanent');
  ns('sysctl', '-qw', 'net.ipv4.ip_forward=1');
  const ifindex = (JSON.parse(ns('ip', '-j', 'link', 'show', 'dev0')) as Array<{ ifindex: number }>)[0]!.ifindex;
  pins = testBpffs('nat');
  progs = await loadPrograms(pins.dir);
  progs.maps.devices.set(ifindex, { snat_addr: NODE_IP, flags: 0 });
  rec = new BpfReconciler(progs.maps, bpfMaglevTables(progs.maps.maglev));
});
afterAll(() => {
  pins?.remove();
  sh('ip', ['netns', 'del', NS]);
});
// Each test's setup: the two services programmed, no flow or NAT entry left by another.
beforeEach(() => {
  rec.apply(buildDesiredState([far, near], [farSlice, nearSlice], { name: 'n', ips: [NODE_IP] }));
  clearTraffic(progs.maps);
});

describe('SNAT to a backend on another node (tc)', () => {
  it('sends the flow out towards the backend with this node as its source, keeping the client port', () => {
    const r = tcIn(buildPacket(spec({})));
    expect(r.retval).toBe(TC.REDIRECT);
    expect(parsePacket(r.data)).toMatchObject({ saddr: NODE_IP, sport: 50500, daddr: FAR, dport: 8080, ipChecksumOk: true, l4ChecksumOk: true });
    expect(mac(r.data, 0)).toBe(MAC.nodeB); // to the next hop the FIB names
    expect(ttl(r.data)).toBe(63); // forwarded: one hop less
    expect(progs.maps.nat.get({ saddr: FAR, daddr: NODE_IP, sport: 8080, dport: 50500, proto: 6 })).toMatchObject({
      client_addr: CLIENT,
      client_port: 50500,
      frontend_addr: NODE_IP,
      frontend_port: 30090,
    });
  });

  it('translates the backend\'s reply back before the stack sees it: from the frontend, to the client', () => {
    tcIn(buildPacket(spec({})));
    const r = tcIn(buildPacket({ proto: 'TCP', saddr: FAR, daddr: NODE_IP, sport: 8080, dport: 50500, flags: TCP_FLAGS.SYN | TCP_FLAGS.ACK }));
    expect(r.retval).toBe(TC.REDIRECT);
    expect(parsePacket(r.data)).toMatchObject({ saddr: NODE_IP, sport: 30090, daddr: CLIENT, dport: 50500, ipChecksumOk: true, l4ChecksumOk: true });
    expect(mac(r.data, 0)).toBe(MAC.client);
  });

  it('keeps the flow on its port and translation for every packet', () => {
    const first = parsePacket(tcIn(buildPacket(spec({ sport: 50501 }))).data);
    const ack = parsePacket(tcIn(buildPacket(spec({ sport: 50501, flags: TCP_FLAGS.ACK }))).data);
    expect(ack).toMatchObject({ saddr: first.saddr, sport: first.sport, daddr: FAR, dport: 8080, l4ChecksumOk: true });
  });

  it('draws another port when the client\'s is taken or a NodePort\'s', () => {
    const outside = (port: number) => port >= 1024 && (port < 30000 || port > 32767);
    const nodePortLike = parsePacket(tcIn(buildPacket(spec({ sport: 30500 }))).data);
    expect(outside(nodePortLike.sport)).toBe(true);
    const a = parsePacket(tcIn(buildPacket(spec({ sport: 50600 }))).data);
    const b = parsePacket(tcIn(buildPacket(spec({ saddr: '198.18.0.9', sport: 50600 }))).data);
    expect(a.sport).toBe(50600);
    expect(b.sport).not.toBe(50600);
    expect(outside(b.sport)).toBe(true);
    // Each reply goes back to its own client.
    const back = (port: number) => parsePacket(tcIn(buildPacket({ proto: 'TCP', saddr: FAR, daddr: NODE_IP, sport: 8080, dport: port, flags: TCP_FLAGS.ACK })).data).daddr;
    expect([back(a.sport), back(b.sport)]).toEqual([CLIENT, '198.18.0.9']);
  });

  it('SNATs UDP, a zero UDP checksum staying zero', () => {
    const u = tcIn(buildPacket({ proto: 'UDP', saddr: CLIENT, daddr: NODE_IP, sport: 50700, dport: 30091 }));
    expect(u.retval).toBe(TC.REDIRECT);
    expect(parsePacket(u.data)).toMatchObject({ saddr: NODE_IP, daddr: FAR, dport: 5353, l4ChecksumOk: true });
    const z = parsePacket(tcIn(buildPacket({ proto: 'UDP', saddr: CLIENT, daddr: NODE_IP, sport: 50701, dport: 30091, udpNoChecksum: true })).data);
    expect(z).toMatchObject({ saddr: NODE_IP, daddr: FAR, udpChecksum: 0, ipChecksumOk: true });
  });

  it('lets a new flow reuse a port whose connection closed a while ago, and ends the old flow there', () => {
    tcIn(buildPacket(spec({ sport: 50950 })));
    tcIn(buildPacket({ proto: 'TCP', saddr: FAR, daddr: NODE_IP, sport: 8080, dport: 50950, flags: TCP_FLAGS.FIN | TCP_FLAGS.ACK }));
    const key = { saddr: FAR, daddr: NODE_IP, sport: 8080, dport: 50950, proto: 6 };
    const closed = progs.maps.nat.get(key)!;
    // Closed 3 s ago: the port is free for a new client now.
    progs.maps.nat.set(key, { ...closed, expires_ns: closed.expires_ns - 3_000_000_000n });
    const next = parsePacket(tcIn(buildPacket(spec({ saddr: '198.18.0.9', sport: 50950 }))).data);
    expect(next.sport).toBe(50950);
    expect(progs.maps.nat.get(key)).toMatchObject({ client_addr: '198.18.0.9' });
    // A late packet of the old flow must not take the port back.
    expect(tcIn(buildPacket(spec({ sport: 50950, flags: TCP_FLAGS.ACK }))).retval).toBe(TC.SHOT);
    expect(progs.maps.nat.get(key)).toMatchObject({ client_addr: '198.18.0.9' });
  });

  it('never takes a port a socket of the node holds towards the backend', async () => {
    // A socket of the node itself: NODE_IP:50990 connected to FAR:5353 (UDP).
    const holder = spawn('nsenter', [`--net=/run/netns/${NS}`, process.execPath, '-e', [
      "const s = require('dgram').createSocket('udp4')",
      `s.bind(50990, '${NODE_IP}', () => s.connect(5353, '${FAR}', () => console.log('ready')))`,
    ].join(';')]);
    try {
      await waitForLine(holder, /^ready/, 5000);
      const out = parsePacket(tcIn(buildPacket({ proto: 'UDP', saddr: CLIENT, daddr: NODE_IP, sport: 50990, dport: 30091 })).data);
      expect(out).toMatchObject({ saddr: NODE_IP, daddr: FAR, dport: 5353 });
      expect(out.sport).not.toBe(50990);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('ends the NAT entry with the connection: a backend\'s RST gives both sides the closing lifetime', () => {
    tcIn(buildPacket(spec({ sport: 50800 })));
    tcIn(buildPacket({ proto: 'TCP', saddr: FAR, daddr: NODE_IP, sport: 8080, dport: 50800, flags: TCP_FLAGS.RST | TCP_FLAGS.ACK }));
    const left = (ns: bigint) => Number(ns - native().monotonicNs()) / 1e9;
    const n = progs.maps.nat.get({ saddr: FAR, daddr: NODE_IP, sport: 8080, dport: 50800, proto: 6 })!;
    expect(n.flags & 1).toBe(1);
    expect(left(n.expires_ns)).toBeLessThanOrEqual(10);
    const ct = progs.maps.ct.get({ saddr: CLIENT, daddr: NODE_IP, sport: 50800, dport: 30090, proto: 6 })!;
    expect(left(ct.expires_ns)).toBeLessThanOrEqual(10);
  });

  it('never SNATs a backend on this node, nor traffic the node forwards for others', () => {
    const near = tcIn(buildPacket(spec({ sport: 50900, dport: 30092 })));
    expect(near.retval).toBe(TC.OK);
    expect(parsePacket(near.data)).toMatchObject({ saddr: CLIENT, daddr: NEAR });
    const forwarded = buildPacket(spec({ saddr: '198.18.1.20', daddr: FAR, sport: 50901, dport: 8080 }));
    const r = tcIn(forwarded);
    expect(r.retval).toBe(TC.OK);
    expect(r.data.equals(forwarded)).toBe(true);
  });

  it('sends an ICMP error about a SNATed flow on to its client, about what the client sent', () => {
    const sent = tcIn(buildPacket(spec({ sport: 51100 }))).data; // NODE_IP:51100 -> FAR:8080
    // A router on the way to the backend cannot forward the flow's packets unfragmented.
    const err = buildIcmpError({ saddr: NODE_B, daddr: NODE_IP, type: 3, code: 4, about: sent });
    const r = tcIn(err);
    expect(r.retval).toBe(TC.REDIRECT);
    expect(parseIcmpError(r.data)).toEqual({
      saddr: NODE_B,
      daddr: CLIENT,
      type: 3,
      code: 4,
      quoted: { saddr: CLIENT, daddr: NODE_IP, sport: 51100, dport: 30090 },
      ipChecksumOk: true,
      icmpChecksumOk: true,
      quotedIpChecksumOk: true,
    });
    // An error about a flow that is not ours passes untouched.
    const stranger = buildIcmpError({ saddr: NODE_B, daddr: NODE_IP, type: 3, code: 4, about: buildPacket(spec({ saddr: NODE_IP, daddr: FAR, sport: 51101, dport: 8080 })) });
    expect(tcIn(stranger).retval).toBe(TC.OK);
  });

  it('makes an ICMP error a local backend sends its client speak of the frontend', () => {
    const sent = tcIn(buildPacket({ proto: 'UDP', saddr: CLIENT, daddr: NODE_IP, sport: 51200, dport: 30093 })).data;
    expect(parsePacket(sent).daddr).toBe(NEAR);
    const r = tcOut(buildIcmpError({ saddr: NEAR, daddr: CLIENT, type: 3, code: 3, about: sent }));
    expect(r.retval).toBe(TC.OK);
    expect(parseIcmpError(r.data)).toMatchObject({
      saddr: NODE_IP,
      daddr: CLIENT,
      quoted: { saddr: CLIENT, daddr: NODE_IP, sport: 51200, dport: 30093 },
      ipChecksumOk: true,
      icmpChecksumOk: true,
      quotedIpChecksumOk: true,
    });
  });

  it('XDP leaves such flows and their replies to tc behind it, untouched', () => {
    for (const pkt of [buildPacket(spec({ sport: 51000 })), buildPacket({ proto: 'TCP', saddr: FAR, daddr: NODE_IP, sport: 8080, dport: 51000, flags: TCP_FLAGS.ACK })]) {
      const r = native().progTestRun(progs.xdpFd, pkt, 1, `/run/netns/${NS}`);
      expect(r.retval).toBe(XDP.PASS);
      expect(r.data.equals(pkt)).toBe(true);
    }
  });
});
