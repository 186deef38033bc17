// lbctl explain: which backend a new flow from a client gets, and why. The answer is
// the datapath's own: explain.bpf.o runs lb.h's decision (the code tc and XDP run)
// on a packet built here, through BPF_PROG_TEST_RUN against the agent's pinned maps,
// without writing to any of them. The live conntrack and affinity entries, if any,
// are read beside it.
import fs from 'node:fs';
import path from 'node:path';
import { native } from './native.js';
import { openPinnedMaps } from './maps.js';
import { objectPath } from './programs.js';
import { buildPacket, TCP_FLAGS } from './packet.js';
import * as codec from './codec.js';
import { OBJECTS } from './contract.js';
import { MAP_NAMES } from './maps.js';
import { TC_ACT } from './kernel.js';

export const EXPLAIN_OBJECT = 'explain.bpf.o' satisfies keyof typeof OBJECTS;
const EXPLAIN_PROGRAM = 'xlb_explain' satisfies (typeof OBJECTS)[typeof EXPLAIN_OBJECT]['programs'][number];
const TRACE_MAP = 'xlb_trace_out' satisfies (typeof OBJECTS)[typeof EXPLAIN_OBJECT]['maps'][number];
/** The source port assumed when none is given (the decision hashes it, unless affinity holds). */
export const DEFAULT_SOURCE_PORT = 40000;

export interface Flow {
  proto: 'TCP' | 'UDP';
  client: string;
  clientPort?: number;
  frontend: string;
  frontendPort: number;
}

export interface Explanation {
  /** "IP:PORT/PROTO" */
  frontend: string;
  /** "IP:PORT" */
  client: string;
  /** no source port was given: DEFAULT_SOURCE_PORT stands in */
  sourcePortAssumed: boolean;
  /** "namespace/name:port/PROTO"; absent when the frontend is no Service's */
  service?: string;
  type?: string;
  /** pass (not a frontend: untouched), dnat (a backend on this node), snat (on another node), drop, reject */
  verdict: (typeof codec.ACTIONS)[number];
  /** why a drop or reject */
  reason?: (typeof codec.DROP_REASONS)[number];
  backend?: string;
  /** how the backend was found */
  via?: Exclude<(typeof codec.VIA)[number], 'none'>;
  maglev?: { hash: number; slot: number; size: number };
  policy?: {
    /** a Local traffic policy chose this frontend's endpoints (this node's only) */
    local: boolean;
    /** no endpoint is ready: the table holds serving terminating endpoints */
    terminatingFallback: boolean;
    sourceRanges: boolean;
    /** sessionAffinity ClientIP timeout, 0 for none */
    affinitySeconds: number;
    backends: number;
  };
  /** the live entry of this exact flow (only when the client's port was given) */
  conntrack?: { backend: string; expiresInS: number; closing: boolean; snat?: string };
  /** the client's live session affinity entry for this service */
  affinity?: { backend: string; expiresInS: number };
}

/**
 * The pinned maps' sizes as created: a table the agent sized (--nat-table-size)
 * must be reused with its size, or libbpf refuses it.
 */
function pinnedSizes(bpffs: string): Record<string, number> {
  const sizes: Record<string, number> = {};
  for (const name of MAP_NAMES) {
    const pinned = native().pinnedMapInfo(path.join(bpffs, name));
    if (pinned) sizes[name] = pinned.maxEntries;
  }
  return sizes;
}

/** Runs the decision once on the flow's first packet; returns the trace. */
function trace(bpffs: string, pkt: Buffer): codec.Trace {
  const file = objectPath(EXPLAIN_OBJECT);
  const obj = native().loadObject(file, bpffs, pinnedSizes(bpffs));
  try {
    const r = native().progTestRun(obj.progs[EXPLAIN_PROGRAM]!, pkt, 1);
    if (r.retval === TC_ACT.SHOT) throw new Error('the explain program could not parse its packet: rebuild with "make bpf"');
    const out = native().mapLookup(obj.maps[TRACE_MAP]!, codec.u32.encode(0), codec.trace.size);
    if (!out) throw new Error('the explain program left no trace: rebuild with "make bpf"');
    return codec.trace.decode(out);
  } finally {
    for (const fd of [...Object.values(obj.maps), ...Object.values(obj.progs)]) native().closeFd(fd);
  }
}

export function explain(bpffs: string, flow: Flow): Explanation {
  // Loading the object would create and pin any map that is missing: only look where an agent runs.
  if (!fs.existsSync(path.join(bpffs, 'xlb_services'))) {
    throw new Error(`no xlb maps under ${bpffs}: is an agent running in eBPF mode with --bpffs ${bpffs}?`);
  }
  const sport = flow.clientPort ?? DEFAULT_SOURCE_PORT;
  const pkt = buildPacket({ proto: flow.proto, saddr: flow.client, daddr: flow.frontend, sport, dport: flow.frontendPort, flags: TCP_FLAGS.SYN });
  const t = trace(bpffs, pkt);
  const maps = openPinnedMaps(bpffs);
  const out: Explanation = {
    frontend: `${flow.frontend}:${flow.frontendPort}/${flow.proto}`,
    client: `${flow.client}:${sport}`,
    sourcePortAssumed: flow.clientPort === undefined,
    verdict: codec.ACTIONS[t.action] ?? 'pass',
  };
  if (out.verdict === 'pass') return out;
  const proto = codec.IPPROTO[flow.proto];
  const svc = maps.services.get({ addr: flow.frontend, port: flow.frontendPort, proto });
  out.service = maps.names.get(t.svc_id)?.name;
  out.type = svc ? codec.SVC_TYPE_NAME[svc.type] : undefined;
  if (out.verdict === 'drop' || out.verdict === 'reject') out.reason = codec.DROP_REASONS[t.drop_reason];
  const addrOf = (id: number) => {
    const b = maps.backends.get(id);
    return b ? `${b.addr}:${b.port}` : `backend #${id}`;
  };
  if (out.verdict === 'dnat' || out.verdict === 'snat') {
    out.backend = addrOf(t.backend_id);
    const via = codec.VIA[t.via];
    if (via && via !== 'none') out.via = via;
    if (out.via === 'maglev') out.maglev = { hash: t.hash, slot: t.maglev_slot, size: t.maglev_size };
  }
  if (svc) {
    out.policy = {
      local: (t.svc_flags & codec.SVC_F_LOCAL) !== 0,
      terminatingFallback: (t.svc_flags & codec.SVC_F_TERMINATING) !== 0,
      sourceRanges: (t.svc_flags & codec.SVC_F_SOURCE_RANGES) !== 0,
      affinitySeconds: svc.affinity_timeout_s,
      backends: svc.backend_count,
    };
  }
  const now = native().monotonicNs();
  const inS = (ns: bigint) => Math.round(Number(ns - now) / 1e7) / 100;
  if (flow.clientPort !== undefined) {
    const ct = maps.ct.get({ saddr: flow.client, daddr: flow.frontend, sport, dport: flow.frontendPort, proto });
    if (ct && ct.expires_ns > now) {
      out.conntrack = { backend: `${ct.backend_addr}:${ct.backend_port}`, expiresInS: inS(ct.expires_ns), closing: (ct.flags & codec.CT_CLOSING) !== 0 };
      if (ct.nat_port) out.conntrack.snat = `${ct.nat_addr}:${ct.nat_port}`;
    }
  }
  const aff = t.svc_id ? maps.affinity.get({ client: flow.client, svc_id: t.svc_id, netns: 0n }) : undefined;
  if (aff && aff.expires_ns > now) out.affinity = { backend: addrOf(aff.backend_id), expiresInS: inS(aff.expires_ns) };
  return out;
}
