// Choosing the datapath: auto falls back to nftables when eBPF is unavailable, and a
// switch of mode leaves nothing of the other modes behind.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeFileAtomic, type Cluster } from '../testbed/topology.js';
import { inNs } from '../testbed/netns.js';
import type { AgentProcess } from '../testbed/agent-process.js';
import { endpointsOf, NS, useAgentCluster } from '../helpers/agent-cluster.js';
import { attachedPrograms, BPF_ATTACHED } from '../helpers/attached.js';
import { list, makeService, makeSlice } from '../fixtures/k8s.js';

const VIP = '198.19.3.10';
let cluster: Cluster;
let agent: AgentProcess;

const ctx = useAgentCluster('md', { pods: 2 }, 'iptables', (c) =>
  writeFileAtomic(
    path.join(c.dir, 'web.json'),
    list(
      makeService(NS, 'web', { clusterIP: VIP, ports: [{ name: 'http', port: 80, targetPort: 'http' }] }),
      makeSlice(NS, 'web-a', 'web', { ports: [{ name: 'http', port: 8080 }], endpoints: endpointsOf(c.pods) }),
    ),
  ),
);
beforeAll(() => void ({ cluster, agent } = ctx));

const bpfAttached = () => attachedPrograms(cluster.nodes[0]);
const chains = (save = 'iptables-nft-save') => inNs(cluster.node, save, []).split('\n').filter((l) => l.includes('XLB-')).length;
const nftTable = () => inNs(cluster.node, 'nft', ['list', 'tables', 'ip']).includes('table ip xlb');
const served = () => cluster.probe(`${VIP}:80`, 'tcp', 10).errors;
/** What the last agent that failed to start said (lbctl's "lbctl: MESSAGE" line). */
const lastError = () => agent.log.filter((l) => l.startsWith('lbctl: ')).at(-1);

async function restart(mode: string, wrap: string[] = []): Promise<void> {
  expect(await agent.stop()).toBe(0);
  agent.start(['--mode', mode], wrap);
  await agent.waitForSync(agent.syncs());
}

/** A node whose kernel refuses bpf() to the agent: CAP_BPF, CAP_SYS_ADMIN and CAP_PERFMON gone (CAP_NET_ADMIN kept for nft and iptables). */
const WITHOUT_BPF = ['setpriv', '--bounding-set', '-bpf,-sys_admin,-perfmon', '--inh-caps', '-bpf,-sys_admin,-perfmon', '--'];

describe('datapath modes', () => {
  it('iptables mode programs chains and attaches no program', () => {
    expect(served()).toEqual({});
    expect(chains()).toBeGreaterThan(0);
    expect(bpfAttached()).toEqual([]);
    expect(nftTable()).toBe(false);
  });

  it('bpf mode removes our iptables chains', async () => {
    await restart('bpf');
    expect(served()).toEqual({});
    expect(bpfAttached()).toEqual(BPF_ATTACHED);
    expect(chains()).toBe(0);
    expect(nftTable()).toBe(false);
  });

  it('nftables mode detaches our programs and removes our pins', async () => {
    await restart('nftables');
    expect(served()).toEqual({});
    expect(nftTable()).toBe(true);
    expect(bpfAttached()).toEqual([]);
    expect(fs.existsSync(path.join(agent.bpffs, 'xlb_services'))).toBe(false);
    expect(chains()).toBe(0);
  });

  it('bpf mode removes our nftables table', async () => {
    await restart('bpf');
    expect(served()).toEqual({});
    expect(bpfAttached()).toEqual(BPF_ATTACHED);
    expect(nftTable()).toBe(false);
  });

  it('iptables mode detaches our programs and removes our pins', async () => {
    await restart('iptables');
    expect(served()).toEqual({});
    expect(bpfAttached()).toEqual([]);
    expect(fs.existsSync(path.join(agent.bpffs, 'xlb_services'))).toBe(false);
    expect(chains()).toBeGreaterThan(0);
  });

  it('nftables mode removes our iptables chains, and iptables mode our nftables table', async () => {
    await restart('nftables');
    expect(served()).toEqual({});
    expect(chains()).toBe(0);
    expect(nftTable()).toBe(true);
    await restart('iptables');
    expect(served()).toEqual({});
    expect(nftTable()).toBe(false);
    expect(chains()).toBeGreaterThan(0);
  });

  it('auto falls back to nftables when the kernel refuses eBPF (EPERM), saying why in one line', async () => {
    await restart('bpf');
    await restart('auto', WITHOUT_BPF);
    const why = agent.log.filter((l) => l.includes('falling back'));
    expect(why).toHaveLength(1);
    expect(why[0]).toContain('eBPF unavailable, falling back to nftables');
    expect(why[0]).toContain('Operation not permitted');
    expect(agent.log.filter((l) => l.includes('agent starting')).at(-1)).toContain('"mode":"nftables"');
    expect(served()).toEqual({});
    expect(bpfAttached()).toEqual([]);
    expect(nftTable()).toBe(true);
    expect(chains()).toBe(0);
  });

  it('bpf mode on such a node stops the agent, saying why', async () => {
    expect(await agent.stop()).toBe(0);
    agent.start(['--mode', 'bpf'], WITHOUT_BPF);
    await expect(agent.waitForSync(agent.syncs())).rejects.toThrow('agent exited (1)');
    expect(lastError()).toContain('Operation not permitted');
    agent.start(['--mode', 'iptables']);
    await agent.waitForSync(agent.syncs());
  });

  it('auto does not hide a failure that is not the node lacking eBPF: the agent stops, saying why', async () => {
    expect(await agent.stop()).toBe(0);
    // A wrong flag, not a kernel without eBPF: a directory that is no cgroup v2 one.
    agent.start(['--mode', 'auto', '--cgroup', os.tmpdir()]);
    await expect(agent.waitForSync(agent.syncs())).rejects.toThrow('agent exited (1)');
    expect(lastError()).toContain(`--cgroup ${os.tmpdir()} is not a cgroup v2 directory`);
    expect(agent.log.filter((l) => l.includes('falling back')).length).toBe(1); // only the earlier run's
    agent.start(['--mode', 'iptables']);
    await agent.waitForSync(agent.syncs());
  });

  it('auto uses eBPF when it works', async () => {
    await restart('auto');
    expect(agent.log.filter((l) => l.includes('falling back')).length).toBe(1); // only the earlier run's
    expect(bpfAttached()).toEqual(BPF_ATTACHED);
    expect(chains()).toBe(0);
    expect(nftTable()).toBe(false);
    expect(served()).toEqual({});
  });

  it('programs the legacy backend on a host whose rules live there, however many there are', async () => {
    // More than 1 MiB of iptables-save output: a big ruleset must not look like a broken backend.
    const many = Array.from({ length: 12_000 }, (_, i) => `-A HOST-RULES -s 198.18.${i >> 8}.${i & 255}/32 -m comment --comment "a legacy host rule, number ${i}" -j RETURN`);
    const file = path.join(os.tmpdir(), `xlb-legacy-rules-${process.pid}`);
    try {
      fs.writeFileSync(file, ['*filter', ':HOST-RULES - [0:0]', '-A INPUT -j HOST-RULES', ...many, 'COMMIT', ''].join('\n'));
      inNs(cluster.node, 'iptables-legacy-restore', ['--noflush', file]);
    } finally {
      fs.rmSync(file, { force: true });
    }
    expect(inNs(cluster.node, 'iptables-legacy-save', []).length).toBeGreaterThan(1 << 20);
    await restart('iptables');
    expect(agent.log.filter((l) => l.includes('agent starting')).at(-1)).toContain('"iptables":"legacy"');
    expect(chains('iptables-legacy-save')).toBeGreaterThan(0);
    expect(chains('iptables-nft-save')).toBe(0);
    expect(served()).toEqual({});
    expect(await agent.stop()).toBe(0);
    agent.cleanup();
    expect(chains('iptables-legacy-save')).toBe(0);
    agent.start();
    await agent.waitForSync(agent.syncs());
  });
});
