import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { ManifestSource } from '../../src/sources/manifests.js';
import { parseManifest } from '../../src/sources/manifest-file.js';

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

describe('parseManifest', () => {
  it('reads multi-document YAML, JSON, and List kinds; ignores other kinds', () => {
    const snap = parseManifest('a.yaml', `${SERVICE}---\n${SLICE}---\nkind: ConfigMap\nmetadata: {name: x}\n`);
    expect(snap.services.map((s) => s.metadata.name)).toEqual(['web']);
    expect(snap.slices.map((s) => s.metadata.name)).toEqual(['web-abc']);
    const list = JSON.stringify({ kind: 'List', items: [{ kind: 'Service', metadata: { name: 'j' }, spec: { clusterIP: '198.19.0.11', ports: [{ port: 81 }] } }] });
    expect(parseManifest('b.json', list).services[0]!.metadata.name).toBe('j');
  });

  it('names the file, document, object and field that is wrong', () => {
    const bad = SERVICE.replace('port: 80', 'port: 99999');
    expect(() => parseManifest('/m/svc.yaml', `${SLICE}---\n${bad}`)).toThrow(
      '/m/svc.yaml: document 2 (Service web): spec.ports[0].port: must be an integer 1-65535, got 99999',
    );
    expect(() => parseManifest('/m/s.yaml', SLICE.replace('198.18.1.10', 'banana'))).toThrow(/endpoints\[0\]\.addresses\[0\]: must be an IPv4 address/);
    expect(() => parseManifest('/m/p.yaml', SERVICE.replace('spec:', 'spec:\n  externalTrafficPolicy: Nearby'))).toThrow(
      /spec\.externalTrafficPolicy: must be Cluster or Local, got "Nearby"/,
    );
    expect(() => parseManifest('/m/y.yaml', 'kind: Service\nmetadata: {name: [\n')).toThrow(/\/m\/y\.yaml: document 1/);
  });
});

describe('ManifestSource', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlb-manifests-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('keeps the last good content of a file that turns bad, and reports it once', () => {
    const { log, lines } = capture();
    const src = new ManifestSource(dir, log);
    fs.writeFileSync(path.join(dir, 'web.yaml'), `${SERVICE}---\n${SLICE}`);
    expect(src.read().services).toHaveLength(1);
    fs.writeFileSync(path.join(dir, 'web.yaml'), SERVICE.replace('198.19.0.10', '198.19.0.999'));
    const kept = src.read();
    src.read();
    expect(kept.services[0]!.spec.clusterIP).toBe('198.19.0.10');
    expect(kept.slices).toHaveLength(1);
    const errors = lines.filter((l) => l.level === 50);
    expect(errors).toHaveLength(1);
    expect(String(errors[0]!.msg)).toContain('web.yaml: document 1 (Service web): spec.clusterIP: must be an IP address');
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
