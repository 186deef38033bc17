// The iptables fallback: the same desired state, programmed as kube-proxy's chains
// with one iptables-restore --noflush per sync that rewrites only changed chains.
import { execFileSync } from 'node:child_process';
import type { Logger } from 'pino';
import type { DesiredState } from '../../model/state.js';
import { backendId } from '../../model/state.js';
import type { ApplyStats, Dataplane } from '../types.js';
import { buildRuleset, JUMPS, PREFIX, type Table } from './rules.js';
import { buildPayload, cleanupPayload, ownChains, TABLES, type Programmed } from './restore.js';

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

/** The iptables commands of one backend. */
export interface Backend {
  name: 'nft' | 'legacy';
  iptables: string;
  save: string;
  restore: string;
}

const BACKENDS: Record<Backend['name'], Backend> = {
  nft: { name: 'nft', iptables: 'iptables-nft', save: 'iptables-nft-save', restore: 'iptables-nft-restore' },
  legacy: { name: 'legacy', iptables: 'iptables-legacy', save: 'iptables-legacy-save', restore: 'iptables-legacy-restore' },
};

function ruleCount(cmd: string): number {
  try {
    return execFileSync(cmd, [], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: MAX_OUTPUT })
      .split('\n')
      .filter((l) => l.startsWith('-A ')).length;
  } catch {
    return -1; // this backend is not installed or not usable
  }
}

/**
 * The backend the host already uses, as kube-proxy's iptables-wrapper decides: the one
 * holding rules (legacy only when it has rules and nft has none); nft otherwise.
 */
export function detectBackend(): Backend {
  const nft = ruleCount(BACKENDS.nft.save);
  const legacy = ruleCount(BACKENDS.legacy.save);
  if (nft < 0 && legacy < 0) throw new Error('neither iptables-nft nor iptables-legacy works here: install iptables (make deps)');
  return legacy > 0 && nft <= 0 ? BACKENDS.legacy : nft >= 0 ? BACKENDS.nft : BACKENDS.legacy;
}

function ownChainsNow(b: Backend): Record<Table, Set<string>> {
  return { nat: ownChains(run(b.save, ['-t', 'nat'])), filter: ownChains(run(b.save, ['-t', 'filter'])) };
}

/** Hooks our chains into the built-in ones, once each. */
function ensureJumps(b: Backend): void {
  for (const [table, chain, spec] of JUMPS) {
    if (!succeeds(b.iptables, ['-w', '-t', table, '-C', chain, ...spec])) run(b.iptables, ['-w', '-t', table, '-I', chain, '1', ...spec]);
  }
}

/** Removes our jumps and chains from every backend; true when there was anything to remove. */
export function iptablesCleanup(): boolean {
  let found = false;
  for (const b of Object.values(BACKENDS)) {
    if (ruleCount(b.save) < 0) continue;
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
  /** UDP frontend -> its backends, to flush conntrack entries of removed ones */
  private udp = new Map<string, Set<string>>();
  private conntrackMissing = false;

  constructor(
    private readonly log: Logger,
    readonly backend: Backend = detectBackend(),
  ) {}

  apply(state: DesiredState): ApplyStats {
    const existing = this.existing ?? ownChainsNow(this.backend);
    const rules = buildRuleset(state);
    const payload = buildPayload(rules, this.programmed, existing);
    run(this.backend.restore, ['-w', '--noflush'], payload.text);
    if (!this.jumped) {
      ensureJumps(this.backend);
      this.jumped = true;
    }
    this.programmed = payload.next;
    this.existing = { nat: new Set([...rules.nat.keys()].filter((c) => c.startsWith(PREFIX))), filter: new Set([...rules.filter.keys()].filter((c) => c.startsWith(PREFIX))) };
    this.flushStaleUdp(state);
    // Counted in chains: what one sync rewrote and deleted.
    return {
      servicesWritten: payload.written,
      servicesRemoved: payload.deleted,
      frontendsWritten: 0,
      frontendsRemoved: 0,
      tablesWritten: 0,
      backendsAdded: 0,
      backendsRemoved: 0,
      // iptables has no fixed capacity.
      overCapacity: 0,
    };
  }

  /**
   * A UDP "connection" never ends, so conntrack would keep sending a client to an
   * endpoint that is gone: delete such entries, as kube-proxy does.
   */
  private flushStaleUdp(state: DesiredState): void {
    const next = new Map<string, Set<string>>();
    for (const svc of state.services.values()) {
      if (svc.protocol !== 'UDP') continue;
      for (const f of svc.frontends) next.set(`${f.addr}:${f.port}`, new Set(svc.backends.map(backendId)));
    }
    for (const [frontend, before] of this.udp) {
      const now = next.get(frontend) ?? new Set<string>();
      for (const b of before) if (!now.has(b)) this.deleteConntrack(frontend, b);
    }
    this.udp = next;
  }

  private deleteConntrack(frontend: string, backend: string): void {
    if (this.conntrackMissing) return;
    const [faddr, fport] = frontend.split(':');
    const [baddr] = backend.split(':');
    try {
      execFileSync('conntrack', ['-D', '-p', 'udp', '--orig-dst', faddr!, '--dport', fport!, '--reply-src', baddr!], { stdio: 'ignore' });
    } catch (err) {
      // Exit status 1 means no entry matched; a missing tool is reported once.
      if ((err as { code?: string }).code === 'ENOENT') {
        this.conntrackMissing = true;
        this.log.warn('conntrack tool not found: UDP flows of removed endpoints are not flushed (install conntrack)');
      }
    }
  }
}
