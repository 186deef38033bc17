// --mode: which datapath the agent programs. auto takes eBPF unless the node cannot
// run it (support.ts decides what counts as "cannot"), then nftables unless the kernel
// or nft is too old (nftables/support.ts), then iptables; switching leaves nothing of
// the other modes behind.
import type { Logger } from 'pino';
import { unsupportedReason } from './bpf/support.js';
import type { Dataplane, DataplaneMode } from './types.js';

export type ModeFlag = 'auto' | DataplaneMode;
export const MODE_FLAGS: readonly ModeFlag[] = ['auto', 'bpf', 'nftables', 'iptables'];

/** How to set up, and tear down, each datapath. */
export interface Datapaths {
  /** Loads and attaches the eBPF datapath; rejects when it cannot. */
  bpf(): Promise<Dataplane>;
  nftables(): Dataplane;
  iptables(): Dataplane;
  /** Why nftables mode cannot run on this node; undefined when it can. */
  nftablesUnsupported(): string | undefined;
  removeBpf(): void;
  removeNftables(): void;
  removeIptables(): void;
}

/** Sets up `mode` after removing every other mode's leftovers. */
function only(mode: DataplaneMode, paths: Datapaths): Dataplane {
  if (mode !== 'bpf') paths.removeBpf();
  if (mode !== 'nftables') paths.removeNftables();
  if (mode !== 'iptables') paths.removeIptables();
  return mode === 'nftables' ? paths.nftables() : paths.iptables();
}

export async function chooseDataplane(mode: ModeFlag, paths: Datapaths, log: Logger): Promise<Dataplane> {
  if (mode === 'nftables' || mode === 'iptables') return only(mode, paths);
  let dp: Dataplane;
  try {
    dp = await paths.bpf();
  } catch (err) {
    const why = unsupportedReason(err);
    if (mode === 'bpf' || why === undefined) throw err;
    const nftWhy = paths.nftablesUnsupported();
    const next = nftWhy === undefined ? 'nftables' : 'iptables';
    log.warn({ mode: 'bpf', reason: why }, `eBPF unavailable, falling back to ${next}: ${why}`);
    if (nftWhy !== undefined) log.warn({ mode: 'nftables', reason: nftWhy }, `nftables unavailable, falling back to iptables: ${nftWhy}`);
    return only(next, paths);
  }
  paths.removeNftables();
  paths.removeIptables();
  return dp;
}
