// Whether this node can run nftables mode, for --mode auto: kube-proxy's nftables mode
// needs kernel 5.13 (the nft features it uses, all in one transaction) and nft 1.0.
import { execFileSync } from 'node:child_process';
import os from 'node:os';

const MIN_KERNEL: readonly [number, number] = [5, 13];
const MIN_NFT: readonly [number, number] = [1, 0];

const atLeast = (v: readonly number[], min: readonly number[]) => v[0]! > min[0]! || (v[0] === min[0] && v[1]! >= min[1]!);
const version = (s: string) => /(\d+)\.(\d+)/.exec(s)?.slice(1, 3).map(Number);

/** Why a kernel release and `nft --version` output cannot run nftables mode; undefined when they can. */
export function nftablesUnsupportedBy(kernelRelease: string, nftVersion: string | undefined): string | undefined {
  const k = version(kernelRelease);
  if (!k || !atLeast(k, MIN_KERNEL)) return `kernel ${kernelRelease} is older than ${MIN_KERNEL.join('.')}`;
  if (nftVersion === undefined) return 'nft not found: install nftables (make deps)';
  const n = version(/v(\d+\.\d+)/.exec(nftVersion)?.[1] ?? '');
  if (!n || !atLeast(n, MIN_NFT)) return `nft is older than ${MIN_NFT.join('.')} (${nftVersion.trim()})`;
  return undefined;
}

/** Why this node cannot run nftables mode; undefined when it can. */
export function nftablesUnsupported(): string | undefined {
  let out: string | undefined;
  try {
    out = execFileSync('nft', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOENT') return `nft --version failed: ${(err as Error).message}`;
  }
  return nftablesUnsupportedBy(os.release(), out);
}
