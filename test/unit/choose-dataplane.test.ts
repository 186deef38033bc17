// --mode auto falls back to iptables only when the node cannot run eBPF; a bug or a
// broken installation stops the agent instead, in every mode.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { chooseDataplane, type Datapaths, type ModeFlag } from '../../src/dataplane/choose.js';
import { BpfUnsupported, unsupportedReason } from '../../src/dataplane/bpf/support.js';
import type { Dataplane } from '../../src/dataplane/types.js';

/** An error as the addon throws it (errors.cc): errno and its name. */
const nativeError = (errno: number, code: string) => Object.assign(new Error(`bpf_obj_get: ${code}`), { errno, code });

function paths(bpf: () => void) {
  const calls: string[] = [];
  const dp = (mode: Dataplane['mode']) => ({ mode }) as Dataplane;
  const p: Datapaths = {
    bpf: () => (bpf(), calls.push('bpf'), dp('bpf')),
    iptables: () => (calls.push('iptables'), dp('iptables')),
    removeBpf: () => void calls.push('removeBpf'),
    removeIptables: () => void calls.push('removeIptables'),
  };
  return { p, calls };
}

function choose(mode: ModeFlag, bpf: () => void) {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
  const { p, calls } = paths(bpf);
  return { run: () => chooseDataplane(mode, p, log), calls, lines };
}

describe('unsupportedReason', () => {
  it.each([
    [1, 'EPERM'],
    [38, 'ENOSYS'],
    [95, 'EOPNOTSUPP'],
    [524, 'ENOTSUPP'],
  ])('errno %i (%s) from the kernel: unsupported', (errno, code) => {
    expect(unsupportedReason(nativeError(errno, code))).toBe(`bpf_obj_get: ${code}`);
  });

  it.each([
    ['EINVAL (the verifier, a bad attribute)', nativeError(22, 'EINVAL')],
    ['EACCES (the verifier)', nativeError(13, 'EACCES')],
    ['ENOENT (a missing object file)', nativeError(2, 'ENOENT')],
    ['a plain Error (a bug)', new TypeError("Cannot read properties of undefined (reading 'fd')")],
    ['not an Error', 'EPERM'],
  ])('%s: an error, not "unsupported"', (_, err) => {
    expect(unsupportedReason(err)).toBeUndefined();
  });

  it('a missing capability of the node (no cgroup v2) is unsupported', () => {
    expect(unsupportedReason(new BpfUnsupported('no cgroup v2 filesystem is mounted'))).toBe('no cgroup v2 filesystem is mounted');
  });
});

describe('chooseDataplane', () => {
  it('auto: eBPF when it loads, and our iptables chains go', () => {
    const c = choose('auto', () => {});
    expect(c.run().mode).toBe('bpf');
    expect(c.calls).toEqual(['bpf', 'removeIptables']);
  });

  it('auto: iptables when the node cannot run eBPF, saying why once, and nothing of eBPF left', () => {
    const c = choose('auto', () => {
      throw nativeError(1, 'EPERM');
    });
    expect(c.run().mode).toBe('iptables');
    expect(c.calls).toEqual(['removeBpf', 'iptables']);
    const warns = c.lines.filter((l) => l.level === 40);
    expect(warns).toHaveLength(1);
    expect(warns[0]).toMatchObject({ reason: 'bpf_obj_get: EPERM', msg: 'eBPF unavailable, falling back to iptables: bpf_obj_get: EPERM' });
  });

  it('auto: a bug or a broken installation is thrown, not hidden by the fallback', () => {
    const bug = new TypeError('x is undefined');
    const c = choose('auto', () => {
      throw bug;
    });
    expect(c.run).toThrow(bug);
    expect(c.calls).toEqual([]);
    const missing = choose('auto', () => {
      throw nativeError(2, 'ENOENT');
    });
    expect(missing.run).toThrow('ENOENT');
    expect(missing.calls).toEqual([]);
  });

  it('bpf: every failure is thrown, unsupported ones too', () => {
    const c = choose('bpf', () => {
      throw nativeError(1, 'EPERM');
    });
    expect(c.run).toThrow('EPERM');
    expect(c.calls).toEqual([]);
  });

  it('iptables: eBPF is removed first and never loaded', () => {
    const c = choose('iptables', () => {
      throw new Error('must not be called');
    });
    expect(c.run().mode).toBe('iptables');
    expect(c.calls).toEqual(['removeBpf', 'iptables']);
  });
});
