// The cgroup v2 tree the socket programs attach to, and the network namespaces of
// the processes in it.
import fs from 'node:fs';
import path from 'node:path';
import { BpfUnsupported } from './support.js';

/** The host's cgroup v2 mount (e.g. /sys/fs/cgroup or /sys/fs/cgroup/unified), from mountinfo. */
export function cgroup2Mount(mountinfo = fs.readFileSync('/proc/self/mountinfo', 'utf8')): string | undefined {
  for (const line of mountinfo.split('\n')) {
    // "<id> <parent> <dev> <root> <mount point> <options> ... - <fs type> <source> <super options>"
    const [left, right] = line.split(' - ');
    if (right?.split(' ')[0] === 'cgroup2') return left!.split(' ')[4]?.replace(/\\040/g, ' ');
  }
  return undefined;
}

/** Checks that `dir` is a cgroup v2 directory, with a message saying what to pass instead. */
export function checkCgroup(dir: string): void {
  if (!dir) throw new BpfUnsupported('no cgroup v2 filesystem is mounted: socket-level load balancing needs one (mount -t cgroup2 none /sys/fs/cgroup), or pass --cgroup');
  if (!fs.existsSync(path.join(dir, 'cgroup.procs')) || !fs.existsSync(path.join(dir, 'cgroup.subtree_control'))) {
    throw new Error(`--cgroup ${dir} is not a cgroup v2 directory: pass the cgroup2 mount (${cgroup2Mount() ?? 'none mounted'}) or a directory below it`);
  }
}

/** One /proc/PID/ns/net path per network namespace that processes of the subtree live in. */
export function namespacesOf(cgroup: string): string[] {
  const seen = new Map<number, string>();
  const walk = (dir: string) => {
    let entries: fs.Dirent[];
    try {
      for (const pid of fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n')) {
        if (!pid) continue;
        const ns = `/proc/${pid}/ns/net`;
        try {
          const ino = fs.statSync(ns).ino;
          if (!seen.has(ino)) seen.set(ino, ns);
        } catch {
          // the process exited meanwhile
        }
      }
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return; // the cgroup went away meanwhile
    }
    for (const e of entries) if (e.isDirectory()) walk(path.join(dir, e.name));
  };
  walk(cgroup);
  return [...seen.values()];
}
