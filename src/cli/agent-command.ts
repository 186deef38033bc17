// `lbctl agent`: program the node's datapath from a source and keep it in sync.
import fs from 'node:fs';
import os from 'node:os';
import { isIPv4 } from 'node:net';
import type { Logger } from 'pino';
import { Agent } from '../agent.js';
import { ensureBpffs } from '../dataplane/bpf/bpffs.js';
import { ACCELERATIONS, attachDevices, attachSockets, detachDevices, loadPrograms, removePins, type Acceleration } from '../dataplane/bpf/programs.js';
import { checkCgroup } from '../dataplane/bpf/cgroup.js';
import { checkKernelBtf } from '../dataplane/bpf/support.js';
import { BpfDataplane, flowTables } from '../dataplane/bpf/dataplane.js';
import { bpfMaglevTables } from '../dataplane/bpf/maglev-pool.js';
import { BpfReconciler } from '../dataplane/bpf/reconciler.js';
import { threadTables } from '../dataplane/bpf/table-builder.js';
import { capacityOf, mapSizes } from '../dataplane/bpf/capacity.js';
import { IptablesDataplane, iptablesCleanup } from '../dataplane/iptables/dataplane.js';
import { NftablesDataplane } from '../dataplane/nftables/dataplane.js';
import { nftablesCleanup } from '../dataplane/nftables/nft.js';
import { nftablesUnsupported } from '../dataplane/nftables/support.js';
import type { Dataplane } from '../dataplane/types.js';
import { chooseDataplane, MODE_FLAGS, type ModeFlag } from '../dataplane/choose.js';
import { ManifestSource } from '../sources/manifests.js';
import { KubeSource } from '../sources/kube/kube-source.js';
import { HealthServer } from '../health/health-server.js';
import { deviceIPv4s } from './node-ips.js';
import { AgentStatus, statusFile, type DeviceStatus } from '../observe/status.js';
import { native } from '../dataplane/bpf/native.js';
import { AgentMetrics } from '../observe/metrics.js';
import { parseAddr, serveMetrics } from '../observe/http.js';
import type { DeviceHook } from '../dataplane/bpf/programs.js';

export interface AgentOptions {
  manifests?: string;
  kubeconfig?: string;
  nodeName?: string;
  nodeIp?: string;
  proxyName?: string;
  devices: string;
  mode: string;
  bpffs: string;
  /** the cgroup v2 directory whose processes get socket-level load balancing */
  cgroup: string;
  acceleration: string;
  /** map capacities (see mapSizes); default: the object's */
  maxServices?: string;
  maxBackends?: string;
  natTableSize?: string;
  /** HOST:PORT of /healthz, /readyz and /metrics; "" for none */
  metricsAddr: string;
  /** seconds the API server may be unreachable before /readyz says not ready */
  unreachableGrace: string;
  logLevel: string;
  cleanup?: boolean;
}

export class UsageError extends Error {}

/** The map sizes the flags ask for, by map name. */
function sizesOf(opts: AgentOptions): Record<string, number> {
  try {
    return mapSizes({ '--max-services': opts.maxServices, '--max-backends': opts.maxBackends, '--nat-table-size': opts.natTableSize });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export function parseList(v: string | undefined): string[] {
  return (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * Removes everything an agent of any mode made. With `cgroup`, programs of ours
 * still attached there are detached even when their pins are gone.
 */
export function cleanup(opts: { devices: string; bpffs: string; cgroup?: string }, log: Logger): void {
  removeBpf(parseList(opts.devices), opts.bpffs, opts.cgroup, log);
  removeNftables(log);
  removeIptables(log);
  fs.rmSync(statusFile(opts.bpffs), { force: true });
}

function removeBpf(devices: string[], bpffs: string, cgroup: string | undefined, log: Logger): void {
  const failed = detachDevices(devices);
  const removed = removePins(bpffs, cgroup);
  for (const [device, why] of Object.entries(failed)) log.warn({ device }, `could not detach: ${why}`);
  if (devices.length || removed.length) log.info({ devices, removedPins: removed }, 'removed xlb programs and maps');
}

function removeNftables(log: Logger): void {
  try {
    if (nftablesCleanup()) log.info('removed the xlb nftables table');
  } catch (err) {
    log.debug({ err }, 'no nftables to clean up');
  }
}

function removeIptables(log: Logger): void {
  try {
    if (iptablesCleanup()) log.info('removed xlb iptables chains');
  } catch (err) {
    log.debug({ err }, 'no iptables to clean up');
  }
}

/**
 * The eBPF datapath: loads the programs and maps and attaches them to the devices and
 * the cgroup (the probe of --mode auto). When an upgrade rebuilt the configuration
 * maps, attaching waits for the first full sync: the programs already attached keep
 * serving from the old maps until the new ones hold the whole state (`attached`
 * reports the devices then).
 */
async function bpfDataplane(opts: AgentOptions, devices: string[], nodeIps: string[], log: Logger, attached: (d: Record<string, DeviceStatus>) => void): Promise<Dataplane> {
  checkCgroup(opts.cgroup);
  checkKernelBtf();
  ensureBpffs(opts.bpffs);
  const programs = await loadPrograms(opts.bpffs, sizesOf(opts), log);
  // SNATed flows leave a device with its node IP, else its first address.
  const snatAddr = (dev: string) => {
    const own = deviceIPv4s([dev]);
    return own.find((ip) => nodeIps.includes(ip)) ?? own[0];
  };
  const attach = () => {
    const hooks = attachDevices(programs, devices, opts.acceleration as Acceleration, snatAddr);
    attachSockets(programs, opts.cgroup, opts.bpffs);
    log.info({ devices: hooks, cgroup: opts.cgroup, bpffs: opts.bpffs }, 'eBPF datapath attached');
    attached(deviceStatus(hooks));
  };
  const deferred = programs.upgrade.rebuilt.length > 0;
  if (deferred) log.info({ rebuilt: programs.upgrade.rebuilt }, 'new maps: the programs are attached once the first full state is written to them');
  else attach();
  const m = programs.maps;
  return new BpfDataplane(new BpfReconciler(m, bpfMaglevTables(m.maglev), log, capacityOf(m), threadTables()), m, programs.sweepFd, opts.cgroup, flowTables(m), log, deferred ? attach : undefined);
}

/** What the kernel attached to each device, as lbctl status shows it. */
function deviceStatus(hooks: Record<string, DeviceHook>): Record<string, DeviceStatus> {
  const out: Record<string, DeviceStatus> = {};
  for (const [dev, hook] of Object.entries(hooks)) {
    const ifindex = native().ifIndex(dev);
    const xdp = native().xdpQuery(ifindex).id;
    out[dev] = { hook, ifindex, ...(xdp ? { xdp } : {}), tcIngress: native().tcQuery(ifindex, 'ingress'), tcEgress: native().tcQuery(ifindex, 'egress') };
  }
  return out;
}

/** Interfaces of this network namespace (/proc/self/net follows the netns; sysfs may not). */
function interfaces(): Set<string> {
  const lines = fs.readFileSync('/proc/self/net/dev', 'utf8').split('\n').slice(2);
  return new Set(lines.map((l) => l.split(':')[0]!.trim()).filter(Boolean));
}

export async function runAgent(opts: AgentOptions, log: Logger): Promise<void> {
  const devices = parseList(opts.devices);
  if (devices.length === 0) throw new UsageError('--devices is required: the interfaces external traffic arrives on (e.g. --devices eth0)');
  if (opts.cleanup) return cleanup(opts, log);
  if (!MODE_FLAGS.includes(opts.mode as ModeFlag)) throw new UsageError(`--mode ${opts.mode}: must be ${MODE_FLAGS.join(', ')}`);
  if (!ACCELERATIONS.includes(opts.acceleration as Acceleration)) throw new UsageError(`--acceleration ${opts.acceleration}: must be ${ACCELERATIONS.join(', ')}`);
  sizesOf(opts);
  if (opts.manifests && opts.kubeconfig) throw new UsageError('give either --manifests or --kubeconfig, not both');
  if (opts.metricsAddr) {
    try {
      parseAddr(opts.metricsAddr);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  const graceS = Number(opts.unreachableGrace);
  if (!Number.isFinite(graceS) || graceS < 0) throw new UsageError(`--unreachable-grace ${opts.unreachableGrace}: must be a number of seconds`);
  const known = interfaces();
  const missing = devices.find((d) => !known.has(d));
  if (missing) throw new UsageError(`--devices: no interface ${missing} in this network namespace (run the agent in the node's netns)`);
  const nodeIps = opts.nodeIp ? parseList(opts.nodeIp) : deviceIPv4s(devices);
  const bad = nodeIps.find((ip) => !isIPv4(ip));
  if (bad) throw new UsageError(`--node-ip ${bad}: not an IPv4 address`);
  const node = { name: opts.nodeName ?? os.hostname(), ips: nodeIps, proxyName: opts.proxyName };
  if (nodeIps.length === 0 && opts.manifests) log.warn({ devices }, 'no IPv4 address on the devices and no --node-ip: NodePorts are not served');

  // Bad input fails here, before anything is loaded, attached or pinned.
  const source = opts.manifests ? new ManifestSource(opts.manifests, log) : new KubeSource({ kubeconfig: opts.kubeconfig, nodeName: node.name }, log);
  const status = new AgentStatus({ bpffs: opts.bpffs, node, metricsAddr: opts.metricsAddr || undefined, graceMs: graceS * 1000, file: statusFile(opts.bpffs) }, log);
  let dataplane: Dataplane | undefined;
  const metrics = new AgentMetrics(status, () => dataplane);
  // Up before the datapath: liveness holds while the agent loads, readiness waits for the first sync.
  const server = opts.metricsAddr ? serveMetrics(opts.metricsAddr, status, metrics, log) : undefined;
  // Loads while the source lists (Agent.start): the eBPF programs on a worker thread.
  const loading = chooseDataplane(
    opts.mode as ModeFlag,
    {
      bpf: () => bpfDataplane(opts, devices, nodeIps, log, (d) => status.dataplane({ devices: d })),
      nftables: () => new NftablesDataplane(log),
      iptables: () => new IptablesDataplane(log),
      nftablesUnsupported,
      removeBpf: () => removeBpf(devices, opts.bpffs, opts.cgroup, log),
      removeNftables: () => removeNftables(log),
      removeIptables: () => removeIptables(log),
    },
    log,
  ).then((dp) => {
    dataplane = dp;
    const iptables = dp instanceof IptablesDataplane ? dp.variant.name : undefined;
    status.dataplane({ mode: dp.mode, iptables, cgroup: dp.mode === 'bpf' ? opts.cgroup : undefined });
    log.info({ mode: dp.mode, ...(iptables ? { iptables } : {}), node }, 'agent starting');
    return dp;
  });
  const agent = new Agent(source, loading, new HealthServer(log), node, opts.nodeIp !== undefined, { status, metrics }, log);
  await agent.start();

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      // The datapath stays: traffic keeps flowing and a new agent picks it up.
      log.info({ signal }, 'agent stopping; datapath left in place');
      agent.stop();
      server?.close();
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
