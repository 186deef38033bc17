// What counts as "this node cannot run eBPF" (auto falls back) rather than an error
// (the agent stops): errnos of the kernel's refusals, and the probe of its BTF.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BpfUnsupported, checkKernelBtf, unsupportedReason } from '../../src/dataplane/bpf/support.js';
import type { NativeError } from '../../src/dataplane/bpf/native.js';

/** An error as the addon throws it (errors.cc): errno and its name. */
const nativeError = (errno: number, code: string): NativeError => Object.assign(new Error(`bpf_obj_get: ${code}`), { errno, code });

describe('unsupportedReason', () => {
  it.each([
    [1, 'EPERM'],
    [38, 'ENOSYS'],
    [95, 'EOPNOTSUPP'],
    [524, 'EUNKNOWN'], // ENOTSUPP: the addon has no name for it, the errno decides
  ])('errno %i (%s) from the kernel: unsupported', (errno, code) => {
    expect(unsupportedReason(nativeError(errno, code))).toBe(`bpf_obj_get: ${code}`);
  });

  it.each([
    ['EINVAL (the verifier, a bad attribute)', nativeError(22, 'EINVAL')],
    ['EACCES (the verifier)', nativeError(13, 'EACCES')],
    ['ESRCH (libbpf: a relocation found nothing)', nativeError(3, 'ESRCH')],
    ['ENOENT (a missing pin or object)', nativeError(2, 'ENOENT')],
    ['a missing build output', new Error('BPF object /opt/xlb/build/bpf/tc_lb.bpf.o is missing: run "make bpf"')],
    ['a plain Error (a bug)', new TypeError("Cannot read properties of undefined (reading 'fd')")],
    ['an errno on something not an Error', { errno: 1 }],
    ['not an Error', 'EPERM'],
  ])('%s: an error, not "unsupported"', (_, err) => {
    expect(unsupportedReason(err)).toBeUndefined();
  });

  it('what the node lacks (no cgroup v2, no bpffs, no BTF) is unsupported', () => {
    expect(unsupportedReason(new BpfUnsupported('no cgroup v2 filesystem is mounted'))).toBe('no cgroup v2 filesystem is mounted');
  });
});

describe('checkKernelBtf', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlb-btf-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** A BTF blob with no types and these strings, as the kernel lays it out (host order: little-endian). */
  function btf(strings: string[], magic = 0xeb9f): string {
    const str = Buffer.from(`\0${strings.join('\0')}\0`);
    const hdr = Buffer.alloc(24);
    hdr.writeUInt16LE(magic, 0);
    hdr.writeUInt8(1, 2);
    hdr.writeUInt32LE(24, 4); // hdr_len; type_off, type_len, str_off: 0
    hdr.writeUInt32LE(str.length, 20);
    const file = path.join(dir, `btf-${strings.join('-')}-${magic}`);
    fs.writeFileSync(file, Buffer.concat([hdr, str]));
    return file;
  }

  it('passes on a kernel with the newest kfunc the programs call', () => {
    expect(() => checkKernelBtf(btf(['sock_common', 'bpf_sock_destroy', 'skc_family']))).not.toThrow();
  });

  it('no BTF at all: unsupported, naming the kernel option', () => {
    const err = catchErr(() => checkKernelBtf(path.join(dir, 'absent')));
    expect(err).toBeInstanceOf(BpfUnsupported);
    expect(unsupportedReason(err)).toContain('CONFIG_DEBUG_INFO_BTF');
  });

  it('a kernel older than the kfunc: unsupported; a prefix of its name does not count', () => {
    const err = catchErr(() => checkKernelBtf(btf(['sock_common', 'bpf_sock_destroy_all'])));
    expect(err).toBeInstanceOf(BpfUnsupported);
    expect(unsupportedReason(err)).toContain('bpf_sock_destroy');
  });

  it('a file that is not BTF: an error', () => {
    const err = catchErr(() => checkKernelBtf(btf(['bpf_sock_destroy'], 0x1234)));
    expect(err).toBeInstanceOf(Error);
    expect(unsupportedReason(err)).toBeUndefined();
  });
});

function catchErr(f: () => void): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  throw new Error('did not throw');
}
