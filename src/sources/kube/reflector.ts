// One resource kept in sync with the API server: a client-node ListWatch plus what it
// lacks in 1.4 — it stops on any error but 410 (we restart it with backoff), and a
// watch that goes silent (a half-open connection) is never noticed (we restart it
// after an idle period). Restarts resume from the last resourceVersion; a 410
// re-lists, and the cache then holds the full current state.
import { ListWatch, Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';

export interface ReflectorOptions {
  /** restart a watch that delivered nothing for this long */
  idleMs: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
}

const OBJECT_PHASES = new Set(['ADDED', 'MODIFIED', 'DELETED']);

/** Lets the aborted request settle before the new one starts. */
const IDLE_RESTART_DELAY_MS = 10;

/**
 * client-node's Watch, asking for bookmarks (a quiet resource still hears from the
 * server, so its watch is neither taken for dead nor re-listed on a restart) and
 * saying when a watch request was answered (the API server is reachable again).
 */
class BookmarkWatch extends Watch {
  /**
   * `onAnswer`: the server answered a watch; `onEvent(deliver)`: wraps the delivery of
   * each event, so the reflector can tell watched changes from a list's items.
   */
  constructor(
    kc: KubeConfig,
    private readonly onAnswer: () => void,
    private readonly onEvent: (deliver: () => void) => void,
    private readonly trim: (obj: KubernetesObject) => KubernetesObject,
  ) {
    super(kc);
  }

  override async watch(path: string, params: Record<string, unknown>, callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void, done: (err: unknown) => void): Promise<AbortController> {
    let failed = false;
    const controller = await super.watch(
      path,
      { ...params, allowWatchBookmarks: true },
      // Objects are trimmed as they arrive; a BOOKMARK or an ERROR (a Status) is passed as it is.
      (phase, obj, w) => this.onEvent(() => callback(phase, OBJECT_PHASES.has(phase) ? this.trim(obj as KubernetesObject) : obj, w)),
      (err) => {
        if (err) failed = true;
        done(err);
      },
    );
    if (!failed) this.onAnswer();
    return controller;
  }
}

export const DEFAULT_REFLECTOR_OPTIONS: ReflectorOptions = { idleMs: 5 * 60_000, backoffInitialMs: 200, backoffMaxMs: 30_000 };

export class Reflector<T extends KubernetesObject> {
  private lw?: ListWatch<T>;
  private synced = false;
  private stopped = false;
  private restarting = false;
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
    private readonly kc: KubeConfig,
    private readonly listFn: () => Promise<KubernetesListObject<T>>,
    /** what is kept of each watched object (the list trims its items itself) */
    private readonly trim: (obj: KubernetesObject) => KubernetesObject,
    /** An object was added or changed, or `deleted`; `live`: seen by the watch (not a list's item). */
    private readonly onChange: (obj: T, deleted: boolean, live: boolean) => void,
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

  list(): readonly T[] {
    return this.lw?.list() ?? [];
  }

  start(): void {
    const listFn = async () => {
      const list = await this.listFn();
      this.healthy();
      this.synced = true;
      return list;
    };
    let live = false;
    const watch = new BookmarkWatch(
      this.kc,
      () => this.healthy(),
      (deliver) => {
        this.healthy();
        // ListWatch hands a watch event to its handlers synchronously.
        live = true;
        try {
          deliver();
        } finally {
          live = false;
        }
      },
      this.trim,
    );
    const lw = new ListWatch<T>(this.path, watch, listFn, false, undefined, this.fieldSelector);
    const changed = (obj: T) => this.onChange(obj, false, live);
    lw.on('add', changed);
    lw.on('update', changed);
    lw.on('delete', (obj: T) => this.onChange(obj, true, live));
    lw.on('connect', () => this.armIdle());
    lw.on('error', (err: unknown) => this.failed(err));
    this.lw = lw;
    void lw.start();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.idleTimer);
    clearTimeout(this.retryTimer);
    void this.lw?.stop();
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
    this.idleTimer = setTimeout(() => this.restart(`no event for ${this.opts.idleMs} ms`, IDLE_RESTART_DELAY_MS), this.opts.idleMs);
    this.idleTimer.unref();
  }

  private failed(err: unknown): void {
    const e = err as { statusCode?: number; code?: string | number; message?: string; name?: string };
    // Our own stop() aborts the request; that is not a failure.
    if (this.stopped || this.restarting || e.name === 'AbortError') return;
    // client-node's ApiException carries the HTTP status as a numeric `code`.
    const status = e.statusCode ?? (typeof e.code === 'number' ? e.code : undefined);
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
    clearTimeout(this.idleTimer);
    clearTimeout(this.retryTimer);
    this.restarting = true;
    void this.lw?.stop();
    this.retryTimer = setTimeout(() => {
      this.restarting = false;
      if (!this.stopped) void this.lw?.start();
    }, delayMs);
  }
}
