// A new build starting over what an older one left on a live node: its programs still
// attached, serving from maps of which one is pinned in another layout. The agent
// rebuilds the configuration maps, attaches its programs only once they hold the whole
// state, and established connections keep their backends throughout.
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { NODE_IP, writeFileAtomic, type Cluster, type Pod } from '../testbed/topology.js';
import type { AgentProcess } from '../testbed/agent-process.js';
import { native } from '../../src/dataplane/bpf/native.js';
import { BPF_OBJECT_DIR } from '../../src/dataplane/bpf/programs.js';
import { endpointsOf, NS, useAgentCluster } from '../helpers/agent-cluster.js';
import { testBpffs } from '../helpers/bpffs.js';
import { list, makeService, makeSlice } from '../fixtures/k8s.js';

const OLD_OBJECT = path.join(BPF_OBJECT_DIR, 'testing/old_layout.bpf.o');
const HTTP = [{ name: 'http', port: 8080, protocol: 'TCP' as const }];

let cluster: Cluster;
let agent: AgentProcess;
let pods: Pod[];

const answering = (n: number) => Object.keys(cluster.probe(`${NODE_IP}:30600`, 'tcp', n).answers).sort();

/** Pins the old build's xlb_services (another value layout) in place of the agent's. */
function pinOldServicesMap(bpffs: string): void {
  const old = testBpffs('upgrade-old');
  try {
    for (const fd of Object.values(native().loadObject(OLD_OBJECT, old.dir).maps)) native().closeFd(fd);
    fs.rmSync(path.join(bpffs, 'xlb_services'));
    fs.renameSync(path.join(old.dir, 'xlb_services'), path.join(bpffs, 'xlb_services'));
  } finally {
    old.remove();
  }
}

describe('upgrading over an older build', () => {
  const ctx = useAgentCluster('upg', { pods: 3, tcpPorts: [8080] }, 'bpf', (c) =>
    writeFileAtomic(
      path.join(c.dir, 'svc.json'),
      list(
        makeService(NS, 'web', { type: 'NodePort', clusterIP: '198.19.6.10', ports: [{ name: 'http', port: 80, targetPort: 'http', nodePort: 30600 }] }),
        makeSlice(NS, 'web-a', 'web', { ports: HTTP, endpoints: endpointsOf(c.pods) }),
      ),
    ),
  );
  beforeAll(() => void ({ cluster, agent, pods } = ctx));

  it('rebuilds maps of another layout, attaches after the first full sync, and keeps established connections', async () => {
    const conn = await cluster.keepAliveClient(`${NODE_IP}:30600`);
    try {
      const first = await conn.ask();
      await agent.stop();
      pinOldServicesMap(agent.bpffs);
      // The attached programs still serve from the maps they hold.
      expect(answering(30)).toEqual(pods.map((p) => p.name).sort());
      const from = agent.log.length;
      agent.start();
      await agent.waitForSync(agent.syncs());
      // The attach is logged after the sync line, maybe in a later read of the agent's stderr.
      await expect.poll(() => agent.log.slice(from).some((l) => l.includes('"eBPF datapath attached"')), { timeout: 5000 }).toBe(true);
      const log = agent.log.slice(from);
      const at = (re: RegExp) => log.findIndex((l) => re.test(l));
      expect(at(/"xlb_services: .*rebuilt/)).toBeGreaterThanOrEqual(0);
      expect(at(/attached once the first full state/)).toBeGreaterThanOrEqual(0);
      expect(at(/"eBPF datapath attached"/)).toBeGreaterThan(at(/"dataplane synced"/));
      expect(await conn.ask()).toBe(first);
      expect(answering(30)).toEqual(pods.map((p) => p.name).sort());
      const dump = agent.dump();
      expect(dump.services.find((s) => s.frontend === `${NODE_IP}:30600/TCP`)?.backends).toHaveLength(3);
    } finally {
      conn.close();
    }
  });
});
