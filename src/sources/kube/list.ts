// Lists a resource page by page (limit/continue) straight from the API server as JSON,
// each item trimmed as it arrives: typed clients turn every object into class instances
// first, which at 10,000 Services costs seconds and hundreds of MB.
import type { ApiAccess } from './access.js';
import { apiGet } from './request.js';

const PAGE_SIZE = 500;
/** A list page that takes longer than this failed (the reflector retries with backoff). */
const REQUEST_TIMEOUT_MS = 60_000;

export interface RawList<T> {
  metadata: { resourceVersion?: string; continue?: string };
  items: T[];
}

async function page(access: ApiAccess, path: string, query: Record<string, string | undefined>, signal?: AbortSignal): Promise<RawList<unknown>> {
  const res = await apiGet(access, path, query, { timeoutMs: REQUEST_TIMEOUT_MS, signal });
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as RawList<unknown>;
  } catch (err) {
    throw new Error(`${path}: the API server's answer is not JSON: ${(err as Error).message}`);
  }
}

/** Every page of `path`, items trimmed, with the resourceVersion of the last page (the watch starts there). */
export async function listAll<T>(access: ApiAccess, path: string, trim: (o: T) => T, fieldSelector?: string, signal?: AbortSignal): Promise<RawList<T>> {
  const items: T[] = [];
  const get = (cont?: string) => page(access, path, { limit: String(PAGE_SIZE), continue: cont, fieldSelector }, signal);
  let last = await get();
  for (;;) {
    const cont = last.metadata?.continue || undefined;
    // The next page is asked for before this one's items are trimmed (and checked): the
    // server makes it meanwhile, instead of each side waiting for the other.
    const next = cont ? get(cont) : undefined;
    if (next) {
      next.catch(() => undefined); // awaited below
      await new Promise((sent) => setImmediate(sent));
    }
    for (const item of last.items ?? []) items.push(trim(item as T));
    if (!next) break;
    last = await next;
  }
  return { metadata: { resourceVersion: last.metadata?.resourceVersion }, items };
}
