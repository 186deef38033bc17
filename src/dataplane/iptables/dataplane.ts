// The iptables fallback: the same desired state, programmed as kube-proxy's chains
// with one iptables-restore --noflush per sync that rewrites only changed chains.
import { execFileSync } from 'node:child_process';
import type { Logger } from 'pino';
import type { StateUpdate } from '../../model/state.js';
import type { ApplyStats, Dataplane } from '../types.js';
import type { StateSize } from '../../observe/status.js';
import { ServiceCounts } from '../service-counts.js';
import { UdpConntrackFlusher } from '../udp-conntrack.js';
import { JUMPS, PREFIX, RulesetBuilder, type Table } from './rules.js';
import { buildPayload, cleanupPayload, ownChains, TABLES, type Programmed, type RenderCache } from './restore.js';

export interface IptablesApplyStats extends ApplyStats {
  /** chains declared (flushed) and refilled */
  chainsWritten: number;
  /** our chains deleted */
  chainsDeleted: number;
}

/**
 * Room for the output of iptables-save on a node with tens of thousands of Services
 * (tens of MB); the default 1 MiB would make a big ruleset look like a broken backend.
 */
const MAX_OUTPUT = 1 << 30;

function run(cmd: string, args: string[], input?: string): string {
  try {
    return execFileSync(cmd, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: MAX_OUTPUT });
  } catch (err) {
    const e = err as { stderr?: string; message: string; code?: string };
    if (e.code === 'ENOENT') throw new Error(`${cmd} not found: install iptables (make deps)`);
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  }
}

function succeeds(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The iptables commands of one variant (the kernel interface they program). */
export interface IptablesVariant {
  name: 'nft' | 'legacy';
  iptables: string;
  save: string;
  restore: string;
}

const VARIANTS: Record<IptablesVariant['name'], IptablesVariant> = {
  nft: { name: 'nft', iptables: 'iptables-nft', save: 'iptables-nft-save', restore: 'iptables-nft-restore' },
  legacy: { name: 'legacy', iptables: 'iptables-legacy', save: 'iptables-legacy-save', restore: 'iptables-legacy-restore' },
};

/** The variant's whole iptables-save; none when it is not installed or not usable. */
function saved(b: IptablesVariant): string | undefined {
  try {
    return execFileSync(b.save, [], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: MAX_OUTPUT });
  } catch {
    return undefined;
  }
}

function ruleCount(b: IptablesVariant): number {
  return saved(b)?.split('\n').filter((l) => l.startsWith('-A ')).length ?? -1;
}

/**
 * The variant the host already uses, as kube-proxy's iptables-wrapper decides: the one
 * holding rules (legacy only when it has rules and nft has none); nft otherwise.
 */
export function detectIptables(): IptablesVariant {
  const nft = ruleCount(VARIANTS.nft);
  const legacy = ruleCount(VARIANTS.legacy);
  if (nft < 0 && legacy < 0) throw new Error('neither iptables-nft nor iptables-legacy works here: install iptables (make deps)');
  return legacy > 0 && nft <= 0 ? VARIANTS.legacy : nft >= 0 ? VARIANTS.nft : VARIANTS.legacy;
}

function ownChainsNow(b: IptablesVariant): Record<Table, Set<string>> {
  return { nat: ownChains(run(b.save, ['-t', 'nat'])), filter: ownChains(run(b.save, ['-t', 'filter'])) };
}

/** Hooks our chains into the built-in ones, once each. */
function ensureJumps(b: IptablesVariant): void {
  for (const [table, chain, spec] of JUMPS) {
    if (!succeeds(b.iptables, ['-w', '-t', table, '-C', chain, ...spec])) run(b.iptables, ['-w', '-t', table, '-I', chain, '1', ...spec]);
  }
}

/** Removes our jumps and chains from every variant; true when there was anything to remove. */
export function iptablesCleanup(): boolean {
  let found = false;
  for (const b of Object.values(VARIANTS)) {
    // Every chain of ours, and every jump to one, names the prefix: one command tells
    // there is nothing to remove (an eBPF agent's start checks this for both variants).
    if (!saved(b)?.includes(PREFIX)) continue;
    for (const [table, chain, spec] of JUMPS) {
      while (succeeds(b.iptables, ['-w', '-t', table, '-D', chain, ...spec])) found = true;
    }
    const existing = ownChainsNow(b);
    if (TABLES.some((t) => existing[t].size > 0)) {
      run(b.restore, ['-w', '--noflush'], cleanupPayload(existing));
      found = true;
    }
  }
  return found;
}

export class IptablesDataplane implements Dataplane {
  readonly mode = 'iptables' as const;
  private programmed: Programmed = { nat: new Map(), filter: new Map() };
  private existing?: Record<Table, Set<string>>;
  private jumped = false;
  private rules = new RulesetBuilder();
  private readonly rendered: RenderCache = new WeakMap();
  private readonly counts = new ServiceCounts();
  private readonly udp: UdpConntrackFlusher;

  constructor(
    log: Logger,
    readonly variant: IptablesVariant = detectIptables(),
  ) {
    this.udp = new UdpConntrackFlusher(log);
  }

  apply(update: StateUpdate): IptablesApplyStats {
    try {
      return this.write(update);
    } catch (err) {
      // What the kernel holds is not known now: the next apply starts over from iptables-save.
      this.existing = undefined;
      this.rules = new RulesetBuilder();
      this.counts.reset();
      throw err;
    }
  }

  size(): StateSize {
    return this.counts.size();
  }

  private write(update: StateUpdate): IptablesApplyStats {
    const existing = this.existing ?? ownChainsNow(this.variant);
    const full = update.delta.full || this.existing === undefined;
    const { ruleset, written, removed } = this.rules.build(full ? { ...update, delta: { ...update.delta, full } } : update);
    const payload = buildPayload(ruleset, this.programmed, existing, this.rendered);
    run(this.variant.restore, ['-w', '--noflush'], payload.text);
    if (!this.jumped) {
      ensureJumps(this.variant);
      this.jumped = true;
    }
    this.programmed = payload.next;
    this.existing = { nat: new Set([...ruleset.nat.keys()].filter((c) => c.startsWith(PREFIX))), filter: new Set([...ruleset.filter.keys()].filter((c) => c.startsWith(PREFIX))) };
    this.udp.flush(update.state);
    return { ...this.counts.count(written, removed), chainsWritten: payload.written, chainsDeleted: payload.deleted };
  }
}
