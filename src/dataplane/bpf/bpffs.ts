// The bpf filesystem our maps are pinned on: mounted on demand, so a bare node works.
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { BpfUnsupported } from './support.js';

const BPF_FS_MAGIC = 0xcafe4a11;

export function isBpffs(dir: string): boolean {
  try {
    return fs.statfsSync(dir).type === BPF_FS_MAGIC;
  } catch {
    return false;
  }
}

function mountBpffs(dir: string): void {
  try {
    execFileSync('mount', ['-t', 'bpf', 'bpf', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const detail = (err as { stderr?: Buffer }).stderr?.toString().trim() || String(err);
    throw new BpfUnsupported(`cannot mount a bpf filesystem at ${dir}: ${detail} (run as root, or pass --bpffs on a mounted bpffs)`);
  }
}

function nearestExisting(dir: string): string {
  let d = path.resolve(dir);
  while (!fs.existsSync(d)) d = path.dirname(d);
  return d;
}

/**
 * Makes `dir` a directory on a bpf filesystem: a subdirectory of a mounted one, or a
 * fresh mount. /sys/fs/bpf itself is mounted first when it is the empty mount point
 * that sysfs provides (no directories can be made in sysfs).
 */
export function ensureBpffs(dir: string): void {
  if (isBpffs(dir)) return;
  const anc = nearestExisting(dir);
  if (anc !== path.resolve(dir) && !isBpffs(anc) && fs.statfsSync(anc).type === SYSFS_MAGIC) {
    if (fs.readdirSync(anc).length !== 0) throw new Error(`cannot create ${dir}: ${anc} is in sysfs; pass --bpffs on a bpf filesystem`);
    mountBpffs(anc);
  }
  fs.mkdirSync(dir, { recursive: true });
  if (!isBpffs(dir)) mountBpffs(dir);
}

const SYSFS_MAGIC = 0x62656572;
