// Whether a failure to set up the eBPF datapath means "this node cannot run it"
// (--mode auto falls back to iptables) or "something is wrong" (the agent stops and
// says so), with cilium/ebpf's features/ semantics: only what the kernel or the node
// lacks is "unsupported"; a bug or a broken installation is never hidden by a fallback.

/** Thrown where the node lacks something the eBPF datapath needs (e.g. no cgroup v2). */
export class BpfUnsupported extends Error {}

/**
 * The errnos by which the kernel refuses what it does not offer: no privilege for
 * bpf() (EPERM: no CAP_BPF/CAP_SYS_ADMIN, or a lockdown), an unknown command or map
 * or program type (ENOSYS, EOPNOTSUPP, and the kernel-internal ENOTSUPP, 524).
 * EINVAL and EACCES are not among them: the verifier and bad attributes answer with
 * those too, and a program we ship that does not load is a bug to report.
 */
const UNSUPPORTED_ERRNOS: ReadonlySet<number> = new Set([1 /* EPERM */, 38 /* ENOSYS */, 95 /* EOPNOTSUPP */, 524 /* ENOTSUPP */]);

/** Why the eBPF datapath cannot run on this node, or undefined when `err` is not that kind of failure. */
export function unsupportedReason(err: unknown): string | undefined {
  if (err instanceof BpfUnsupported) return err.message;
  const errno = (err as { errno?: unknown } | undefined)?.errno;
  if (err instanceof Error && typeof errno === 'number' && UNSUPPORTED_ERRNOS.has(errno)) return err.message;
  return undefined;
}
