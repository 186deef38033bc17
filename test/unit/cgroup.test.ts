// Finding the cgroup v2 mount the socket programs attach to by default.
import { describe, expect, it } from 'vitest';
import { cgroup2Mount } from '../../src/dataplane/bpf/cgroup.js';

const line = (id: number, mount: string, fs: string) => `${id} 23 0:${id} / ${mount} rw,relatime shared:${id} - ${fs} ${fs} rw`;

describe('cgroup2Mount', () => {
  it('finds the cgroup2 mount of a hybrid host among v1 hierarchies', () => {
    const info = [line(31, '/sys/fs/cgroup', 'tmpfs'), line(32, '/sys/fs/cgroup/cpu', 'cgroup'), line(41, '/sys/fs/cgroup/unified', 'cgroup2')].join('\n');
    expect(cgroup2Mount(info)).toBe('/sys/fs/cgroup/unified');
  });

  it('finds a unified host\'s /sys/fs/cgroup, with optional fields before the separator', () => {
    expect(cgroup2Mount(`${line(29, '/sys/fs/bpf', 'bpf')}\n35 24 0:30 / /sys/fs/cgroup rw,nosuid shared:9 master:1 - cgroup2 cgroup2 rw,nsdelegate`)).toBe('/sys/fs/cgroup');
  });

  it('says none when no cgroup2 is mounted', () => {
    expect(cgroup2Mount(line(32, '/sys/fs/cgroup/cpu', 'cgroup'))).toBeUndefined();
  });
});
