// `lbctl status`: the agent's own account (mode, last sync, last error, readiness,
// from its status file) beside what the kernel holds (the programs attached, by
// name and tag, and the maps' fill), so an operator sees both and whether they agree.
import fs from 'node:fs';
import path from 'node:path';
import { native } from '../dataplane/bpf/native.js';
import { openPinnedMaps } from '../dataplane/bpf/maps.js';
import { mapFill } from '../dataplane/bpf/dataplane.js';
import { SOCKET_PROGRAMS } from '../dataplane/bpf/programs.js';
import { readStatus, statusFile, type ProgramStatus, type StatusReport } from '../observe/status.js';
import { renderTable } from '../observe/table.js';

function program(at: string, id: number | undefined): ProgramStatus {
  if (!id) return { at, id: 0, state: 'missing' };
  try {
    const p = native().progInfo(id);
    return { at, id, name: p.name, tag: p.tag, state: 'attached' };
  } catch {
    return { at, id, state: 'unloaded' };
  }
}

export function status(bpffs: string): StatusReport {
  const found = readStatus(bpffs);
  const doc = found?.doc;
  const { devices, ...agent } = doc ?? {};
  const report: StatusReport = {
    bpffs,
    agent: { ...agent, running: found?.running ?? false, statusFile: statusFile(bpffs) },
    programs: [],
    maps: [],
  };
  if (devices && Object.keys(devices).length) report.devices = devices;
  for (const [dev, d] of Object.entries(devices ?? {})) {
    if (d.hook === 'xdp') report.programs.push(program(`${dev} xdp`, d.xdp));
    report.programs.push(program(`${dev} tc ingress`, d.tcIngress), program(`${dev} tc egress`, d.tcEgress));
  }
  if (fs.existsSync(path.join(bpffs, 'xlb_services'))) {
    for (const name of SOCKET_PROGRAMS) {
      const link = path.join(bpffs, 'links', name);
      let id: number | undefined;
      try {
        id = native().linkProgId(link);
      } catch {
        // no link pinned: not attached
      }
      report.programs.push(program(`cgroup ${name.replace(/^xlb_/, '')}`, id));
    }
    report.maps = mapFill(openPinnedMaps(bpffs)).map((m) => ({ ...m, percent: m.capacity ? Math.round((m.entries / m.capacity) * 1000) / 10 : 0 }));
  }
  return report;
}

const ago = (iso: string | undefined) => (iso ? `${iso} (${Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000))} s ago)` : '-');

export function renderStatus(r: StatusReport): string {
  const a = r.agent;
  const lines: Array<[string, string]> = [
    ['agent', a.running ? `running, pid ${a.pid}` : a.pid ? `not running (was pid ${a.pid})` : `no status at ${a.statusFile}: no agent has run with --bpffs ${r.bpffs}`],
  ];
  if (a.mode) {
    lines.push(['mode', a.mode + (a.iptables ? ` (${a.iptables})` : '')]);
    lines.push(['node', `${a.node?.name ?? '-'} ${a.node?.ips.join(', ') ?? ''}`.trim()]);
    lines.push(['ready', a.ready ? 'yes' : `no: ${a.notReady ?? 'unknown'}`]);
    if (a.sourceUnreachableSince) lines.push(['api unreachable', `since ${ago(a.sourceUnreachableSince)}`]);
    const s = a.lastSync;
    lines.push(['syncs', String(a.syncs ?? 0)]);
    lines.push(['last sync', s ? `${ago(s.at)}, took ${s.durationMs} ms` : 'none yet']);
    if (s) lines.push(['programmed', `${s.services} services, ${s.frontends} frontends, ${s.backends} backends${s.overCapacity ? `, ${s.overCapacity} left out: a map is full` : ''}`]);
    lines.push(['last error', a.lastError ? `${ago(a.lastError.at)}: ${a.lastError.message}` : 'none']);
    if (a.cgroup) lines.push(['cgroup', a.cgroup]);
    if (a.metricsAddr) lines.push(['metrics', `http://${a.metricsAddr}/metrics`]);
  }
  const parts = [renderTable(['', ''], lines).split('\n').slice(2).join('\n')];
  if (r.devices) {
    parts.push(`DEVICES\n` + renderTable(['DEVICE', 'IFINDEX', 'BALANCED BY'], Object.entries(r.devices).map(([dev, d]) => [dev, d.ifindex, d.hook === 'xdp' ? 'XDP (tc ingress behind it)' : 'tc'])));
  }
  if (r.programs.length) {
    parts.push(`PROGRAMS\n` + renderTable(['ATTACHED AT', 'ID', 'NAME', 'TAG', 'STATE'], r.programs.map((p) => [p.at, p.id || '-', p.name ?? '-', p.tag ?? '-', p.state])));
  }
  if (r.maps.length) {
    parts.push(`MAPS\n` + renderTable(['MAP', 'ENTRIES', 'CAPACITY', 'FILL'], r.maps.map((m) => [m.map, m.entries, m.capacity, `${m.percent}%`])));
  }
  return parts.join('\n\n');
}
