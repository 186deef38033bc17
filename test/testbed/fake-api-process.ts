// Runs fake-apiserver-main in a namespace and drives it, for tests and benchmarks.
import fs from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { waitForLine } from './netns.js';
import { compiled, type Cluster } from './topology.js';
import type { ApiCommand } from './fake-apiserver-main.js';

export class FakeApiProcess {
  private proc?: ChildProcess;
  private nextId = 1;

  constructor(
    private readonly cluster: Cluster,
    private readonly ns: string,
    readonly port = 6443,
  ) {}

  async start(): Promise<void> {
    this.proc = this.cluster.spawn(this.ns, process.execPath, [compiled('test/testbed/fake-apiserver-main.ts'), '--port', String(this.port)]);
    await waitForLine(this.proc, /^ready/, 10_000);
  }

  /** Runs a command; resolves with when the server ran it (its Date.now(): a write's time, free of this process's pauses). */
  async send(cmd: ApiCommand): Promise<number> {
    const id = this.nextId++;
    const answer = waitForLine(this.proc!, new RegExp(`^(ok|error) ${id}\\b`), 10_000);
    this.proc!.stdin!.write(`${JSON.stringify({ ...cmd, id })}\n`);
    const line = await answer;
    if (line.startsWith('error')) throw new Error(`fake API server: ${line}`);
    return Number(line.split(' ')[2]);
  }

  /** A kubeconfig for a client in the same namespace (plain HTTP, so skipTLSVerify). */
  writeKubeconfig(file: string): void {
    fs.writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        `clusters: [{name: fake, cluster: {server: "http://127.0.0.1:${this.port}", insecure-skip-tls-verify: true}}]`,
        'users: [{name: xlb, user: {token: fake}}]',
        'contexts: [{name: fake, context: {cluster: fake, user: xlb}}]',
        'current-context: fake',
        '',
      ].join('\n'),
    );
  }
}
