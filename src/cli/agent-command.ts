// `lbctl agent`: program the node's datapath from a source and keep it in sync.
import os from 'node:os';
import { isIPv4 } from 'node:net';
import type { Logger } from 'pino';
import { Agent } from '../agent.js';
import { ensureBpffs } from '../dataplane/bpf/bpffs.js';
import { attachDevices, detachDevices, loadPrograms, removePins } from '../dataplane/bpf/programs.js';
import { bpfMaglevTables } from '../dataplane/bpf/maglev-tables.js';
import { BpfReconciler } from '../dataplane/bpf/reconciler.js';
import { ManifestSource } from '../sources/manifests.js';
import { KubeSource } from '../sources/kube/kube-source.js';
import { HealthServer } from '../health/health-server.js';
import { deviceIPv4s } from './node-ips.js';
import { native } from '../dataplane/bpf/native.js';

export interface AgentOptions {
  manifests?: string;
  kubeconfig?: string;
  nodeName?: string;
  nodeIp?: string;
  proxyName?: string;
  devices: string;
  mode: string;
  bpffs: string;
  cgroup: string;
  logLevel: string;
  cleanup?: boolean;
}

export class UsageError extends Error {}

export function parseList(v: string | undefined): string[] {
  return (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

export function cleanup(opts: Pick<AgentOptions, 'devices' | 'bpffs'>, log: Logger): void {
  const devices = parseList(opts.devices);
  const failed = detachDevices(devices);
  const removed = removePins(opts.bpffs);
  for (const [device, why] of Object.entries(failed)) log.warn({ device }, `could not detach: ${why}`);
  log.info({ devices, removedPins: removed }, 'removed xlb programs and maps');
}

export async function runAgent(opts: AgentOptions, log: Logger): Promise<void> {
  const devices = parseList(opts.devices);
  if (devices.length === 0) throw new UsageError('--devices is required: the interfaces external traffic arrives on (e.g. --devices eth0)');
  if (opts.cleanup) return cleanup(opts, log);
  if (!['auto', 'bpf', 'iptables'].includes(opts.mode)) throw new UsageError(`--mode ${opts.mode}: must be auto, bpf or iptables`);
  if (opts.mode === 'iptables') throw new UsageError('--mode iptables is not available yet in this build: use --mode bpf (or auto)');
  if (opts.manifests && opts.kubeconfig) throw new UsageError('give either --manifests or --kubeconfig, not both');
  const nodeIps = opts.nodeIp ? parseList(opts.nodeIp) : deviceIPv4s(devices);
  const bad = nodeIps.find((ip) => !isIPv4(ip));
  if (bad) throw new UsageError(`--node-ip ${bad}: not an IPv4 address`);
  const node = { name: opts.nodeName ?? os.hostname(), ips: nodeIps, proxyName: opts.proxyName };
  if (nodeIps.length === 0 && opts.manifests) log.warn({ devices }, 'no IPv4 address on the devices and no --node-ip: NodePorts are not served');

  // Bad input fails here, before anything is loaded, attached or pinned.
  for (const dev of devices) native().ifIndex(dev);
  const source = opts.manifests ? new ManifestSource(opts.manifests, log) : new KubeSource({ kubeconfig: opts.kubeconfig, nodeName: node.name }, log);

  ensureBpffs(opts.bpffs);
  const programs = loadPrograms(opts.bpffs);
  const xdpModes = attachDevices(programs, devices);
  log.info({ devices: xdpModes, bpffs: opts.bpffs, node }, 'eBPF datapath attached');

  const dataplane = new BpfReconciler(programs.maps, bpfMaglevTables(programs.maps.maglev));
  const agent = new Agent(source, dataplane, new HealthServer(log), node, opts.nodeIp !== undefined, log);
  await agent.start();

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      // Programs and pinned maps stay: traffic keeps flowing and a new agent picks them up.
      log.info({ signal }, 'agent stopping; datapath left in place');
      agent.stop();
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
