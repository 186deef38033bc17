// Loads the compiled objects (sharing pinned maps), attaches them to the devices and
// to the cgroup, and removes all of it again.
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { native, type LoadedObject } from './native.js';
import { MAP_NAMES, typedMaps, type MapName, type XlbMaps } from './maps.js';
import { DEVICE_F_XDP } from './codec.js';
import { preparePins, UPGRADING_SUFFIX, type UpgradeReport } from './layout.js';
import { createLogger } from '../../log.js';
import { INSTALL_ROOT } from '../../install-root.js';
import { OBJECTS as CONTRACT_OBJECTS } from './contract.js';

export const BPF_OBJECT_DIR = path.join(INSTALL_ROOT, 'build/bpf');

type ProgramOf<O extends keyof typeof CONTRACT_OBJECTS> = (typeof CONTRACT_OBJECTS)[O]['programs'][number];

/** The objects the agent loads, by role (each one the contract names). */
export const OBJECTS = { xdp: 'xdp_lb.bpf.o', tc: 'tc_lb.bpf.o', sock: 'sock_lb.bpf.o' } as const satisfies Record<string, keyof typeof CONTRACT_OBJECTS>;
export const PROGRAMS = {
  xdp: 'xlb_xdp' satisfies ProgramOf<typeof OBJECTS.xdp>,
  tcIngress: 'xlb_tc_ingress' satisfies ProgramOf<typeof OBJECTS.tc>,
  tcEgress: 'xlb_tc_egress' satisfies ProgramOf<typeof OBJECTS.tc>,
  sweep: 'xlb_sock_sweep' satisfies ProgramOf<typeof OBJECTS.sock>,
} as const;
/** Attached at --cgroup, each through a link pinned under <bpffs>/links/<name>: every program of the socket object but the sweep iterator. */
export const SOCKET_PROGRAMS = CONTRACT_OBJECTS[OBJECTS.sock].programs.filter((p): p is Exclude<ProgramOf<typeof OBJECTS.sock>, typeof PROGRAMS.sweep> => p !== PROGRAMS.sweep);
/** Every program's name starts so (how cleanup knows ours on a cgroup). */
export const PROGRAM_PREFIX = 'xlb_';
const LINKS_DIR = 'links';

export interface SocketProgram {
  name: (typeof SOCKET_PROGRAMS)[number];
  fd: number;
  attachType: number;
}

export interface LoadedPrograms {
  maps: XlbMaps;
  xdpFd: number;
  tcIngressFd: number;
  tcEgressFd: number;
  socket: SocketProgram[];
  /** the UDP socket iterator that destroys sockets whose backend left (sock_lb.bpf.c's xlb_sock_sweep) */
  sweepFd: number;
  /** pinned maps of another layout: migrated ones, and rebuilt ones to write in full before attaching */
  upgrade: UpgradeReport;
}

export function objectPath(name: string): string {
  const p = path.join(BPF_OBJECT_DIR, name);
  if (!fs.existsSync(p)) throw new Error(`BPF object ${p} is missing: run "make bpf"`);
  return p;
}

/**
 * Loads every program; maps already pinned under `bpffs` are reused, so flows survive
 * restarts, and pinned by an older build with another layout are migrated or rebuilt
 * first (layout.ts, which logs each). `sizes` overrides maps' capacities (by name)
 * where they are created: a pinned map keeps its own.
 */
export async function loadPrograms(bpffs: string, sizes: Partial<Record<MapName, number>> = {}, log: Logger = createLogger()): Promise<LoadedPrograms> {
  const objects = Object.values(OBJECTS).map(objectPath);
  const pins = preparePins(bpffs, objects, sizes, log);
  // One after another (the first creates and pins the maps the others reuse), each on a
  // worker thread, so that the agent lists its objects meanwhile.
  const loaded: LoadedObject[] = [];
  for (const o of objects) loaded.push(await native().loadObjectAsync(o, bpffs, pins.sizes));
  const prog = (name: string) => {
    const obj = loaded.find((o) => o.progs[name] !== undefined);
    if (!obj) throw new Error(`BPF objects lack program ${name}: rebuild with "make bpf"`);
    return { fd: obj.progs[name]!, attachType: obj.attachTypes[name]! };
  };
  const fds = {} as Record<MapName, number>;
  for (const name of MAP_NAMES) {
    const fd = loaded.find((o) => o.maps[name] !== undefined)?.maps[name];
    if (fd === undefined) throw new Error(`BPF objects define no map ${name}: rebuild with "make bpf"`);
    fds[name] = fd;
  }
  return {
    maps: typedMaps(fds),
    xdpFd: prog(PROGRAMS.xdp).fd,
    tcIngressFd: prog(PROGRAMS.tcIngress).fd,
    tcEgressFd: prog(PROGRAMS.tcEgress).fd,
    socket: SOCKET_PROGRAMS.map((name) => ({ name, ...prog(name) })),
    sweepFd: prog(PROGRAMS.sweep).fd,
    upgrade: pins.report,
  };
}

/** --acceleration: XDP where it pays (auto), XDP or fail (xdp), tc everywhere (off). */
export type Acceleration = 'auto' | 'xdp' | 'off';
export const ACCELERATIONS: readonly Acceleration[] = ['auto', 'xdp', 'off'];
export type DeviceHook = 'xdp' | 'tc';

/**
 * Which hook balances a device's incoming packets. XDP pays only on a driver with
 * native XDP that is not veth: a veth hands XDP packets whose checksums are still
 * partial and never delivers XDP_TX answers to a peer without an XDP program of its
 * own, while tc handles every device and checksum state.
 */
function ingressHook(dev: string, ifindex: number, p: LoadedPrograms, acceleration: Acceleration): DeviceHook {
  if (acceleration === 'off') return 'tc';
  const driver = native().ifDriver(dev);
  if (acceleration === 'auto' && (driver === 'veth' || driver === '')) return 'tc';
  try {
    native().xdpAttach(ifindex, p.xdpFd, 'native');
    return 'xdp';
  } catch (err) {
    if (acceleration === 'xdp') {
      throw new Error(`--acceleration xdp: device ${dev} (driver ${driver || 'unknown'}) has no native XDP: ${(err as Error).message}; use --acceleration auto or off`);
    }
    return 'tc';
  }
}

/**
 * Attaches to every device; returns the hook balancing each one's incoming packets.
 * tc ingress is always there: behind XDP it takes the flows XDP leaves to it (SNAT to
 * remote backends and their replies). `snatAddr` is the address a device's SNATed
 * flows leave with (none: flows to remote backends through it are dropped).
 */
export function attachDevices(p: LoadedPrograms, devices: string[], acceleration: Acceleration, snatAddr: (dev: string) => string | undefined): Record<string, DeviceHook> {
  const used: Record<string, DeviceHook> = {};
  const ifindexes = new Set<number>();
  for (const dev of devices) {
    const ifindex = native().ifIndex(dev);
    ifindexes.add(ifindex);
    used[dev] = ingressHook(dev, ifindex, p, acceleration);
    // Before tc ingress runs: it must know whether XDP is in front of it.
    p.maps.devices.set(ifindex, { snat_addr: snatAddr(dev) ?? '0.0.0.0', flags: used[dev] === 'xdp' ? DEVICE_F_XDP : 0 });
    if (used[dev] === 'tc') native().xdpDetach(ifindex);
    native().tcAttach(ifindex, p.tcIngressFd, 'ingress');
    native().tcAttach(ifindex, p.tcEgressFd, 'egress');
  }
  // Devices of an earlier run that are not ours any more.
  for (const [ifindex] of p.maps.devices.entries()) if (!ifindexes.has(ifindex)) p.maps.devices.delete(ifindex);
  return used;
}

/** Detaches from every device it can; returns the devices it could not, with why. */
export function detachDevices(devices: string[]): Record<string, string> {
  const failed: Record<string, string> = {};
  for (const dev of devices) {
    try {
      const ifindex = native().ifIndex(dev);
      native().xdpDetach(ifindex);
      native().tcDetach(ifindex, 'ingress');
      native().tcDetach(ifindex, 'egress');
    } catch (err) {
      failed[dev] = (err as Error).message;
    }
  }
  return failed;
}

/**
 * Attaches the socket programs at `cgroup` (they then see every socket of its
 * processes, and of its descendants'). A link pinned by an earlier agent for the same
 * cgroup gets the new program atomically: no connect() goes unbalanced meanwhile.
 */
export function attachSockets(p: LoadedPrograms, cgroup: string, bpffs: string): void {
  fs.mkdirSync(path.join(bpffs, LINKS_DIR), { recursive: true });
  for (const prog of p.socket) native().cgroupAttach(prog.fd, prog.attachType, cgroup, path.join(bpffs, LINKS_DIR, prog.name));
}

/**
 * Removes our pins (maps and the socket programs' links, which detaches them) and
 * their directory if empty; the kernel frees the maps once no program uses them.
 * With `cgroup`, also detaches any program of ours still attached there.
 */
export function removePins(bpffs: string, cgroup?: string): string[] {
  const removed: string[] = [];
  const remove = (pin: string) => {
    if (!fs.existsSync(pin)) return;
    fs.rmSync(pin);
    removed.push(pin);
  };
  for (const name of SOCKET_PROGRAMS) remove(path.join(bpffs, LINKS_DIR, name));
  for (const name of MAP_NAMES) {
    remove(path.join(bpffs, name));
    remove(path.join(bpffs, `${name}${UPGRADING_SUFFIX}`)); // a migration a crash cut short
  }
  if (cgroup && fs.existsSync(cgroup)) native().cgroupDetach(cgroup, PROGRAM_PREFIX);
  // The directories too, when nothing else is left in them.
  for (const dir of [path.join(bpffs, LINKS_DIR), bpffs]) {
    try {
      fs.rmdirSync(dir);
    } catch {
      // not empty, a mount point, or already gone: leave it
    }
  }
  return removed;
}
