// Parses one manifest file (YAML or JSON, several documents, `kind: List` allowed) into
// its Service and EndpointSlice objects, each with where it is. A file that does not
// parse names the file, document and line; objects are checked one by one later
// (object-gate.ts), so one bad object does not take its file's others down. A JSON List
// is read item by item, each valid item kept as the model reads it (trim.ts) as soon
// as it is parsed, so that whole objects die young. (Trimming objects of a file parsed
// whole, as js-yaml reads YAML, would raise the peak: the copies are made while the
// whole objects still take their room.)
import { createRequire } from 'node:module';
import { CORE_SCHEMA, loadAll } from 'js-yaml';
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

export function parseManifest(file: string, text: string): ManifestObject[] {
  const out: ManifestObject[] = [];
  // JSON is YAML too, but JSON.parse is an order of magnitude faster on big files.
  if (file.toLowerCase().endsWith('.json')) {
    const where = `${file}: document 1`;
    const list = listItems(text);
    if (list) {
      try {
        collect(list.head, where, out, list.items.map((at) => () => JSON.parse(text.slice(at[0], at[1])) as unknown));
        return out;
      } catch (err) {
        if (!(err instanceof SyntaxError)) throw err;
        out.length = 0; // an item that is no JSON: the whole file's parse below names where
      }
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new ManifestError(`${file}: ${(err as Error).message}`);
    }
    collect(value, where, out);
    return out;
  }
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

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const [OBJ_OPEN, OBJ_CLOSE, ARR_OPEN, ARR_CLOSE] = [0x7b, 0x7d, 0x5b, 0x5d];
const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/**
 * A JSON object whose top-level `items` is an array of objects, as the object without
 * its items (`head`, with `items: []`) and each item's place in the text, so that items
 * are parsed one by one. Undefined for anything else, or for text that is not well
 * formed here: JSON.parse then reads the whole and names what is wrong.
 */
export function listItems(text: string): { head: Record<string, unknown>; items: Array<[number, number]> } | undefined {
  const first = text.search(/\S/);
  if (first < 0 || text.charCodeAt(first) !== OBJ_OPEN) return undefined;
  const items: Array<[number, number]> = [];
  let depth = 0;
  /** the last string at depth 1: a member's key when an array follows it */
  let key: string | undefined;
  /** where the items array opens and closes, and where the current item starts */
  let open = -1;
  let close = -1;
  let item = -1;
  for (let i = first; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const inItems = open >= 0 && close < 0 && depth === 2;
    if (inItems && c !== OBJ_OPEN && c !== ARR_CLOSE && c !== COMMA && !isSpace(c)) return undefined; // an item that is not an object
    if (c === QUOTE) {
      // To the closing quote: one not escaped by an odd run of backslashes.
      let end = i;
      do {
        end = text.indexOf('"', end + 1);
        if (end < 0) return undefined;
      } while (backslashesBefore(text, end) % 2 === 1);
      if (depth === 1) key = text.slice(i + 1, end);
      i = end;
    } else if (c === OBJ_OPEN || c === ARR_OPEN) {
      if (inItems) item = i;
      else if (depth === 1 && c === ARR_OPEN && key === 'items' && open < 0) open = i;
      depth++;
    } else if (c === OBJ_CLOSE || c === ARR_CLOSE) {
      depth--;
      if (depth === 2 && open >= 0 && close < 0 && item >= 0) {
        items.push([item, i + 1]);
        item = -1;
      } else if (depth === 1 && open >= 0 && close < 0) close = i;
      if (depth === 0) return head(text, first, i, open, close, items);
    }
  }
  return undefined;
}

function backslashesBefore(text: string, at: number): number {
  let n = 0;
  while (text.charCodeAt(at - 1 - n) === BACKSLASH) n++;
  return n;
}

/** The List without its items; undefined when it has none, another `items`, or is no JSON. */
function head(text: string, first: number, last: number, open: number, close: number, items: Array<[number, number]>): { head: Record<string, unknown>; items: Array<[number, number]> } | undefined {
  if (open < 0 || close < 0 || text.slice(last + 1).trim() !== '') return undefined;
  try {
    const h = JSON.parse(`${text.slice(first, open)}[]${text.slice(close + 1, last + 1)}`) as Record<string, unknown>;
    return Array.isArray(h.items) && h.items.length === 0 ? { head: h, items } : undefined;
  } catch {
    return undefined;
  }
}
