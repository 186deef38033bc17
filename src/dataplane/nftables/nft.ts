// The nft command: transactions on stdin, our table's chains and sets read back as JSON.
import { execFileSync } from 'node:child_process';
import { TABLE } from './ruleset.js';
import { DROP_TABLE, type Existing } from './transaction.js';

/** Room for listings of tens of thousands of services' chains (the default is 1 MiB). */
const MAX_OUTPUT = 1 << 30;

function nft(args: string[], input?: string): string {
  try {
    return execFileSync('nft', args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: MAX_OUTPUT });
  } catch (err) {
    const e = err as { stderr?: string; message: string; code?: string };
    if (e.code === 'ENOENT') throw new Error('nft not found: install nftables (make deps)');
    throw new Error(`nft ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/** Runs one atomic transaction. */
export function nftApply(payload: string): void {
  nft(['-f', '-'], payload);
}

interface Listed {
  nftables: Array<{ chain?: { table: string; name: string }; set?: { table: string; name: string } }>;
}

/**
 * The chains and sets of `ip xlb` (none when the table does not exist). Terse: without
 * their elements, which nft would otherwise list (0.8 s for 10,000 services' hairpin set).
 */
export function nftExisting(): Existing {
  const names = (what: 'chains' | 'sets', kind: 'chain' | 'set') =>
    new Set(
      (JSON.parse(nft(['-j', '-t', 'list', what, 'ip'])) as Listed).nftables
        .map((o) => o[kind])
        .filter((o) => o?.table === TABLE)
        .map((o) => o!.name),
    );
  return { chains: names('chains', 'chain'), sets: names('sets', 'set') };
}

/** Deletes `ip xlb`; true when there was one. */
export function nftablesCleanup(): boolean {
  const had = /^table ip xlb$/m.test(nft(['list', 'tables', 'ip']));
  if (had) nftApply(DROP_TABLE);
  return had;
}
