// nftables mode: the same desired state as kube-proxy's nftables layout in `ip xlb`,
// one `nft -f -` transaction per sync holding only what changed.
import type { Logger } from 'pino';
import type { StateUpdate } from '../../model/state.js';
import type { ApplyStats, Dataplane } from '../types.js';
import type { StateSize } from '../../observe/status.js';
import { ServiceCounts } from '../service-counts.js';
import { UdpConntrackFlusher } from '../udp-conntrack.js';
import { NftRulesetBuilder } from './ruleset.js';
import { deletion, incremental, reconcile } from './transaction.js';
import { nftApply, nftExisting } from './nft.js';

export interface NftablesApplyStats extends ApplyStats {
  /** chains flushed and refilled (new ones included) */
  chainsWritten: number;
  /** chains deleted: flushed by this apply's first transaction, deleted by its second */
  chainsDeleted: number;
  /** map and hairpin set elements added and deleted (a changed verdict is one of each) */
  elementsAdded: number;
  elementsDeleted: number;
}

export class NftablesDataplane implements Dataplane {
  readonly mode = 'nftables' as const;
  private rules = new NftRulesetBuilder();
  /** the table holds exactly what this dataplane wrote */
  private known = false;
  private readonly counts = new ServiceCounts();
  private readonly udp: UdpConntrackFlusher;

  constructor(log: Logger) {
    this.udp = new UdpConntrackFlusher(log);
  }

  apply(update: StateUpdate): NftablesApplyStats {
    try {
      return this.write(update);
    } catch (err) {
      // What the kernel holds is not known now: the next apply reconciles the whole table.
      this.known = false;
      this.rules = new NftRulesetBuilder();
      this.counts.reset();
      throw err;
    }
  }

  size(): StateSize {
    return this.counts.size();
  }

  private write(update: StateUpdate): NftablesApplyStats {
    const full = update.delta.full || !this.known;
    const built = this.rules.build(full ? { ...update, delta: { ...update.delta, full } } : update);
    const { written, removed } = built;
    const tx = this.known ? incremental(built) : reconcile(this.rules.all(), nftExisting());
    nftApply(tx.lines);
    nftApply(deletion(tx.stale));
    this.known = true;
    this.udp.flush(update.state);
    return {
      ...this.counts.count(written, removed),
      chainsWritten: tx.chainsWritten,
      chainsDeleted: tx.stale.chains.length,
      elementsAdded: tx.elementsAdded,
      elementsDeleted: tx.elementsDeleted,
    };
  }
}
