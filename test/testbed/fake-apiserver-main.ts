// The fake API server as a process, so it can run inside the node's network namespace.
// Driven by JSON commands on stdin, one per line: {"id":1,"op":"upsert","kind":"services",
// "object":{...}} | load (a JSON List file: every Service, EndpointSlice and Node in it) |
// remove | compact | drop | silence | fail | stop | start; each is
// answered with "ok <id> <ms>", ms the server's Date.now() when it ran the command (a
// write's time, on the server's clock), or "error <id> <message>", on stdout.
import fs from 'node:fs';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { FakeApiServer, type Kind, type KubeObject } from './fake-apiserver.js';

export interface ApiCommand {
  op: 'upsert' | 'load' | 'remove' | 'compact' | 'drop' | 'silence' | 'fail' | 'stop' | 'start';
  kind?: Kind;
  object?: KubeObject;
  namespace?: string;
  name?: string;
  on?: boolean;
  count?: number;
  file?: string;
}

const { values } = parseArgs({ options: { port: { type: 'string', default: '6443' }, host: { type: 'string', default: '127.0.0.1' } } });
const port = Number(values.port);
const KINDS: Record<string, Kind> = { Service: 'services', EndpointSlice: 'endpointslices', Node: 'nodes' };
const api = new FakeApiServer();
await api.start(port, values.host);
process.stdout.write(`ready ${port}\n`);

async function run(c: ApiCommand): Promise<void> {
  switch (c.op) {
    case 'upsert':
      return api.upsert(c.kind!, c.object!);
    case 'load': {
      const list = JSON.parse(fs.readFileSync(c.file!, 'utf8')) as { items: Array<KubeObject & { kind?: string }> };
      for (const o of list.items) {
        const kind = KINDS[o.kind ?? ''];
        if (!kind) throw new Error(`${c.file}: cannot serve kind ${o.kind}`);
        api.upsert(kind, o);
      }
      return;
    }
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
    const at = Date.now();
    await run(cmd);
    process.stdout.write(`ok ${cmd.id} ${at}\n`);
  } catch (err) {
    process.stdout.write(`error ${cmd.id} ${(err as Error).message}\n`);
  }
}
await api.stop();
