// Parses one manifest file (YAML or JSON, several documents, `kind: List` allowed) into
// its Service and EndpointSlice objects, each with where it is. A file that does not
// parse names the file, document and line; objects are checked one by one later
// (object-gate.ts), so one bad object does not take its file's others down. A JSON List
// is read item by item (json-list.ts), each valid item kept as the model reads it
// (trim.ts) as soon as it is parsed, so that whole objects die young. (Trimming objects
// of a file parsed whole, as js-yaml reads YAML, would raise the peak: the copies are
// made while the whole objects still take their room.)
import { createRequire } from 'node:module';
import { CORE_SCHEMA, loadAll } from 'js-yaml';
import { listItems, parseItem } from './json-list.js';
import { trimEndpointSlice, trimService } from './trim.js';
import { validateEndpointSlice, validateService } from './validate.js';

/** `yaml` only reads files js-yaml rejected: loaded then, not at every start (30 ms). */
const yaml = () => createRequire(import.meta.url)('yaml') as typeof import('yaml');

export class ManifestError extends Error {}

export interface ManifestObject {
  kind: 'Service' | 'EndpointSlice';
  obj: Record<string, unknown>;
  /** "FILE: document N", with "items[j]" inside a List */
  where: string;
}

/** `bytes`: the file's content. */
export function parseManifest(file: string, bytes: Buffer): ManifestObject[] {
  const out: ManifestObject[] = [];
  // JSON is YAML too, but JSON.parse is an order of magnitude faster on big files.
  if (file.toLowerCase().endsWith('.json')) {
    const where = `${file}: document 1`;
    const list = listItems(bytes);
    if (list) {
      try {
        collect(list.head, where, out, list.items.map((at) => () => parseItem(bytes, at)));
        return out;
      } catch (err) {
        if (!(err instanceof SyntaxError)) throw err;
        out.length = 0; // an item that is no JSON: the whole file's parse below names where
      }
    }
    let value: unknown;
    try {
      value = JSON.parse(bytes.toString('utf8'));
    } catch (err) {
      throw new ManifestError(`${file}: ${(err as Error).message}`);
    }
    collect(value, where, out);
    return out;
  }
  const text = bytes.toString();
  // js-yaml reads a big file many times faster (10,000 Services: about 1.5 s instead of
  // 12); a file it rejects is read again by \`yaml\`, whose errors name the document and line.
  let fast: unknown[] | undefined;
  try {
    fast = loadAll(text, undefined, { schema: CORE_SCHEMA });
  } catch {
    fast = undefined;
  }
  if (fast) {
    fast.forEach((value, i) => {
      if (value !== null && value !== undefined) collect(value, `${file}: document ${i + 1}`, out);
    });
    return out;
  }
  const docs = yaml().parseAllDocuments(text);
  if (!Array.isArray(docs)) throw new ManifestError(`${file}: not a YAML/JSON stream`);
  docs.forEach((doc, i) => {
    const where = `${file}: document ${i + 1}`;
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      const line = e.linePos?.[0]?.line;
      throw new ManifestError(`${where}${line ? ` line ${line}` : ''}: ${e.message.split('\n')[0]}`);
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) return;
    collect(value, where, out);
  });
  return out;
}

/**
 * `items`: a List's items parsed one at a time, when `value` is the List without them
 * (a JSON List read item by item); `trim`: keep such an item as kept() makes it.
 */
function collect(value: unknown, where: string, out: ManifestObject[], items?: Array<() => unknown>, trim = false): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ManifestError(`${where}: expected a Kubernetes object, got ${Array.isArray(value) ? 'a list' : typeof value}`);
  }
  const o = value as Record<string, unknown>;
  if (o.kind === 'List' || (typeof o.kind === 'string' && o.kind.endsWith('List') && Array.isArray(o.items))) {
    if (!Array.isArray(o.items)) throw new ManifestError(`${where}: items must be a list`);
    if (items) items.forEach((item, j) => collect(item(), `${where} items[${j}]`, out, undefined, true));
    else o.items.forEach((item, j) => collect(item, `${where} items[${j}]`, out));
    return;
  }
  if (o.kind === 'Service' || o.kind === 'EndpointSlice') out.push({ kind: o.kind, obj: trim ? kept(o.kind, o) : o, where });
}

/** A valid object as the model reads it; an invalid one as written, for the gate to report. */
function kept(kind: ManifestObject['kind'], o: Record<string, unknown>): Record<string, unknown> {
  try {
    const trimmed = kind === 'Service' ? trimService(validateService(o)) : trimEndpointSlice(validateEndpointSlice(o));
    return trimmed as unknown as Record<string, unknown>;
  } catch {
    return o;
  }
}
