// The nft command: transactions from a file on its stdin, our table's chains and sets
// read back as JSON.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TABLE } from './ruleset.js';
import { DROP_TABLE, type Existing } from './transaction.js';

/** Room for listings of tens of thousands of services' chains (the default is 1 MiB). */
const MAX_OUTPUT = 1 << 30;
/**
 * A transaction goes to its file through one buffer of this size, line by line. At
 * 10,000 Services the payload is 30 MB: joined into strings of a few thousand lines,
 * each string and its Buffer copy lived until the next full GC, and the agent's peak
 * was reached while nft read them.
 */
const WRITE_BUFFER_BYTES = 1 << 20;
/** Bytes a string of n UTF-16 units takes at most in UTF-8. */
const maxUtf8 = (n: number) => 3 * n;
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

/** Appends bytes to a transaction file at positioned offsets (its offset stays at the start, where nft reads). */
class TransactionWriter {
  fd?: number;
  private at = 0;

  write(bytes: Buffer, length = bytes.length): void {
    this.fd ??= transactionFile();
    for (let done = 0; done < length; ) done += fs.writeSync(this.fd, bytes, done, length - done, this.at + done);
    this.at += length;
  }
}

/**
 * Runs one atomic transaction (nothing when there are no lines). The lines go into a
 * file, which nft reads as its stdin.
 */
export function nftApply(lines: Iterable<string>): void {
  const out = new TransactionWriter();
  try {
    const buf = Buffer.allocUnsafe(WRITE_BUFFER_BYTES);
    let used = 0;
    for (const line of lines) {
      if (used + maxUtf8(line.length + 1) > buf.length) {
        out.write(buf, used);
        used = 0;
      }
      // A line too long for the buffer (none is, at ELEMENTS_PER_LINE) goes on its own.
      if (maxUtf8(line.length + 1) > buf.length) out.write(Buffer.from(`${line}\n`));
      else {
        used += buf.write(line, used);
        buf[used++] = 0x0a;
      }
    }
    if (used) out.write(buf, used);
    if (out.fd !== undefined) nft(['-f', '-'], out.fd);
  } finally {
    if (out.fd !== undefined) fs.closeSync(out.fd);
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
