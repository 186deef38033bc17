import { defineConfig } from 'vitest/config';

// The three test layers, each runnable alone (vitest --project NAME):
// unit needs node_modules only; bpf needs root and the built objects and addon;
// integration needs root, namespaces and the built product and test bed. Under
// `vitest run` the layers run one after another (groupOrder): bpf and integration
// both use the host's bpffs.
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'], sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'bpf', include: ['test/bpf/**/*.test.ts'], fileParallelism: false, sequence: { groupOrder: 1 } } },
      // Integration suites share the host's network stack and bpffs: one file at a time.
      { extends: true, test: { name: 'integration', include: ['test/integration/**/*.test.ts'], fileParallelism: false, sequence: { groupOrder: 2 } } },
    ],
  },
});
