// `lbctl maps dump`: what the kernel holds, decoded from the pinned maps.
import { native } from '../dataplane/bpf/native.js';
import { maglevReader, openPinnedMaps, type XlbMaps } from '../dataplane/bpf/maps.js';
import { CT_CLOSING, PROTO_NAME, SVC_TYPE_NAME } from '../dataplane/bpf/codec.js';
import { renderTable } from '../observe/table.js';
import { DUMP_SECTIONS, type Dump, type DumpSection } from '../observe/dump.js';

export { DUMP_SECTIONS, type Dump, type DumpSection } from '../observe/dump.js';

function collect(maps: XlbMaps, sections: readonly DumpSection[]): Dump {
  const backendAddr = new Map(maps.backends.entries().map(([id, b]) => [id, `${b.addr}:${b.port}`]));
  const tables = new Map<number, number[]>();
  const services = maps.services.entries();
  // The table a service's frontends name.
  const valueOf = new Map(services.map(([, v]) => [v.svc_id, v] as const));
  const read = maglevReader(maps);
  const tableOf = (svcId: number) => {
    let t = tables.get(svcId);
    const v = valueOf.get(svcId);
    if (!t) tables.set(svcId, (t = v ? read(v) : []));
    return t;
  };
  const out: Dump = {};
  const names = new Map(maps.names.entries().map(([id, n]) => [id, n.name]));
  if (sections.includes('services')) {
    out.services = services
      .map(([k, v]) => ({
        service: names.get(v.svc_id) ?? '?',
        frontend: `${k.addr}:${k.port}/${PROTO_NAME[k.proto] ?? k.proto}`,
        type: SVC_TYPE_NAME[v.type] ?? String(v.type),
        svcId: v.svc_id,
        maglevSize: v.maglev_size,
        affinitySeconds: v.affinity_timeout_s,
        backends: [...new Set(tableOf(v.svc_id))].map((id) => backendAddr.get(id) ?? `#${id}`).sort(),
      }))
      .sort((a, b) => a.svcId - b.svcId || a.frontend.localeCompare(b.frontend));
  }
  if (sections.includes('backends')) {
    out.backends = maps.backends
      .entries()
      .map(([id, b]) => ({ id, backend: `${b.addr}:${b.port}`, protocol: PROTO_NAME[b.proto] ?? String(b.proto) }))
      .sort((a, b) => a.id - b.id);
  }
  if (sections.includes('maglev')) {
    const ids = [...new Set(services.map(([, v]) => v.svc_id))].sort((a, b) => a - b);
    out.maglev = ids.map((svcId) => {
      const slots: Record<string, number> = {};
      const table = tableOf(svcId);
      for (const id of table) {
        const b = backendAddr.get(id) ?? `#${id}`;
        slots[b] = (slots[b] ?? 0) + 1;
      }
      return { svcId, size: table.length, slots };
    });
  }
  const now = native().monotonicNs();
  const expiresInS = (ns: bigint) => Math.round(Number(ns - now) / 1e7) / 100;
  if (sections.includes('conntrack')) {
    out.conntrack = maps.ct.entries().map(([k, v]) => ({
      protocol: PROTO_NAME[k.proto] ?? String(k.proto),
      client: `${k.saddr}:${k.sport}`,
      frontend: `${k.daddr}:${k.dport}`,
      backend: `${v.backend_addr}:${v.backend_port}`,
      expiresInS: expiresInS(v.expires_ns),
      closing: (v.flags & CT_CLOSING) !== 0,
      ...(v.nat_port ? { snat: `${v.nat_addr}:${v.nat_port}` } : {}),
    }));
  }
  if (sections.includes('nat')) {
    out.natCapacity = native().mapInfo(maps.nat.fd).maxEntries;
    out.nat = maps.nat.entries().map(([k, v]) => ({
      protocol: PROTO_NAME[k.proto] ?? String(k.proto),
      backend: `${k.saddr}:${k.sport}`,
      snat: `${k.daddr}:${k.dport}`,
      client: `${v.client_addr}:${v.client_port}`,
      frontend: `${v.frontend_addr}:${v.frontend_port}`,
      expiresInS: expiresInS(v.expires_ns),
      closing: (v.flags & CT_CLOSING) !== 0,
    }));
  }
  if (sections.includes('sockets')) {
    out.sockets = [...maps.sockPeers.entries().map(([, p]) => [p.key, p.value] as const), ...maps.sockets.entries()]
      .map(([k, v]) => ({
        cookie: String(k.cookie),
        protocol: PROTO_NAME[k.proto] ?? String(k.proto),
        service: names.get(v.svc_id) ?? '?',
        frontend: `${v.frontend_addr}:${v.frontend_port}`,
        backend: `${k.backend_addr}:${k.backend_port}`,
      }))
      .sort((a, b) => a.service.localeCompare(b.service) || a.cookie.localeCompare(b.cookie));
  }
  return out;
}

function render(d: Dump): string {
  const parts: string[] = [];
  if (d.services) {
    parts.push(
      `SERVICES (${d.services.length} frontends)\n` +
        renderTable(
          ['SERVICE', 'FRONTEND', 'TYPE', 'SVC', 'MAGLEV', 'AFFINITY', 'BACKENDS'],
          d.services.map((s) => [
            s.service,
            s.frontend,
            s.type,
            s.svcId,
            s.maglevSize,
            s.affinitySeconds ? `${s.affinitySeconds}s` : '-',
            s.backends.join(', ') || '(none)',
          ]),
        ),
    );
  }
  if (d.backends) {
    parts.push(`BACKENDS (${d.backends.length})\n` + renderTable(['ID', 'BACKEND', 'PROTO'], d.backends.map((b) => [b.id, b.backend, b.protocol])));
  }
  if (d.maglev) {
    parts.push(
      `MAGLEV TABLES (${d.maglev.length})\n` +
        renderTable(
          ['SVC', 'SIZE', 'SLOTS PER BACKEND'],
          d.maglev.map((m) => [m.svcId, m.size, Object.entries(m.slots).map(([b, n]) => `${b}=${n}`).join(' ')]),
        ),
    );
  }
  if (d.conntrack) {
    parts.push(
      `CONNTRACK (${d.conntrack.length} flows)\n` +
        renderTable(
          ['PROTO', 'CLIENT', 'FRONTEND', 'BACKEND', 'SNAT', 'EXPIRES', 'STATE'],
          d.conntrack.map((f) => [f.protocol, f.client, f.frontend, f.backend, f.snat ?? '-', `${f.expiresInS}s`, f.closing ? 'closing' : 'open']),
        ),
    );
  }
  if (d.nat) {
    const cap = d.natCapacity ?? 0;
    parts.push(
      `NAT (${d.nat.length} of ${cap} entries, ${cap ? Math.round((d.nat.length / cap) * 1000) / 10 : 0}% full: flows SNATed to backends on other nodes)\n` +
        renderTable(
          ['PROTO', 'CLIENT', 'FRONTEND', 'SNAT', 'BACKEND', 'EXPIRES', 'STATE'],
          d.nat.map((n) => [n.protocol, n.client, n.frontend, n.snat, n.backend, `${n.expiresInS}s`, n.closing ? 'closing' : 'open']),
        ),
    );
  }
  if (d.sockets) {
    parts.push(
      `SOCKETS (${d.sockets.length} balanced at connect/sendmsg; their packets are never translated)\n` +
        renderTable(['PROTO', 'SERVICE', 'FRONTEND', 'BACKEND', 'COOKIE'], d.sockets.map((x) => [x.protocol, x.service, x.frontend, x.backend, x.cookie])),
    );
  }
  return parts.join('\n\n');
}

export function mapsDump(bpffs: string, section: DumpSection | undefined, json: boolean): string {
  const d = collect(openPinnedMaps(bpffs), section ? [section] : DUMP_SECTIONS);
  return json ? JSON.stringify(d, null, 2) : render(d);
}
