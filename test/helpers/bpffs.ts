// A private pin directory per test file, removed afterwards.
import fs from 'node:fs';
import { ensureBpffs } from '../../src/dataplane/bpf/bpffs.js';
import { removePins } from '../../src/dataplane/bpf/programs.js';

export function testBpffs(tag: string): { dir: string; remove(): void } {
  const dir = `/sys/fs/bpf/xlb-test-${tag}-${process.pid}`;
  ensureBpffs(dir);
  return {
    dir,
    remove() {
      removePins(dir);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
