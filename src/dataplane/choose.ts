// --mode: which datapath the agent programs. auto takes eBPF unless the node cannot
// run it (support.ts decides what counts as "cannot"), and switching leaves nothing
// of the other mode behind.
import type { Logger } from 'pino';
import { unsupportedReason } from './bpf/support.js';
import type { Dataplane, DataplaneMode } from './types.js';

export type ModeFlag = 'auto' | DataplaneMode;
export const MODE_FLAGS: readonly ModeFlag[] = ['auto', 'bpf', 'iptables'];

/** How to set up, and tear down, each datapath. */
export interface Datapaths {
  /** Loads and attaches the eBPF datapath; throws when it cannot. */
  bpf(): Dataplane;
  iptables(): Dataplane;
  removeBpf(): void;
  removeIptables(): void;
}

export function chooseDataplane(mode: ModeFlag, paths: Datapaths, log: Logger): Dataplane {
  if (mode === 'iptables') {
    paths.removeBpf();
    return paths.iptables();
  }
  let dp: Dataplane;
  try {
    dp = paths.bpf();
  } catch (err) {
    const why = unsupportedReason(err);
    if (mode === 'bpf' || why === undefined) throw err;
    log.warn({ reason: why }, `eBPF unavailable, falling back to iptables: ${why}`);
    paths.removeBpf();
    return paths.iptables();
  }
  paths.removeIptables();
  return dp;
}
