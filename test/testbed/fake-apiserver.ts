// A fake Kubernetes API server for tests, speaking the real list/watch protocol for
// Services, EndpointSlices and Nodes: paginated lists carrying a resourceVersion,
// chunked watch streams of JSON events, BOOKMARK events to watches that allow them,
// 410 Gone for a compacted resourceVersion, and faults on demand (dropped connections, silent watches,
// server errors, restarts), and optionally HTTPS with bearer-token authentication, as a
// Pod's in-cluster config reaches the real one.
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';

export type Kind = 'services' | 'endpointslices' | 'nodes';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; uid?: string; [k: string]: unknown };
  [k: string]: unknown;
}

const ROUTES: Record<string, { kind: Kind; listKind: string; apiVersion: string; objKind: string }> = {
  '/api/v1/services': { kind: 'services', listKind: 'ServiceList', apiVersion: 'v1', objKind: 'Service' },
  '/apis/discovery.k8s.io/v1/endpointslices': {
    kind: 'endpointslices',
    listKind: 'EndpointSliceList',
    apiVersion: 'discovery.k8s.io/v1',
    objKind: 'EndpointSlice',
  },
  '/api/v1/nodes': { kind: 'nodes', listKind: 'NodeList', apiVersion: 'v1', objKind: 'Node' },
};

type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

interface Event {
  rv: number;
  kind: Kind;
  type: EventType;
  object: KubeObject;
}

interface Watcher {
  kind: Kind;
  nameSelector?: string;
  res: http.ServerResponse;
}

const OBJECT_KIND: Record<Kind, { apiVersion: string; kind: string }> = {
  services: { apiVersion: 'v1', kind: 'Service' },
  endpointslices: { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice' },
  nodes: { apiVersion: 'v1', kind: 'Node' },
};

const keyOf = (o: KubeObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

export interface TlsCert {
  /** PEM */
  key: string;
  /** PEM; self-signed, so it is its own CA (a client's ca.crt) */
  cert: string;
}

export class FakeApiServer {
  private rv = 1;
  /** Watches from a resourceVersion older than this get 410 Gone. */
  private oldest = 1;
  private uid = 0;
  private readonly objects: Record<Kind, Map<string, KubeObject>> = { services: new Map(), endpointslices: new Map(), nodes: new Map() };
  /** Each kind's objects in key order, kept until one changes: a list of 100,000 pages through them without sorting per page. */
  private readonly sorted: Partial<Record<Kind, KubeObject[]>> = {};
  private history: Event[] = [];
  private readonly watchers = new Set<Watcher>();
  private readonly sockets = new Set<Socket>();
  private server?: http.Server;
  /** Requests still to be answered with 500. */
  failNext = 0;
  /** Open watches receive nothing while set, like a half-open connection. */
  silenced = false;
  /**
   * How often a watch that allows bookmarks gets one: the current resourceVersion, with
   * which a quiet watch resumes where the server is, not where its last event left it
   * (kube-apiserver sends them about once a minute).
   */
  bookmarkMs = 60_000;
  readonly requests: string[] = [];
  /** Serve HTTPS with this key and certificate (taken at start). */
  tls?: TlsCert;
  /** Requests without "Authorization: Bearer <token>" get 401, as the real server answers. */
  token?: string;

  async start(port: number, host = '127.0.0.1'): Promise<number> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => this.handle(req, res);
    const server = this.tls ? https.createServer({ key: this.tls.key, cert: this.tls.cert }, handler) : http.createServer(handler);
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, resolve);
    });
    this.server = server;
    return (server.address() as { port: number }).port;
  }

  /** Closes the listener and every connection, as a crashed API server would. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.watchers.clear();
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise((r) => server.close(r));
  }

  upsert(kind: Kind, obj: KubeObject): void {
    const key = keyOf(obj);
    const type: EventType = this.objects[kind].has(key) ? 'MODIFIED' : 'ADDED';
    const stored = structuredClone(obj);
    stored.metadata.uid = (this.objects[kind].get(key)?.metadata.uid as string | undefined) ?? `uid-${++this.uid}`;
    stored.metadata.resourceVersion = String(++this.rv);
    this.objects[kind].set(key, stored);
    delete this.sorted[kind];
    this.emit({ rv: this.rv, kind, type, object: stored });
  }

  remove(kind: Kind, namespace: string | undefined, name: string): void {
    const key = `${namespace ?? ''}/${name}`;
    const obj = this.objects[kind].get(key);
    if (!obj) return;
    this.objects[kind].delete(key);
    delete this.sorted[kind];
    const gone = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++this.rv) } };
    this.emit({ rv: this.rv, kind, type: 'DELETED', object: gone });
  }

  /** Forgets history, as etcd compaction does: resuming an older watch gets 410 Gone. */
  compact(): void {
    this.history = [];
    this.oldest = this.rv + 1;
  }

  /** Ends every open watch by dropping its connection. */
  dropWatches(): void {
    for (const w of this.watchers) w.res.socket?.destroy();
    this.watchers.clear();
  }

  private emit(ev: Event): void {
    this.history.push(ev);
    if (this.silenced) return;
    for (const w of this.watchers) if (w.kind === ev.kind && this.matches(w, ev.object)) this.send(w, ev.type, ev.object);
  }

  private matches(w: { nameSelector?: string }, o: KubeObject): boolean {
    return w.nameSelector === undefined || o.metadata.name === w.nameSelector;
  }

  private send(w: Watcher, type: string, object: KubeObject): void {
    w.res.write(`${JSON.stringify({ type, object })}\n`);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    this.requests.push(`${req.method} ${url.pathname}${url.search}`);
    const route = ROUTES[url.pathname];
    if (this.token !== undefined && req.headers.authorization !== `Bearer ${this.token}`) return this.status(res, 401, 'Unauthorized', 'Unauthorized');
    if (this.failNext > 0) {
      this.failNext--;
      return this.status(res, 500, 'InternalError', 'injected failure');
    }
    if (!route || req.method !== 'GET') return this.status(res, 404, 'NotFound', `no route ${url.pathname}`);
    const field = url.searchParams.get('fieldSelector');
    const nameSelector = field?.startsWith('metadata.name=') ? field.slice('metadata.name='.length) : undefined;
    if (url.searchParams.get('watch') === 'true') return this.watch(route.kind, url, nameSelector, res);
    this.list(route, url, nameSelector, res);
  }

  private list(route: (typeof ROUTES)[string], url: URL, nameSelector: string | undefined, res: http.ServerResponse): void {
    const sorted = (this.sorted[route.kind] ??= [...this.objects[route.kind].entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, o]) => o));
    const all = nameSelector === undefined ? sorted : sorted.filter((o) => this.matches({ nameSelector }, o));
    const limit = Number(url.searchParams.get('limit') ?? 0);
    const token = url.searchParams.get('continue');
    const start = token ? Number(Buffer.from(token, 'base64').toString()) : 0;
    const items = limit > 0 ? all.slice(start, start + limit) : all.slice(start);
    const next = limit > 0 && start + limit < all.length ? Buffer.from(String(start + limit)).toString('base64') : undefined;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        apiVersion: route.apiVersion,
        kind: route.listKind,
        metadata: { resourceVersion: String(this.rv), ...(next ? { continue: next } : {}) },
        items: items.map((o) => ({ apiVersion: route.apiVersion, kind: route.objKind, ...o })),
      }),
    );
  }

  private watch(kind: Kind, url: URL, nameSelector: string | undefined, res: http.ServerResponse): void {
    const from = Number(url.searchParams.get('resourceVersion') || this.rv);
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    if (from < this.oldest - 1) {
      // The real server answers an expired resourceVersion with an ERROR event.
      res.end(
        `${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410, message: `too old resource version: ${from} (${this.oldest})` } })}\n`,
      );
      return;
    }
    const w: Watcher = { kind, nameSelector, res };
    for (const ev of this.history) if (ev.kind === kind && ev.rv > from && this.matches(w, ev.object)) this.send(w, ev.type, ev.object);
    this.watchers.add(w);
    // kube-apiserver sends the headers as the watch starts: a quiet watch is still an answered one.
    res.flushHeaders();
    const bookmarks = url.searchParams.get('allowWatchBookmarks') === 'true' ? setInterval(() => this.bookmark(w), this.bookmarkMs).unref() : undefined;
    res.on('close', () => {
      this.watchers.delete(w);
      clearInterval(bookmarks);
    });
    const timeout = Number(url.searchParams.get('timeoutSeconds') ?? 0);
    if (timeout > 0) setTimeout(() => res.end(), timeout * 1000).unref();
  }

  private bookmark(w: Watcher): void {
    if (this.silenced || !this.watchers.has(w)) return;
    this.send(w, 'BOOKMARK', { ...OBJECT_KIND[w.kind], metadata: { name: '', resourceVersion: String(this.rv) } });
  }

  private status(res: http.ServerResponse, code: number, reason: string, message: string): void {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, code, message }));
  }
}
