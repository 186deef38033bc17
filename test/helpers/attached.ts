// What of ours the kernel has attached on a node: XDP and tc programs on its device,
// socket programs on its cgroup.
import { inNs, sh } from '../testbed/netns.js';
import { NODE_DEVICE, type ClusterNode } from '../testbed/topology.js';
import { SOCKET_PROGRAMS } from '../../src/dataplane/bpf/programs.js';

export function attachedPrograms(node: ClusterNode): string[] {
  const out: string[] = [];
  if (inNs(node.ns, 'ip', ['-d', 'link', 'show', NODE_DEVICE]).includes('prog/xdp')) out.push('xdp');
  for (const dir of ['ingress', 'egress']) {
    const name = inNs(node.ns, 'tc', ['filter', 'show', 'dev', NODE_DEVICE, dir]).match(/xlb_\w+/)?.[0];
    if (name) out.push(`tc ${dir} ${name}`);
  }
  const cgroup = JSON.parse(sh('bpftool', ['-j', 'cgroup', 'show', node.cgroup]).trim() || '[]') as Array<{ name: string }>;
  out.push(...cgroup.map((p) => `cgroup ${p.name}`).sort());
  return out;
}

/** What an eBPF-mode agent attaches on a node with default settings (veth: tc, not XDP). */
export const BPF_ATTACHED = [
  'tc ingress xlb_tc_ingress',
  'tc egress xlb_tc_egress',
  ...[...SOCKET_PROGRAMS].sort().map((n) => `cgroup ${n}`),
];
