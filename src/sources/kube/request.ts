// One GET to the API server, answered 200 or turned into an ApiError that says why.
import http from 'node:http';
import https from 'node:https';
import type { ApiAccess } from './access.js';

/** An answer other than 200: the reflector reads `statusCode` (410 re-lists, 401/403 name the credentials). */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    body: string,
  ) {
    super(`HTTP ${statusCode}: ${body.slice(0, 200)}`);
  }
}

export interface GetOptions {
  /** no byte from the server for this long fails the request */
  timeoutMs: number;
  signal?: AbortSignal;
}

/** GETs `path` with `query`; resolves with the response once it is a 200, whose body the caller reads. */
export async function apiGet(access: ApiAccess, path: string, query: Record<string, string | undefined>, { timeoutMs, signal }: GetOptions): Promise<http.IncomingMessage> {
  const url = new URL(access.server + path);
  for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, v);
  const opts = await access.options();
  signal?.throwIfAborted();
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(url, { ...opts, method: 'GET', headers: { ...opts.headers, accept: 'application/json' }, timeout: timeoutMs, signal }, (res) => {
      if (res.statusCode === 200) return resolve(res);
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => reject(new ApiError(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'))));
    });
    req.on('timeout', () => req.destroy(new Error(`${url.pathname}: nothing from the API server within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
