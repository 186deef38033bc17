// Lists a resource page by page (limit/continue) straight from the API server as JSON,
// each item trimmed as it arrives: client-node's generated clients turn every object
// into class instances first, which at 10,000 Services costs seconds and hundreds of MB.
// Credentials and TLS come from the kubeconfig, as client-node applies them.
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

const PAGE_SIZE = 500;
/** A list page that takes longer than this failed (the reflector retries with backoff). */
const REQUEST_TIMEOUT_MS = 60_000;

/** An answer other than 200, as client-node reports one: the reflector reads `statusCode`. */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    body: string,
  ) {
    super(`HTTP ${statusCode}: ${body.slice(0, 200)}`);
  }
}

export interface RawList<T> {
  metadata: { resourceVersion?: string; continue?: string };
  items: T[];
}

async function get(kc: KubeConfig, url: URL): Promise<RawList<unknown>> {
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(url, { ...opts, method: 'GET', headers: { ...opts.headers, accept: 'application/json' }, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) return reject(new ApiError(res.statusCode ?? 0, body));
        try {
          resolve(JSON.parse(body) as RawList<unknown>);
        } catch (err) {
          reject(new Error(`${url.pathname}: the API server's answer is not JSON: ${(err as Error).message}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${url.pathname}: no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** Every page of `path`, items trimmed, with the resourceVersion of the last page (the watch starts there). */
export async function listAll<T>(kc: KubeConfig, path: string, trim: (o: T) => T, fieldSelector?: string): Promise<RawList<T>> {
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error('the kubeconfig names no API server');
  const items: T[] = [];
  let cont: string | undefined;
  let last: RawList<unknown>;
  do {
    const url = new URL(server.replace(/\/$/, '') + path);
    url.searchParams.set('limit', String(PAGE_SIZE));
    if (cont) url.searchParams.set('continue', cont);
    if (fieldSelector) url.searchParams.set('fieldSelector', fieldSelector);
    last = await get(kc, url);
    for (const item of last.items ?? []) items.push(trim(item as T));
    cont = last.metadata?.continue || undefined;
  } while (cont);
  return { metadata: { resourceVersion: last.metadata?.resourceVersion }, items };
}
