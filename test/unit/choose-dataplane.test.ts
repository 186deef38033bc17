// --mode auto falls back to iptables only when the node cannot run eBPF; a bug or a
// broken installation stops the agent instead, in every mode.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { chooseDataplane, type Datapaths, type ModeFlag } from '../../src/dataplane/choose.js';
import { BpfUnsupported } from '../../src/dataplane/bpf/support.js';
import type { NativeError } from '../../src/dataplane/bpf/native.js';
import type { Dataplane } from '../../src/dataplane/types.js';

/** An error as the addon throws it (errors.cc): errno and its name. */
const nativeError = (errno: number, code: string): NativeError => Object.assign(new Error(`bpf_obj_get: ${code}`), { errno, code });

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

  it('auto: iptables when the node lacks what eBPF needs (no cgroup v2)', () => {
    const c = choose('auto', () => {
      throw new BpfUnsupported('no cgroup v2 filesystem is mounted');
    });
    expect(c.run().mode).toBe('iptables');
    expect(c.lines.find((l) => l.level === 40)).toMatchObject({ reason: 'no cgroup v2 filesystem is mounted' });
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
