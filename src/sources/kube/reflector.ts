// One resource kept in sync with the API server, as client-go's reflector does: list,
// then watch from the list's resourceVersion, each object trimmed as it arrives and kept
// in a cache by namespace/name. A watch the server ends is resumed from the last
// resourceVersion (bookmarks keep it fresh); an expired one (410 Gone) re-lists, and the
// differences from the cache come out as changes, deletions included. Failures restart
// with backoff, and a watch that goes silent (a half-open connection) is restarted
// after an idle period.
import type { Logger } from 'pino';
import type { ApiAccess } from './access.js';
import { flat } from '../../model/compact.js';
import { listAll } from './list.js';
import { apiGet } from './request.js';

export interface ReflectorOptions {
  /** restart a watch that delivered nothing for this long */
  idleMs: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
}

export const DEFAULT_REFLECTOR_OPTIONS: ReflectorOptions = { idleMs: 5 * 60_000, backoffInitialMs: 200, backoffMaxMs: 30_000 };

/** What the reflector reads of any object. */
export interface KubeObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

export interface ReflectorHandlers<T> {
  /** An object was added or changed, or `deleted`; `live`: seen by the watch (not a list's difference). */
  changed(obj: T, deleted: boolean, live: boolean): void;
  /** The first list is in the cache. */
  synced(): void;
}

/** The server closes a watch after this (with jitter, as client-go asks): long watches end cleanly and resume. */
const WATCH_TIMEOUT_S = 300;
/** The resourceVersion the cache has is too old for a watch: the server's words for 410 Gone. */
class Expired extends Error {}

const keyOf = (o: KubeObject) => flat(o.metadata?.namespace ?? '', '/', o.metadata?.name ?? '');

export class Reflector<T extends KubeObject> {
  private readonly cache = new Map<string, T>();
  private resourceVersion = '';
  private synced = false;
  private stopped = false;
  /** Bumped by every (re)start: a run that is not the latest ends quietly. */
  private generation = 0;
  private abort?: AbortController;
  private backoffMs: number;
  private idleTimer?: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  /** The problem already logged for the current failure streak (each is logged once). */
  private reported?: string;
  /** When the current failure streak began (ms, Unix time). */
  private failing?: number;

  constructor(
    private readonly what: string,
    private readonly path: string,
    private readonly access: ApiAccess,
    /** what is kept of each object */
    private readonly trim: (obj: T) => T,
    private readonly on: ReflectorHandlers<T>,
    private readonly log: Logger,
    private readonly opts: ReflectorOptions,
    private readonly fieldSelector?: string,
  ) {
    this.backoffMs = opts.backoffInitialMs;
  }

  get isSynced(): boolean {
    return this.synced;
  }

  /** Since when the API server has failed this resource's list or watch; undefined while it answers. */
  get failingSince(): number | undefined {
    return this.failing;
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  start(): void {
    this.stopped = false;
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    this.generation++;
    clearTimeout(this.idleTimer);
    clearTimeout(this.retryTimer);
    this.abort?.abort();
  }

  private async run(): Promise<void> {
    const generation = ++this.generation;
    const abort = (this.abort = new AbortController());
    try {
      if (!this.resourceVersion) await this.relist(abort.signal);
      if (generation !== this.generation) return;
      await this.watch(abort.signal);
      // The server ended the watch (its timeout): resume where it left off.
      if (generation === this.generation) this.schedule(0);
    } catch (err) {
      if (this.stopped || generation !== this.generation) return;
      if (err instanceof Expired) {
        this.log.info({ resource: this.what }, `the watch of ${this.what} expired (410 Gone): listing again`);
        this.resourceVersion = '';
        this.schedule(0);
      } else this.failed(err);
    }
  }

  /** Lists everything and hands on what differs from the cache. */
  private async relist(signal: AbortSignal): Promise<void> {
    const list = await listAll<T>(this.access, this.path, this.trim, this.fieldSelector, signal);
    signal.throwIfAborted();
    this.healthy();
    const first = !this.synced;
    this.synced = true;
    if (this.cache.size === 0) {
      // Straight into the empty cache: a second map of every object, to compare with
      // nothing, was 5 MB of garbage at a start of 10,000 Services.
      for (const o of list.items) this.cache.set(keyOf(o), o);
      for (const o of this.cache.values()) this.on.changed(o, false, false);
    } else {
      const now = new Map(list.items.map((o) => [keyOf(o), o]));
      for (const [key, old] of this.cache) {
        if (now.has(key)) continue;
        this.cache.delete(key);
        this.on.changed(old, true, false);
      }
      for (const [key, obj] of now) {
        const old = this.cache.get(key);
        if (old && old.metadata?.resourceVersion === obj.metadata?.resourceVersion) continue;
        this.cache.set(key, obj);
        this.on.changed(obj, false, false);
      }
    }
    this.resourceVersion = list.metadata.resourceVersion ?? '';
    if (first) this.on.synced();
  }

  /** One watch request, its events applied as they come, until the server ends it. */
  private async watch(signal: AbortSignal): Promise<void> {
    const timeoutSeconds = String(Math.round(WATCH_TIMEOUT_S * (1 + Math.random())));
    const query = { watch: 'true', resourceVersion: this.resourceVersion, allowWatchBookmarks: 'true', timeoutSeconds, fieldSelector: this.fieldSelector };
    const res = await apiGet(this.access, this.path, query, { timeoutMs: this.opts.idleMs + WATCH_TIMEOUT_S * 2000, signal }).catch((err: unknown) => {
      throw (err as { statusCode?: number }).statusCode === 410 ? new Expired() : err;
    });
    this.healthy();
    let rest = '';
    for await (const chunk of res) {
      this.armIdle();
      const lines = (rest + (chunk as Buffer).toString('utf8')).split('\n');
      rest = lines.pop()!;
      for (const line of lines) if (line.trim()) this.event(JSON.parse(line) as { type: string; object: T & { code?: number; message?: string } });
    }
  }

  private event({ type, object }: { type: string; object: T & { code?: number; message?: string } }): void {
    if (type === 'ERROR') {
      if (object.code === 410) throw new Expired();
      throw new Error(`the watch answered ${object.code ?? ''} ${object.message ?? JSON.stringify(object)}`.trim());
    }
    this.resourceVersion = object.metadata?.resourceVersion || this.resourceVersion;
    if (type === 'BOOKMARK') return;
    const obj = this.trim(object);
    const key = keyOf(obj);
    if (type === 'DELETED') {
      if (this.cache.delete(key)) this.on.changed(obj, true, true);
    } else {
      this.cache.set(key, obj);
      this.on.changed(obj, false, true);
    }
  }

  private healthy(): void {
    if (this.reported) this.log.info({ resource: this.what }, 'watch recovered');
    this.reported = undefined;
    this.failing = undefined;
    this.backoffMs = this.opts.backoffInitialMs;
    this.armIdle();
  }

  private armIdle(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.restart(`no event for ${this.opts.idleMs} ms`, 0), this.opts.idleMs);
    this.idleTimer.unref();
  }

  private failed(err: unknown): void {
    const e = err as { statusCode?: number; code?: string; message?: string };
    const status = e.statusCode;
    const why = status
      ? `HTTP ${status}${status === 401 || status === 403 ? ': the API server refuses the credentials; check the service account token and the ClusterRole' : ''}`
      : String(e.code ?? e.message ?? err);
    this.failing ??= Date.now();
    this.restart(why, this.backoffMs);
    this.backoffMs = Math.min(this.backoffMs * 2, this.opts.backoffMaxMs);
  }

  private restart(why: string, delayMs: number): void {
    if (this.stopped) return;
    if (this.reported !== why) {
      this.log.warn({ resource: this.what, retryInMs: delayMs }, `watch of ${this.what} interrupted (${why}); restarting`);
      this.reported = why;
    }
    this.schedule(delayMs);
  }

  /** Ends the current request and starts again after `delayMs`. */
  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.generation++;
    this.abort?.abort();
    clearTimeout(this.idleTimer);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.run(), delayMs);
  }
}
