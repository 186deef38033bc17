// Parses one manifest file (YAML or JSON, several documents, `kind: List` allowed) into
// its Service and EndpointSlice objects, each with where it is. A file that does not
// parse names the file, document and line; objects are checked one by one later
// (object-gate.ts), so one bad object does not take its file's others down.
import { createRequire } from 'node:module';
import { CORE_SCHEMA, loadAll } from 'js-yaml';

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
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new ManifestError(`${file}: ${(err as Error).message}`);
    }
    collect(value, `${file}: document 1`, out);
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

function collect(value: unknown, where: string, out: ManifestObject[]): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ManifestError(`${where}: expected a Kubernetes object, got ${Array.isArray(value) ? 'a list' : typeof value}`);
  }
  const o = value as Record<string, unknown>;
  if (o.kind === 'List' || (typeof o.kind === 'string' && o.kind.endsWith('List') && Array.isArray(o.items))) {
    if (!Array.isArray(o.items)) throw new ManifestError(`${where}: items must be a list`);
    o.items.forEach((item, j) => collect(item, `${where} items[${j}]`, out));
    return;
  }
  if (o.kind === 'Service' || o.kind === 'EndpointSlice') out.push({ kind: o.kind, obj: o, where });
}
