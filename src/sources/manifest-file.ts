// Parses one manifest file (YAML or JSON, several documents, `kind: List` allowed)
// into Services and EndpointSlices; any problem names the file, document and field.
import { parseAllDocuments } from 'yaml';
import type { Snapshot } from './snapshot.js';
import { validateEndpointSlice, validateService, ValidationError } from './validate.js';

export class ManifestError extends Error {}

export function parseManifest(file: string, text: string): Snapshot {
  const out: Snapshot = { services: [], slices: [] };
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
  const docs = parseAllDocuments(text);
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

function collect(value: unknown, where: string, out: Snapshot): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ManifestError(`${where}: expected a Kubernetes object, got ${Array.isArray(value) ? 'a list' : typeof value}`);
  }
  const o = value as Record<string, unknown>;
  if (o.kind === 'List' || (typeof o.kind === 'string' && o.kind.endsWith('List') && Array.isArray(o.items))) {
    (o.items as unknown[]).forEach((item, j) => collect(item, `${where} items[${j}]`, out));
    return;
  }
  const name = (o.metadata as { name?: unknown } | undefined)?.name;
  const label = `${String(o.kind)}${typeof name === 'string' ? ` ${name}` : ''}`;
  try {
    if (o.kind === 'Service') out.services.push(validateService(o));
    else if (o.kind === 'EndpointSlice') out.slices.push(validateEndpointSlice(o));
  } catch (err) {
    if (err instanceof ValidationError) throw new ManifestError(`${where} (${label}): ${err.message}`);
    throw err;
  }
}
