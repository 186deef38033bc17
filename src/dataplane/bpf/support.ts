// Whether a failure to set up the eBPF datapath means "this node cannot run it"
// (--mode auto falls back to iptables) or "something is wrong" (the agent stops and
// says so), with cilium/ebpf's features/ semantics: only what the kernel or the node
// lacks is "unsupported"; a bug or a broken installation is never hidden by a fallback.
import fs from 'node:fs';
import os from 'node:os';

/** Thrown where the node lacks something the eBPF datapath needs (e.g. no cgroup v2). */
export class BpfUnsupported extends Error {}

/**
 * The errnos by which the kernel refuses what it does not offer: no privilege for
 * bpf() (EPERM: no CAP_BPF/CAP_SYS_ADMIN, or a lockdown), an unknown command or map
 * or program type (ENOSYS, EOPNOTSUPP, and the kernel-internal ENOTSUPP, 524).
 * EINVAL and EACCES are not among them: the verifier and bad attributes answer with
 * those too, and a program we ship that does not load is a bug to report. A kernel
 * too old for our program and attach types (where it would say EINVAL) is found by
 * checkKernelBtf before anything loads.
 */
const { EPERM, ENOSYS, EOPNOTSUPP } = os.constants.errno;
/** Kernel-internal (include/linux/errno.h), so in no libc table, yet bpf() returns it. */
const ENOTSUPP = 524;
const UNSUPPORTED_ERRNOS: ReadonlySet<number> = new Set([EPERM, ENOSYS, EOPNOTSUPP, ENOTSUPP]);

/** Why the eBPF datapath cannot run on this node, or undefined when `err` is not that kind of failure. */
export function unsupportedReason(err: unknown): string | undefined {
  if (err instanceof BpfUnsupported) return err.message;
  const errno = (err as { errno?: unknown } | undefined)?.errno;
  if (err instanceof Error && typeof errno === 'number' && UNSUPPORTED_ERRNOS.has(errno)) return err.message;
  return undefined;
}

const VMLINUX_BTF = '/sys/kernel/btf/vmlinux';

/**
 * The newest kernel feature the programs use (the UDP socket sweep's kfunc, Linux 6.5);
 * every program type, attach type and helper they use is older.
 */
const NEWEST_KFUNC = 'bpf_sock_destroy';
const BTF_MAGIC = 0xeb9f;

/**
 * Probes the kernel's own BTF, which the programs' CO-RE relocations and kfunc calls
 * need. Without this, an old kernel or one built without BTF shows up only as libbpf's
 * ESRCH (or the kernel's EINVAL), which cannot be told from a broken object.
 */
export function checkKernelBtf(file = VMLINUX_BTF): void {
  let btf: Buffer;
  try {
    btf = fs.readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    throw new BpfUnsupported(`the kernel has no BTF: ${file} is missing (a kernel built with CONFIG_DEBUG_INFO_BTF=y is needed)`);
  }
  if (btf.length < 24 || btf.readUInt16LE(0) !== BTF_MAGIC) throw new Error(`${file} is not BTF (or not little-endian)`);
  // Header: magic, version, flags, hdr_len, type_off, type_len, str_off, str_len.
  const start = btf.readUInt32LE(4) + btf.readUInt32LE(16);
  const strings = btf.subarray(start, start + btf.readUInt32LE(20));
  if (!strings.includes(`\0${NEWEST_KFUNC}\0`)) {
    throw new BpfUnsupported(`the kernel lacks the kfunc ${NEWEST_KFUNC} that the socket programs call (Linux 6.5 or newer is needed)`);
  }
}
