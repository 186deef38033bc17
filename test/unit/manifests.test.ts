import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { ManifestSource } from '../../src/sources/manifests.js';
import { parseManifest } from '../../src/sources/manifest-file.js';
import { listItems as listOfBytes, parseItem } from '../../src/sources/json-list.js';
import { parseAllDocuments } from 'yaml';
import { list, makeService } from '../fixtures/k8s.js';

const SERVICE = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  clusterIP: 198.19.0.10
  ports: [{name: http, port: 80, targetPort: http}]
`;
const SLICE = `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-abc, namespace: shop, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints: [{addresses: [198.18.1.10], conditions: {ready: true}}]
`;

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { log, lines };
}

const listItems = (text: string) => listOfBytes(Buffer.from(text));

describe('parseManifest', () => {
  it('reads YAML into the same values as the yaml package (YAML 1.2 core schema), scalars that look alike included', () => {
    const text = `${SERVICE}---\n# a comment\n${SLICE}---\nkind: Service\nmetadata:\n  name: odd\n  labels: {a: yes, b: "0755", c: 0755, d: 1e3, e: ~, f: 0x1F, g: .inf, h: 2024-01-02}\nspec:\n  ports: [{port: 80, name: "on"}]\n`;
    const want = parseAllDocuments(text).map((d) => d.toJS());
    expect(parseManifest('a.yaml', Buffer.from(text)).map((o) => o.obj)).toEqual(want);
  });

  it('reads a JSON List item by item, each valid object trimmed to what the model reads and each invalid one as written', () => {
    const svc = { ...makeService('shop', 'j', { clusterIP: '198.19.0.11', ports: [{ port: 81 }] }), metadata: { name: 'j', namespace: 'shop', managedFields: [{ manager: 'kubectl' }], annotations: { note: 'a "quoted" ] } [ {' } } };
    const bad = makeService('shop', 'bad', { clusterIP: '198.19.0.12', ports: [{ port: 70000 }] });
    const text = JSON.stringify({ apiVersion: 'v1', kind: 'List', metadata: {}, items: [svc, { kind: 'ConfigMap', metadata: { name: 'x' } }, bad] }, null, 1);
    const items = listItems(text);
    expect(items?.items).toHaveLength(3);
    expect(items?.head).toEqual({ apiVersion: 'v1', kind: 'List', metadata: {}, items: [] });
    const objs = parseManifest('l.json', Buffer.from(text));
    expect(objs.map((o) => [o.kind, o.where])).toEqual([
      ['Service', 'l.json: document 1 items[0]'],
      ['Service', 'l.json: document 1 items[2]'],
    ]);
    expect(objs[0]!.obj.metadata).toMatchObject({ name: 'j', namespace: 'shop', annotations: undefined });
    expect('managedFields' in (objs[0]!.obj.metadata as object)).toBe(false);
    expect(objs[1]!.obj).toEqual(bad);
    // The objects a parse of the whole file finds (JSON is YAML: the YAML reader takes it whole, and keeps them whole).
    const whole = parseManifest('l.yaml', Buffer.from(text));
    expect(whole.map((o) => [o.kind, o.where.replace('l.yaml', 'l.json')])).toEqual(objs.map((o) => [o.kind, o.where]));
    expect(whole[0]!.obj).toEqual(svc);
  });

  it('reads a JSON List of multi-byte characters, after a byte order mark, item by item', () => {
    const svc = { ...makeService('shop', 'u', { clusterIP: '198.19.0.13', ports: [{ port: 82 }] }), metadata: { name: 'u', namespace: 'shop', annotations: { note: '☕ "é" ] ü' } } };
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify({ kind: 'List', items: [svc, svc] }))]);
    const list = listOfBytes(bytes);
    expect(list?.items).toHaveLength(2);
    expect(parseItem(bytes, list!.items[1]!)).toEqual(svc);
    expect(parseManifest('u.json', bytes).map((o) => o.where)).toEqual(['u.json: document 1 items[0]', 'u.json: document 1 items[1]']);
  });

  it('reads any other JSON whole, and names the file of JSON that does not parse', () => {
    for (const text of ['[]', '{"kind": "List", "items": [1]}', '{"kind": "List", "items": {}}', '{"items": [{}], "items": [{"a": 1}]}', '{"kind": "List", "items": [{"a": "\\""}]} x']) {
      expect(listItems(text), text).toBeUndefined();
    }
    expect(listItems('{"kind": "List", "items": [{"a": "\\\\"}, {"b": "\\"]"}]}')?.items).toHaveLength(2);
    expect(() => parseManifest('/m/a.json', Buffer.from('{"kind": "List", "items": [{"kind": "Service", "x": tru}]}'))).toThrow(/^\/m\/a\.json: .*JSON/);
    expect(() => parseManifest('/m/b.json', Buffer.from('{"kind": "List", "items": [1]}'))).toThrow('/m/b.json: document 1 items[0]: expected a Kubernetes object, got number');
  });

  it('reads multi-document YAML, JSON, and List kinds; ignores other kinds', () => {
    const objs = parseManifest('a.yaml', Buffer.from(`${SERVICE}---\n${SLICE}---\nkind: ConfigMap\nmetadata: {name: x}\n`));
    expect(objs.map((o) => [o.kind, (o.obj.metadata as { name: string }).name, o.where])).toEqual([
      ['Service', 'web', 'a.yaml: document 1'],
      ['EndpointSlice', 'web-abc', 'a.yaml: document 2'],
    ]);
    const json = list(makeService('shop', 'j', { clusterIP: '198.19.0.11', ports: [{ port: 81 }] }));
    expect(parseManifest('b.json', Buffer.from(json)).map((o) => o.where)).toEqual(['b.json: document 1 items[0]']);
  });

  it('names the file, document and line of YAML that does not parse', () => {
    expect(() => parseManifest('/m/y.yaml', Buffer.from(`${SERVICE}---\nkind: Service\nmetadata: {name: [\n`))).toThrow(/\/m\/y\.yaml: document 2 line \d+: /);
    expect(() => parseManifest('/m/l.yaml', Buffer.from('kind: List\nitems: 3\n'))).toThrow('/m/l.yaml: document 1: items must be a list');
    expect(() => parseManifest('/m/s.yaml', Buffer.from('42\n'))).toThrow('/m/s.yaml: document 1: expected a Kubernetes object, got number');
  });
});

describe('ManifestSource', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlb-manifests-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('times a change by its file\'s mtime, for the network programming latency; the initial state carries none', () => {
    const src = new ManifestSource(dir, capture().log);
    fs.writeFileSync(path.join(dir, 'web.yaml'), `${SERVICE}---\n${SLICE}`);
    fs.writeFileSync(path.join(dir, 'other.yaml'), SERVICE.replace('name: web', 'name: other').replace('198.19.0.10', '198.19.0.11'));
    expect(src.read().triggers).toEqual([]);
    expect(src.read().triggers).toEqual([]);
    fs.writeFileSync(path.join(dir, 'web.yaml'), SERVICE);
    const when = new Date('2026-11-23T10:00:00Z');
    fs.utimesSync(path.join(dir, 'web.yaml'), when, when);
    expect(src.read().triggers).toEqual([when.getTime()]);
  });

  it('keeps the whole last good content of a file whose YAML turns to garbage, and reports it once', () => {
    const { log, lines } = capture();
    const src = new ManifestSource(dir, log);
    fs.writeFileSync(path.join(dir, 'web.yaml'), `${SERVICE}---\n${SLICE}`);
    expect(src.read().services).toHaveLength(1);
    fs.writeFileSync(path.join(dir, 'web.yaml'), `${SERVICE}---\nkind: Service\nmetadata: {name: [\n`);
    const kept = src.read();
    src.read();
    expect(kept.services.map((s) => s.metadata.name)).toEqual(['web']);
    expect(kept.slices).toHaveLength(1);
    const errors = lines.filter((l) => l.level === 50);
    expect(errors).toHaveLength(1);
    expect(String(errors[0]!.msg)).toMatch(/^invalid manifest: .*web\.yaml: document 2 line \d+/);
  });

  it('serves the other objects of a file holding an invalid one, which is skipped and reported once by name and field', () => {
    const { log, lines } = capture();
    const src = new ManifestSource(dir, log);
    const bad = SERVICE.replace('name: web', 'name: bad').replace('198.19.0.10', '198.19.0.11').replace('spec:', 'spec:\n  externalIPs: ["1.2.3"]');
    fs.writeFileSync(path.join(dir, 'all.yaml'), `${SERVICE}---\n${bad}---\n${SLICE}`);
    const snap = src.read();
    src.read();
    expect(snap.services.map((s) => s.metadata.name)).toEqual(['web']);
    expect(snap.slices.map((s) => s.metadata.name)).toEqual(['web-abc']);
    const errors = lines.filter((l) => l.level === 50);
    expect(errors).toEqual([
      expect.objectContaining({
        kind: 'Service',
        object: 'shop/bad',
        field: 'spec.externalIPs[0]',
        from: `${path.join(dir, 'all.yaml')}: document 2`,
        lastGoodKept: false,
        msg: 'invalid Service shop/bad: spec.externalIPs[0]: must be an IP address, got "1.2.3"; skipped',
      }),
    ]);
  });

  it('keeps the last good version of an object that turns invalid, and says when it is valid again', () => {
    const { log, lines } = capture();
    const src = new ManifestSource(dir, log);
    const file = path.join(dir, 'web.yaml');
    fs.writeFileSync(file, `${SERVICE}---\n${SLICE}`);
    src.read();
    // An operator's typo in the port: the Service that worked goes on working.
    fs.writeFileSync(file, `${SERVICE.replace('port: 80', 'port: 70000')}---\n${SLICE}`);
    const kept = src.read();
    expect(kept.services[0]!.spec.ports![0]!.port).toBe(80);
    expect(kept.slices).toHaveLength(1);
    // Touched again with the same problem: not reported again.
    fs.writeFileSync(file, `${SERVICE.replace('port: 80', 'port: 70000')}---\n${SLICE}\n`);
    src.read();
    expect(lines.filter((l) => l.level === 50).map((l) => [l.object, l.field, l.lastGoodKept])).toEqual([['shop/web', 'spec.ports[0].port', true]]);
    fs.writeFileSync(file, `${SERVICE.replace('port: 80', 'port: 8080')}---\n${SLICE}`);
    expect(src.read().services[0]!.spec.ports![0]!.port).toBe(8080);
    expect(lines.at(-1)).toMatchObject({ level: 30, kind: 'Service', object: 'shop/web', msg: 'Service shop/web is valid again' });
  });

  it('drops the objects of a deleted file and ignores other extensions', () => {
    const { log } = capture();
    const src = new ManifestSource(dir, log);
    fs.writeFileSync(path.join(dir, 'a.yml'), SERVICE);
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'kind: Service');
    expect(src.read().services).toHaveLength(1);
    fs.rmSync(path.join(dir, 'a.yml'));
    expect(src.read().services).toHaveLength(0);
  });

  it('delivers a new snapshot when a file changes', async () => {
    const { log } = capture();
    const src = new ManifestSource(dir, log);
    const snaps: number[] = [];
    await src.start((s) => snaps.push(s.services.length));
    fs.writeFileSync(path.join(dir, 'a.yaml'), SERVICE);
    await expect.poll(() => snaps.at(-1), { timeout: 3000 }).toBe(1);
    src.stop();
    expect(snaps[0]).toBe(0);
  });
});
