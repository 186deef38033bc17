// No Docker engine runs in CI, so the image is proven through the Makefile: every RUN of
// the Dockerfile is a make target CI can run, and the runtime tree the image is made of
// is assembled here and run, with the arguments deploy/ gives it. Needs what
// `make bpf native build` made, make, ldd and dpkg: an integration test of the build.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OBJECTS } from '../../src/dataplane/bpf/programs.js';
import { EXPLAIN_OBJECT } from '../../src/dataplane/bpf/explain.js';
import { daemonSetFlags } from '../helpers/deploy.js';
import { Cluster } from '../testbed/topology.js';
import { AgentProcess } from '../testbed/agent-process.js';
import { list, makeService, makeSlice, podEndpoint } from '../fixtures/k8s.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

interface Instruction {
  keyword: string;
  args: string;
}

/** Dockerfile instructions: continuation lines joined, comments dropped (as Docker reads them). */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || (!line && !pending)) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1).trim()} `;
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    if (!full) continue;
    const [keyword, ...rest] = full.split(/\s+/);
    out.push({ keyword: keyword!.toUpperCase(), args: rest.join(' ') });
  }
  return out;
}

/** The stages, each its FROM and the instructions under it. */
function stages(instructions: Instruction[]): Array<{ from: string; name?: string; body: Instruction[] }> {
  const out: Array<{ from: string; name?: string; body: Instruction[] }> = [];
  for (const i of instructions) {
    if (i.keyword === 'FROM') {
      const [image, as, name] = i.args.split(/\s+/);
      out.push({ from: image!, name: as?.toUpperCase() === 'AS' ? name : undefined, body: [] });
    } else out.at(-1)!.body.push(i);
  }
  return out;
}

/** A RUN's command, without its --mount/--network options. */
const runCommand = (args: string) => args.replace(/^(--\S+\s+)+/, '');

/** The Debian package owning a library, under any of its names (/lib is /usr/lib since usrmerge, dpkg knows one). */
function debianPackageOf(lib: string): string | undefined {
  const real = fs.realpathSync(lib);
  for (const name of new Set([lib, real, real.replace(/^\/usr\//, '/'), lib.replace(/^\/lib/, '/usr/lib')])) {
    try {
      return execFileSync('dpkg', ['-S', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split(':')[0];
    } catch {
      // not under this name
    }
  }
  return undefined;
}

const make = (...args: string[]) => execFileSync('make', ['-s', ...args], { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const makeVar = (name: string) => make('--eval', 'print-%: ; @echo $($*)', `print-${name}`).trim().split(/\s+/);

const dockerfile = stages(parseDockerfile(fs.readFileSync(path.join(REPO, 'Dockerfile'), 'utf8')));
const build = dockerfile[0]!;
const runtime = dockerfile.at(-1)!;
const treeDest = /\bruntime-tree\b.*\bDEST=(\S+)/.exec(build.body.filter((i) => i.keyword === 'RUN').map((i) => runCommand(i.args)).join('\n'))?.[1];

describe('Dockerfile', () => {
  it('builds on node:24-bookworm and ships node:24-bookworm-slim', () => {
    expect(dockerfile.length).toBe(2);
    expect(build).toMatchObject({ from: 'node:24-bookworm', name: 'build' });
    expect(runtime.from).toBe('node:24-bookworm-slim');
  });

  it('runs nothing but make targets, each one the Makefile has', () => {
    const runs = dockerfile.flatMap((s) => s.body.filter((i) => i.keyword === 'RUN').map((i) => runCommand(i.args)));
    expect(runs.length).toBeGreaterThan(0);
    for (const run of runs) {
      expect(run).toMatch(/^make( [A-Za-z][\w.-]*(=\S+)?)+$/);
      // A dry run fails on a target that has no rule; nothing is executed.
      expect(() => make('-n', ...run.split(' ').slice(1)), run).not.toThrow();
    }
  });

  it('puts only the runtime tree and the runtime Debian packages into the image', () => {
    expect(treeDest).toBeDefined();
    expect(runtime.body.filter((i) => i.keyword === 'RUN').map((i) => runCommand(i.args))).toEqual(['make runtime-deps']);
    const copies = runtime.body.filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD');
    expect(copies.map((c) => c.args)).toEqual([`--from=build ${treeDest} ./`]);
    expect(runtime.body.find((i) => i.keyword === 'WORKDIR')?.args).toBe(treeDest);
    expect(JSON.parse(runtime.body.find((i) => i.keyword === 'ENTRYPOINT')!.args)).toEqual([`${treeDest}/bin/lbctl`]);
  });

  it('installs every library the addon links and no build tool at runtime', () => {
    const packages = makeVar('RUNTIME_DEB_PACKAGES');
    // node itself needs these: every node image has them.
    const base = ['libc6', 'libgcc-s1', 'libstdc++6'];
    const libs = execFileSync('ldd', [path.join(REPO, 'native/build/Release/xlb_addon.node')], { encoding: 'utf8' })
      .split('\n')
      .map((l) => /=> (\/\S+)/.exec(l)?.[1])
      .filter((l): l is string => l !== undefined);
    expect(libs.length).toBeGreaterThan(0);
    for (const lib of libs) {
      expect([...packages, ...base], lib).toContain(debianPackageOf(lib));
    }
    expect(packages.filter((p) => /-dev$|^(clang|llvm|gcc|g\+\+|make|wrk|python3)$/.test(p))).toEqual([]);
  });

  it('has runtime-deps find the runtime packages installed (make deps installs them too)', () => {
    expect(() => make('runtime-deps')).not.toThrow();
    for (const p of makeVar('RUNTIME_DEB_PACKAGES')) {
      expect(execFileSync('dpkg-query', ['-W', '-f=${Status}', p], { encoding: 'utf8' })).toBe('install ok installed');
    }
  });
});

describe('make runtime-tree', () => {
  let dir: string;
  let tree: string;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlb-tree-'));
    tree = path.join(dir, 'opt-xlb');
    make('runtime-tree', `DEST=${tree}`);
  }, 120_000);

  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Files of the tree outside node_modules, relative to it. */
  const ownFiles = () =>
    (fs.readdirSync(tree, { recursive: true }) as string[]).filter((f) => !f.startsWith('node_modules') && fs.statSync(path.join(tree, f)).isFile()).sort();

  it('holds the CLI, the BPF objects the agent loads and the addon', () => {
    for (const f of ['package.json', 'bin/lbctl', 'dist/lbctl.js', 'native/build/Release/xlb_addon.node']) {
      expect(fs.existsSync(path.join(tree, f)), f).toBe(true);
    }
    expect(fs.statSync(path.join(tree, 'bin/lbctl')).mode & 0o111).not.toBe(0);
    expect(fs.readdirSync(path.join(tree, 'build/bpf')).sort()).toEqual([...Object.values(OBJECTS), EXPLAIN_OBJECT].sort());
  });

  it('holds no test code: no test bed, benchmarks, tests, sources or source maps', () => {
    const files = ownFiles();
    expect(files.filter((f) => /^(build\/js|test|src|bench)\//.test(f) || /\.(ts|map)$/.test(f))).toEqual([]);
    expect(files.filter((f) => !/^(dist\/.*\.js|build\/bpf\/[\w]+\.bpf\.o|native\/build\/Release\/xlb_addon\.node|bin\/lbctl|package(-lock)?\.json|README\.md)$/.test(f))).toEqual([]);
  });

  it('has the production dependencies and no development ones', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    for (const d of Object.keys(pkg.dependencies)) expect(fs.existsSync(path.join(tree, 'node_modules', d, 'package.json')), d).toBe(true);
    // Fails on anything missing or extraneous.
    const prod = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: tree, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    for (const d of Object.keys(pkg.devDependencies)) {
      // A development dependency may also be a production one's dependency (@types/node is client-node's).
      const needed = prod.split('\n').some((p) => p.endsWith(`/node_modules/${d}`));
      expect(fs.existsSync(path.join(tree, 'node_modules', d)), d).toBe(needed);
    }
    for (const d of ['vitest', 'typescript', 'node-gyp', 'kubernetes-models']) expect(fs.existsSync(path.join(tree, 'node_modules', d)), d).toBe(false);
  });

  it('runs lbctl from the tree alone', () => {
    // As the image's ENTRYPOINT runs it: the file itself, node and its flags from the #! line.
    const help = execFileSync(path.join(tree, 'bin/lbctl'), ['agent', '--help'], { cwd: dir, encoding: 'utf8' });
    expect(help).toContain('--metrics-addr');
    const top = execFileSync(process.execPath, [path.join(tree, 'dist/lbctl.js'), '--help'], { cwd: dir, encoding: 'utf8' });
    expect(top).toMatch(/agent/);
    // The bundle's dependencies are inside it: the tree's node_modules serve what is loaded on demand only.
    expect(fs.readFileSync(path.join(tree, 'dist/lbctl.js'), 'utf8')).not.toMatch(/from ["'](pino|prom-client|commander)["']/);
  });

  it('runs the agent from the tree: the addon and BPF objects it finds inside it balance a Service', async () => {
    const cluster = await Cluster.create('img', { pods: 1, tcpPorts: [8080], udpPorts: [] });
    const pod = cluster.pods[0]!;
    const manifests = path.join(dir, 'manifests');
    fs.mkdirSync(manifests);
    fs.writeFileSync(
      path.join(manifests, 'web.json'),
      list(
        makeService('img', 'web', { clusterIP: '198.19.9.10', ports: [{ port: 80, targetPort: 8080 }] }),
        makeSlice('img', 'web-1', 'web', { ports: [{ port: 8080 }], endpoints: [podEndpoint('img', pod)] }),
      ),
    );
    const agent = new AgentProcess(cluster, ['--manifests', manifests], `/sys/fs/bpf/xlb-img-${process.pid}`, { lbctl: path.join(tree, 'bin/lbctl') });
    try {
      agent.start(['--mode', 'bpf']);
      await agent.waitForSync(0, 30_000);
      expect(agent.log.join('\n')).toContain('eBPF datapath attached');
      const r = cluster.probeFrom(pod, '198.19.9.10:80', 'tcp', 3);
      expect(r.errors).toEqual({});
      expect(r.answers).toEqual({ [pod.name]: 3 });
    } finally {
      await agent.stop();
      try {
        agent.cleanup();
      } finally {
        cluster.destroy();
      }
    }
  }, 60_000);

  it('has lbctl agent take every flag the DaemonSet passes it', () => {
    const help = execFileSync(process.execPath, [path.join(tree, 'bin/lbctl'), 'agent', '--help'], { cwd: dir, encoding: 'utf8' });
    // Option lines are indented by two; their wrapped descriptions by more.
    const known = new Set([...help.matchAll(/^ {2}(?:-\w, )?(--[a-z-]+)/gm)].map((m) => m[1]!));
    expect(known).toContain('--metrics-addr');
    const passed = daemonSetFlags();
    expect(passed).toContain('--devices');
    for (const f of passed) expect(known, f).toContain(f);
  });
});
