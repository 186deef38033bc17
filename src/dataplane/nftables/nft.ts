// The nft command: transactions from a file on its stdin, our table's chains and sets
// read back as JSON.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TABLE } from './ruleset.js';
import { DROP_TABLE, groups, type Existing } from './transaction.js';

/** Room for listings of tens of thousands of services' chains (the default is 1 MiB). */
const MAX_OUTPUT = 1 << 30;
/**
 * A transaction is written this many lines at a time: at 10,000 Services the whole
 * payload as one string (and its copy for the child's stdin) cost the agent 50 MB.
 */
const LINES_PER_WRITE = 4096;
let transactions = 0;

function nft(args: string[], stdin: number | 'ignore' = 'ignore'): string {
  try {
    return execFileSync('nft', args, { encoding: 'utf8', stdio: [stdin, 'pipe', 'pipe'], maxBuffer: MAX_OUTPUT });
  } catch (err) {
    const e = err as { stderr?: string; message: string; code?: string };
    if (e.code === 'ENOENT') throw new Error('nft not found: install nftables (make deps)');
    throw new Error(`nft ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/** An unlinked file for one transaction: nothing is left behind, whatever happens next. */
function transactionFile(): number {
  const file = path.join(os.tmpdir(), `xlb-nft-${process.pid}-${++transactions}`);
  try {
    const fd = fs.openSync(file, 'wx+', 0o600);
    fs.unlinkSync(file);
    return fd;
  } catch (err) {
    throw new Error(`cannot write the nft transaction to ${file}: ${(err as Error).message}; the agent needs a writable TMPDIR`);
  }
}

/**
 * Runs one atomic transaction (nothing when there are no lines). The lines go into a
 * file, which nft reads as its stdin: positioned writes leave the file's offset at its start.
 */
export function nftApply(lines: Iterable<string>): void {
  let fd: number | undefined;
  try {
    let at = 0;
    for (const group of groups(lines, LINES_PER_WRITE)) {
      const chunk = Buffer.from(`${group.join('\n')}\n`);
      fd ??= transactionFile();
      for (let done = 0; done < chunk.length; ) done += fs.writeSync(fd, chunk, done, chunk.length - done, at + done);
      at += chunk.length;
    }
    if (fd !== undefined) nft(['-f', '-'], fd);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
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
