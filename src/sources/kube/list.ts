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
  let cont: string | undefined;
  let last: RawList<unknown>;
  do {
    last = await page(access, path, { limit: String(PAGE_SIZE), continue: cont, fieldSelector }, signal);
    for (const item of last.items ?? []) items.push(trim(item as T));
    cont = last.metadata?.continue || undefined;
  } while (cont);
  return { metadata: { resourceVersion: last.metadata?.resourceVersion }, items };
}
