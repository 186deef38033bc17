// The fake API server as a process, so it can run inside the node's network namespace.
// Driven by JSON commands on stdin, one per line: {"id":1,"op":"upsert","kind":"services",
// "object":{...}} | remove | compact | drop | silence | fail | stop | start; each is
// answered with "ok <id>" (or "error <id> <message>") on stdout.
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { FakeApiServer, type Kind, type KubeObject } from './fake-apiserver.js';

export interface ApiCommand {
  op: 'upsert' | 'remove' | 'compact' | 'drop' | 'silence' | 'fail' | 'stop' | 'start';
  kind?: Kind;
  object?: KubeObject;
  namespace?: string;
  name?: string;
  on?: boolean;
  count?: number;
}

const { values } = parseArgs({ options: { port: { type: 'string', default: '6443' }, host: { type: 'string', default: '127.0.0.1' } } });
const port = Number(values.port);
const api = new FakeApiServer();
await api.start(port, values.host);
process.stdout.write(`ready ${port}\n`);

async function run(c: ApiCommand): Promise<void> {
  switch (c.op) {
    case 'upsert':
      return api.upsert(c.kind!, c.object!);
    case 'remove':
      return api.remove(c.kind!, c.namespace, c.name!);
    case 'compact':
      return api.compact();
    case 'drop':
      return api.dropWatches();
    case 'silence':
      api.silenced = c.on ?? true;
      return;
    case 'fail':
      api.failNext = c.count ?? 1;
      return;
    case 'stop':
      return api.stop();
    case 'start':
      await api.start(port, values.host);
      return;
  }
}

for await (const line of readline.createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const cmd = JSON.parse(line) as ApiCommand & { id: number };
  try {
    await run(cmd);
    process.stdout.write(`ok ${cmd.id}\n`);
  } catch (err) {
    process.stdout.write(`error ${cmd.id} ${(err as Error).message}\n`);
  }
}
await api.stop();
