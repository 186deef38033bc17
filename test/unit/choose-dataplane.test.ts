// --mode auto falls back to nftables, then iptables, only when the node cannot run
// eBPF (or nftables); a bug or a broken installation stops the agent instead, in every
// mode. Whatever is chosen, nothing of the other modes stays.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { chooseDataplane, type Datapaths, type ModeFlag } from '../../src/dataplane/choose.js';
import { BpfUnsupported } from '../../src/dataplane/bpf/support.js';
import type { NativeError } from '../../src/dataplane/bpf/native.js';
import type { Dataplane } from '../../src/dataplane/types.js';
import { nftablesUnsupportedBy } from '../../src/dataplane/nftables/support.js';

/** An error as the addon throws it (errors.cc): errno and its name. */
const nativeError = (errno: number, code: string): NativeError => Object.assign(new Error(`bpf_obj_get: ${code}`), { errno, code });

function paths(bpf: () => void, nftWhy?: string) {
  const calls: string[] = [];
  const dp = (mode: Dataplane['mode']) => ({ mode }) as Dataplane;
  const p: Datapaths = {
    bpf: async () => (bpf(), calls.push('bpf'), dp('bpf')),
    nftables: () => (calls.push('nftables'), dp('nftables')),
    iptables: () => (calls.push('iptables'), dp('iptables')),
    nftablesUnsupported: () => nftWhy,
    removeBpf: () => void calls.push('removeBpf'),
    removeNftables: () => void calls.push('removeNftables'),
    removeIptables: () => void calls.push('removeIptables'),
  };
  return { p, calls };
}

function choose(mode: ModeFlag, bpf: () => void, nftWhy?: string) {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
  const { p, calls } = paths(bpf, nftWhy);
  return { run: () => chooseDataplane(mode, p, log), calls, lines };
}

describe('chooseDataplane', () => {
  it('auto: eBPF when it loads, and our nftables table and iptables chains go', async () => {
    const c = choose('auto', () => {});
    expect((await c.run()).mode).toBe('bpf');
    expect(c.calls).toEqual(['bpf', 'removeNftables', 'removeIptables']);
    expect(c.lines.filter((l) => l.level === 40)).toEqual([]);
  });

  it('auto: nftables when the node cannot run eBPF, saying why once, and nothing of eBPF or iptables left', async () => {
    const c = choose('auto', () => {
      throw nativeError(1, 'EPERM');
    });
    expect((await c.run()).mode).toBe('nftables');
    expect(c.calls).toEqual(['removeBpf', 'removeIptables', 'nftables']);
    const warns = c.lines.filter((l) => l.level === 40);
    expect(warns).toHaveLength(1);
    expect(warns[0]).toMatchObject({ mode: 'bpf', reason: 'bpf_obj_get: EPERM', msg: 'eBPF unavailable, falling back to nftables: bpf_obj_get: EPERM' });
  });

  it('auto: iptables when neither eBPF nor nftables can run, one line for each', async () => {
    const c = choose(
      'auto',
      () => {
        throw new BpfUnsupported('no cgroup v2 filesystem is mounted');
      },
      'kernel 5.10.0 is older than 5.13',
    );
    expect((await c.run()).mode).toBe('iptables');
    expect(c.calls).toEqual(['removeBpf', 'removeNftables', 'iptables']);
    expect(c.lines.filter((l) => l.level === 40)).toEqual([
      expect.objectContaining({ mode: 'bpf', reason: 'no cgroup v2 filesystem is mounted', msg: 'eBPF unavailable, falling back to iptables: no cgroup v2 filesystem is mounted' }),
      expect.objectContaining({ mode: 'nftables', msg: 'nftables unavailable, falling back to iptables: kernel 5.10.0 is older than 5.13' }),
    ]);
  });

  it('auto: a bug or a broken installation is thrown, not hidden by the fallback', async () => {
    const bug = new TypeError('x is undefined');
    const c = choose('auto', () => {
      throw bug;
    });
    await expect(c.run()).rejects.toThrow(bug);
    expect(c.calls).toEqual([]);
    const missing = choose('auto', () => {
      throw nativeError(2, 'ENOENT');
    });
    await expect(missing.run()).rejects.toThrow('ENOENT');
    expect(missing.calls).toEqual([]);
  });

  it('bpf: every failure is thrown, unsupported ones too', async () => {
    const c = choose('bpf', () => {
      throw nativeError(1, 'EPERM');
    });
    await expect(c.run()).rejects.toThrow('EPERM');
    expect(c.calls).toEqual([]);
  });

  it('iptables: eBPF and nftables are removed first, and eBPF never loaded', async () => {
    const c = choose('iptables', () => {
      throw new Error('must not be called');
    });
    expect((await c.run()).mode).toBe('iptables');
    expect(c.calls).toEqual(['removeBpf', 'removeNftables', 'iptables']);
  });

  it('nftables: eBPF and iptables are removed first, with no fallback and no probe', async () => {
    const c = choose(
      'nftables',
      () => {
        throw new Error('must not be called');
      },
      'kernel 5.10.0 is older than 5.13',
    );
    expect((await c.run()).mode).toBe('nftables');
    expect(c.calls).toEqual(['removeBpf', 'removeIptables', 'nftables']);
    expect(c.lines).toEqual([]);
  });
});

describe('nftables support probe', () => {
  it('needs kernel 5.13 and nft 1.0, and says which is missing', () => {
    expect(nftablesUnsupportedBy('6.1.0-13-amd64', 'nftables v1.0.6 (Lester Gooch #5)\n')).toBeUndefined();
    expect(nftablesUnsupportedBy('5.13.0', 'nftables v1.0.0 (Fearless Fosdick #3)')).toBeUndefined();
    expect(nftablesUnsupportedBy('5.12.19', 'nftables v1.0.6')).toBe('kernel 5.12.19 is older than 5.13');
    expect(nftablesUnsupportedBy('4.19.0', 'nftables v1.0.6')).toBe('kernel 4.19.0 is older than 5.13');
    expect(nftablesUnsupportedBy('6.1.0', 'nftables v0.9.8 (E.D.S.)')).toBe('nft is older than 1.0 (nftables v0.9.8 (E.D.S.))');
    expect(nftablesUnsupportedBy('6.1.0', undefined)).toBe('nft not found: install nftables (make deps)');
  });
});
