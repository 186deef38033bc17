// Loads the compiled objects (sharing pinned maps) and attaches them to the devices.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { native, type XdpMode } from './native.js';
import { MAP_NAMES, typedMaps, type MapName, type XlbMaps } from './maps.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** build/bpf of the checkout, the same depth from src/ and dist/. */
export const BPF_OBJECT_DIR = path.resolve(here, '../../../build/bpf');

export const OBJECTS = { xdp: 'xdp_lb.bpf.o', tc: 'tc_rnat.bpf.o' } as const;
/** The benchmark wrappers (make bench), not part of the datapath. */
export const BENCH_OBJECT = 'bench.bpf.o';
export const PROGRAMS = { xdp: 'xlb_xdp', tc: 'xlb_tc_egress' } as const;

export interface LoadedPrograms {
  maps: XlbMaps;
  xdpFd: number;
  tcFd: number;
}

export function objectPath(name: string): string {
  const p = path.join(BPF_OBJECT_DIR, name);
  if (!fs.existsSync(p)) throw new Error(`BPF object ${p} is missing: run "make bpf"`);
  return p;
}

/** Loads both programs; maps already pinned under `bpffs` are reused, so flows survive restarts. */
export function loadPrograms(bpffs: string): LoadedPrograms {
  const xdp = native().loadObject(objectPath(OBJECTS.xdp), bpffs);
  const tc = native().loadObject(objectPath(OBJECTS.tc), bpffs);
  const fds = {} as Record<MapName, number>;
  for (const name of MAP_NAMES) {
    const fd = xdp.maps[name] ?? tc.maps[name];
    if (fd === undefined) throw new Error(`BPF objects define no map ${name}: rebuild with "make bpf"`);
    fds[name] = fd;
  }
  const xdpFd = xdp.progs[PROGRAMS.xdp];
  const tcFd = tc.progs[PROGRAMS.tc];
  if (xdpFd === undefined || tcFd === undefined) throw new Error('BPF objects lack xlb_xdp or xlb_tc_egress: rebuild with "make bpf"');
  return { maps: typedMaps(fds), xdpFd, tcFd };
}

export function attachDevices(p: LoadedPrograms, devices: string[], mode: XdpMode | 'auto' = 'auto'): Record<string, XdpMode> {
  const used: Record<string, XdpMode> = {};
  for (const dev of devices) {
    const ifindex = native().ifIndex(dev);
    used[dev] = native().xdpAttach(ifindex, p.xdpFd, mode);
    native().tcAttachEgress(ifindex, p.tcFd);
  }
  return used;
}

/** Detaches from every device it can; returns the devices it could not, with why. */
export function detachDevices(devices: string[]): Record<string, string> {
  const failed: Record<string, string> = {};
  for (const dev of devices) {
    try {
      const ifindex = native().ifIndex(dev);
      native().xdpDetach(ifindex);
      native().tcDetachEgress(ifindex);
    } catch (err) {
      failed[dev] = (err as Error).message;
    }
  }
  return failed;
}

/** Removes our pins (and their directory if empty); the kernel frees the maps once no program uses them. */
export function removePins(bpffs: string): string[] {
  const removed: string[] = [];
  for (const name of MAP_NAMES) {
    const pin = path.join(bpffs, name);
    if (fs.existsSync(pin)) {
      fs.rmSync(pin);
      removed.push(pin);
    }
  }
  // The directory too, when nothing else is left in it.
  try {
    fs.rmdirSync(bpffs);
  } catch {
    // not empty, a mount point, or already gone: leave it
  }
  return removed;
}
