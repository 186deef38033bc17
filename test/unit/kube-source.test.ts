// The Kubernetes API source against a fake API server speaking the real protocol:
// initial sync, updates, 410 Gone, dropped and silent watches, errors and restarts;
// in-cluster config (service account token and CA, HTTPS) as a Pod of the DaemonSet has it.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { FakeApiServer, type KubeObject, type TlsCert } from '../testbed/fake-apiserver.js';
import { KubeSource, SERVICE_ACCOUNT_DIR } from '../../src/sources/kube/kube-source.js';
import { listAll } from '../../src/sources/kube/list.js';
import { loadApiAccess } from '../../src/sources/kube/access.js';
import { objectName, type EndpointSlice, type ObjectChanges, type Service } from '../../src/model/k8s.js';
import type { SourceUpdate } from '../../src/sources/snapshot.js';
import { makeEndpoint, makeService, makeSlice } from '../fixtures/k8s.js';

/** The fake server stores any object; the kit's are typed as the model reads them. */
const asObject = (o: object) => o as KubeObject;
const svc = (name: string, ip: string, spec: Partial<Service['spec']> = {}) =>
  asObject(makeService('shop', name, { clusterIP: ip, ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 'http' }], ...spec }));
const slice = (name: string, svcName: string, ips: string[]) =>
  asObject(makeSlice('shop', name, svcName, { ports: [{ name: 'http', port: 8080, protocol: 'TCP' }], endpoints: ips.map((ip) => makeEndpoint(ip, { nodeName: 'node-a' })) }));

/** Self-signed certificates for 127.0.0.1 (an IP SAN: clients verify the address they dial),
 * made once with `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes
 * -days 36500 -subj /CN=fake-apiserver -addext subjectAltName=IP:127.0.0.1`. */
const TLS_DIR = fileURLToPath(new URL('../fixtures/tls/', import.meta.url));
const readTls = (name: string) => fs.readFileSync(path.join(TLS_DIR, name), 'utf8');
const node: KubeObject = {
  metadata: { name: 'node-a', labels: { 'topology.kubernetes.io/zone': 'zone-a' } },
  status: { addresses: [{ type: 'InternalIP', address: '198.18.0.1' }, { type: 'Hostname', address: 'node-a' }] },
};

let api: FakeApiServer;
let port: number;
let dir: string;
let source: KubeSource;
let snaps: SourceUpdate[];
let logs: Array<{ level: number; msg: string; resource?: string }>;

/** The objects as the deliveries so far leave them: the first whole, each later one changes. */
function current(): { services: Service[]; slices: EndpointSlice[] } {
  const services = new Map<string, Service>();
  const slices = new Map<string, EndpointSlice>();
  const apply = <T extends Service | EndpointSlice>(into: Map<string, T>, c: ObjectChanges<T>) => {
    for (const name of c.deleted) into.delete(name);
    for (const o of c.upserted) into.set(objectName(o), o);
  };
  for (const u of snaps) {
    if (u.full) {
      services.clear();
      slices.clear();
    }
    apply(services, u.full ? { upserted: u.services, deleted: [] } : u.services);
    apply(slices, u.full ? { upserted: u.slices, deleted: [] } : u.slices);
  }
  return { services: [...services.values()], slices: [...slices.values()] };
}
const names = () => current().services.map((s) => s.metadata.name).sort();

/** A kubeconfig for the fake API server. */
function writeKubeconfig(): string {
  const kubeconfig = path.join(dir, 'kubeconfig');
  fs.writeFileSync(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]
users: [{name: xlb, user: {token: test}}]
contexts: [{name: fake, context: {cluster: fake, user: xlb}}]
current-context: fake
`,
  );
  return kubeconfig;
}

function startSource(): Promise<void> {
  const kubeconfig = writeKubeconfig();
  const log = pino({ level: 'info' }, { write: (s: string) => void logs.push(JSON.parse(s)) });
  source = new KubeSource({ kubeconfig, nodeName: 'node-a', reflector: { idleMs: 600, backoffInitialMs: 50, backoffMaxMs: 200 } }, log);
  return source.start((s) => snaps.push(s));
}

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlb-kube-'));
  snaps = [];
  logs = [];
  api = new FakeApiServer();
  port = await api.start(0);
  api.upsert('services', svc('web', '198.19.0.10'));
  api.upsert('endpointslices', slice('web-a', 'web', ['198.18.1.10']));
  api.upsert('endpointslices', slice('web-b', 'web', ['198.18.1.11']));
  api.upsert('nodes', node);
  api.upsert('nodes', { metadata: { name: 'node-b' } });
});

afterEach(async () => {
  source?.stop();
  await api.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('KubeSource', () => {
  it('delivers nothing until every list is synced, then the whole state and this node', async () => {
    api.failNext = 2; // the first lists fail and are retried
    await startSource();
    await expect.poll(() => snaps.length, { timeout: 5000 }).toBeGreaterThan(0);
    const first = snaps[0]!;
    if (!first.full) throw new Error('the first delivery must be the whole state');
    expect(first.services.map((s) => s.metadata.name)).toEqual(['web']);
    expect(first.slices.map((s) => s.metadata.name).sort()).toEqual(['web-a', 'web-b']);
    expect(first.node).toEqual({ zone: 'zone-a', ips: ['198.18.0.1'] });
    expect(api.requests.some((r) => r.includes('/api/v1/nodes?') && r.includes('fieldSelector=metadata.name%3Dnode-a') && !r.includes('watch'))).toBe(true);
  });

  it('follows adds, updates and deletes', async () => {
    await startSource();
    await expect.poll(names, { timeout: 5000 }).toEqual(['web']);
    api.upsert('services', svc('api', '198.19.0.11'));
    await expect.poll(names, { timeout: 5000 }).toEqual(['api', 'web']);
    api.remove('services', 'shop', 'web');
    await expect.poll(names, { timeout: 5000 }).toEqual(['api']);
    // Every delivery after the first carries only what changed.
    expect(snaps.slice(1).map((u) => (u.full ? 'full' : [u.services.upserted.map((o) => o.metadata.name), u.services.deleted]))).toEqual([
      [['api'], []],
      [[], ['shop/web']],
    ]);
  });

  it('re-lists after 410 Gone and applies what it missed, deletes included', async () => {
    await startSource();
    await expect.poll(names, { timeout: 5000 }).toEqual(['web']);
    api.silenced = true;
    api.upsert('services', svc('missed', '198.19.0.12'));
    api.remove('services', 'shop', 'web');
    api.compact();
    api.silenced = false;
    api.dropWatches();
    await expect.poll(names, { timeout: 5000 }).toEqual(['missed']);
    expect(api.requests.filter((r) => r.startsWith('GET /api/v1/services?') && !r.includes('watch=true')).length).toBeGreaterThan(1);
  });

  it('restarts a watch that went silent, resuming from its resourceVersion', async () => {
    await startSource();
    await expect.poll(names, { timeout: 5000 }).toEqual(['web']);
    api.silenced = true; // the connection stays open but nothing arrives
    api.upsert('services', svc('quiet', '198.19.0.13'));
    await expect.poll(names, { timeout: 5000 }).toEqual(['quiet', 'web']);
    expect(logs.some((l) => l.level === 40 && l.resource === 'services' && l.msg.includes('no event'))).toBe(true);
  });

  it('keeps a quiet watch in place with bookmarks: no idle restarts, and it resumes after a compaction without a re-list', async () => {
    api.bookmarkMs = 100;
    await startSource();
    await expect.poll(names, { timeout: 5000 }).toEqual(['web']);
    // Only EndpointSlices change: the Services watch hears nothing but bookmarks, for longer than idleMs.
    for (let i = 0; i < 5; i++) {
      api.upsert('endpointslices', slice(`other-${i}`, 'other', [`198.18.2.${i}`]));
      await new Promise((r) => setTimeout(r, 250));
    }
    // History older than now is gone: only a watch that kept up with the bookmarks can resume.
    api.compact();
    api.dropWatches();
    api.upsert('services', svc('late', '198.19.0.16'));
    await expect.poll(names, { timeout: 5000 }).toEqual(['late', 'web']);
    expect(api.requests.filter((r) => r.startsWith('GET /api/v1/services?') && !r.includes('watch=true'))).toHaveLength(1);
    expect(logs.filter((l) => l.resource === 'services' && /no event|410/.test(l.msg))).toEqual([]);
  });

  it('survives dropped connections and an API server restart, logging each problem once', async () => {
    await startSource();
    await expect.poll(names, { timeout: 5000 }).toEqual(['web']);
    api.dropWatches();
    api.upsert('services', svc('after-drop', '198.19.0.14'));
    await expect.poll(names, { timeout: 5000 }).toEqual(['after-drop', 'web']);

    await api.stop();
    api.upsert('services', svc('while-down', '198.19.0.15'));
    await new Promise((r) => setTimeout(r, 1000)); // several retries with backoff
    await api.start(port);
    await expect.poll(names, { timeout: 5000 }).toEqual(['after-drop', 'web', 'while-down']);
    const warns = logs.filter((l) => l.level === 40 && l.resource === 'services');
    expect(warns.length).toBeGreaterThan(0);
    expect(warns.length).toBeLessThanOrEqual(3);
    expect(logs.some((l) => l.resource === 'services' && l.msg === 'watch recovered')).toBe(true);
  });

  it('asks for the next list page before it trims the one it has, so the server makes it meanwhile', async () => {
    for (let i = 0; i < 1200; i++) api.upsert('services', svc(`s${i}`, `198.19.${1 + (i >> 8)}.${i & 255}`));
    const kubeconfig = writeKubeconfig();
    const asked = vi.spyOn(http, 'request');
    try {
      /** how many pages had been asked for when each page's first item was trimmed */
      const when: number[] = [];
      let n = 0;
      const list = await listAll(loadApiAccess(kubeconfig), '/api/v1/services', (o: KubeObject) => {
        if (n++ % 500 === 0) when.push(asked.mock.calls.length);
        return o;
      });
      expect(list.items).toHaveLength(1201);
      expect(when).toEqual([2, 3, 3]);
    } finally {
      asked.mockRestore();
    }
  });
});

describe('KubeSource with invalid objects', () => {
  // The API server validates objects, but not as the model reads them; the fake one takes anything.
  const problems = () => (logs as Array<Record<string, unknown>>).filter((l) => l.level === 50).map((l) => [l.object, l.field, l.lastGoodKept]);

  it('skips an invalid object, keeps the last good version of one that turns invalid, and reports each problem once', async () => {
    api.upsert('services', svc('bad', '198.19.0.12', { externalIPs: ['1.2.3'] }));
    await startSource();
    await expect.poll(names, { timeout: 5000 }).toEqual(['web']);
    // An operator's typo in a Service that works, and an IPv6 address in an IPv4 slice.
    api.upsert('services', svc('web', '198.19.0.10', { ports: [{ name: 'http', port: 70000, protocol: 'TCP' }] }));
    api.upsert('endpointslices', slice('web-c', 'web', ['fd00::1']));
    api.upsert('services', svc('api', '198.19.0.11'));
    await expect.poll(names, { timeout: 5000 }).toEqual(['api', 'web']);
    const last = current();
    expect(last.services.find((s) => s.metadata.name === 'web')!.spec.ports![0]!.port).toBe(80);
    expect(last.slices.map((s) => s.metadata.name).sort()).toEqual(['web-a', 'web-b']);
    // Later changes pass the gate alone; nothing is reported again.
    api.upsert('services', svc('late', '198.19.0.13'));
    await expect.poll(names, { timeout: 5000 }).toEqual(['api', 'late', 'web']);
    expect(problems()).toEqual([
      ['shop/bad', 'spec.externalIPs[0]', false],
      ['shop/web', 'spec.ports[0].port', true],
      ['shop/web-c', 'endpoints[0].addresses[0]', false],
    ]);
    api.upsert('services', svc('web', '198.19.0.10', { ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] }));
    await expect.poll(() => current().services.find((s) => s.metadata.name === 'web')!.spec.ports![0]!.port, { timeout: 5000 }).toBe(8080);
    expect(logs.some((l) => l.level === 30 && l.msg === 'Service shop/web is valid again')).toBe(true);
  });
});

describe('KubeSource with in-cluster config', () => {
  const TOKEN = 'xlb-service-account-token';
  const cert: TlsCert = { key: readTls('apiserver.key'), cert: readTls('apiserver.crt') };
  /** Stands for /: the service account lives at <root>/var/run/secrets/... */
  let root: string;
  let saDir: string;

  beforeEach(async () => {
    // The cluster's API server: HTTPS with a certificate for the address the Pod dials, tokens checked.
    await api.stop();
    api.tls = cert;
    api.token = TOKEN;
    port = await api.start(0);
    root = path.join(dir, 'root');
    saDir = path.join(root, SERVICE_ACCOUNT_DIR);
    vi.stubEnv('KUBERNETES_SERVICE_HOST', '127.0.0.1');
    vi.stubEnv('KUBERNETES_SERVICE_PORT', String(port));
  });

  afterEach(() => {
    vi.unstubAllEnvs();
  });

  /** What kubelet mounts into the Pod. */
  function serviceAccount(token: string, ca = cert.cert): void {
    fs.mkdirSync(saDir, { recursive: true });
    fs.writeFileSync(path.join(saDir, 'token'), token);
    fs.writeFileSync(path.join(saDir, 'ca.crt'), ca);
    fs.writeFileSync(path.join(saDir, 'namespace'), 'kube-system');
  }

  /** As the agent builds it (no kubeconfig), the service account read under `root`. */
  function startInCluster(): Promise<void> {
    const log = pino({ level: 'info' }, { write: (s: string) => void logs.push(JSON.parse(s)) });
    source = new KubeSource({ nodeName: 'node-a', inClusterRoot: root, reflector: { idleMs: 5000, backoffInitialMs: 50, backoffMaxMs: 200 } }, log);
    return source.start((s) => snaps.push(s));
  }

  it('lists and watches Services and EndpointSlices over HTTPS with the service account token', async () => {
    serviceAccount(TOKEN);
    await startInCluster();
    await expect.poll(names, { timeout: 5000 }).toEqual(['web']);
    expect(snaps[0]!.node).toEqual({ zone: 'zone-a', ips: ['198.18.0.1'] });
    expect(logs.find((l) => l.msg === 'watching the Kubernetes API')).toMatchObject({ server: `https://127.0.0.1:${port}` });
    api.upsert('services', svc('api', '198.19.0.11'));
    api.upsert('endpointslices', slice('api-a', 'api', ['198.18.1.12']));
    await expect.poll(names, { timeout: 5000 }).toEqual(['api', 'web']);
    await expect.poll(() => current().slices.map((s) => s.metadata.name).sort(), { timeout: 5000 }).toEqual(['api-a', 'web-a', 'web-b']);
    for (const r of ['/api/v1/services', '/apis/discovery.k8s.io/v1/endpointslices']) {
      // Bookmarks asked for: a quiet watch hears from the server and never has to re-list.
      expect(api.requests.some((q) => q.startsWith(`GET ${r}?`) && q.includes('watch=true') && q.includes('allowWatchBookmarks=true')), r).toBe(true);
    }
  });

  it('fails a wrong token visibly and keeps retrying, delivering nothing', async () => {
    serviceAccount('not-the-token');
    await startInCluster();
    await expect.poll(() => logs.filter((l) => l.level === 40 && l.msg.includes('401')).map((l) => l.resource).sort(), { timeout: 5000 }).toEqual([
      'endpointslices',
      'node',
      'services',
    ]);
    const lists = () => api.requests.filter((r) => r.startsWith('GET /api/v1/services?') && !r.includes('watch=true')).length;
    const before = lists();
    await expect.poll(lists, { timeout: 5000 }).toBeGreaterThan(before);
    expect(snaps).toEqual([]);
  });

  it('refuses a server its CA did not sign', async () => {
    serviceAccount(TOKEN, readTls('other.crt'));
    await startInCluster();
    // Node's verdict (DEPTH_ZERO_SELF_SIGNED_CERT) names the problem.
    await expect.poll(() => logs.some((l) => l.level === 40 && l.resource === 'services' && /CERT/.test(l.msg)), { timeout: 5000 }).toBe(true);
    expect(api.requests).toEqual([]); // no request got past the TLS handshake
    expect(snaps).toEqual([]);
  });

  it('says what is missing when there is no in-cluster config', () => {
    const build = () => new KubeSource({ nodeName: 'node-a', inClusterRoot: root }, pino({ level: 'silent' }));
    vi.stubEnv('KUBERNETES_SERVICE_HOST', undefined);
    vi.stubEnv('KUBERNETES_SERVICE_PORT', undefined);
    expect(build).toThrow(
      `no in-cluster config (KUBERNETES_SERVICE_HOST unset, KUBERNETES_SERVICE_PORT unset, no service account token at ${saDir}/token, ` +
        `no CA certificate at ${saDir}/ca.crt): pass --kubeconfig or --manifests`,
    );
    vi.stubEnv('KUBERNETES_SERVICE_HOST', '127.0.0.1');
    vi.stubEnv('KUBERNETES_SERVICE_PORT', String(port));
    serviceAccount(TOKEN);
    fs.rmSync(path.join(saDir, 'ca.crt'));
    expect(build).toThrow(`no in-cluster config (no CA certificate at ${saDir}/ca.crt): pass --kubeconfig or --manifests`);
  });
});
