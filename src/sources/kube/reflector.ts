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

/** Lets the aborted request settle before the new one starts. */
const IDLE_RESTART_DELAY_MS = 10;

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

  constructor(
    private readonly what: string,
    private readonly path: string,
    private readonly kc: KubeConfig,
    private readonly listFn: () => Promise<KubernetesListObject<T>>,
    private readonly onChange: () => void,
    private readonly log: Logger,
    private readonly opts: ReflectorOptions,
    private readonly fieldSelector?: string,
  ) {
    this.backoffMs = opts.backoffInitialMs;
  }

  get isSynced(): boolean {
    return this.synced;
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
    const lw = new ListWatch<T>(this.path, new Watch(this.kc), listFn, false, undefined, this.fieldSelector);
    const changed = () => {
      this.healthy();
      this.onChange();
    };
    lw.on('add', changed);
    lw.on('update', changed);
    lw.on('delete', changed);
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
    this.backoffMs = this.opts.backoffInitialMs;
    this.armIdle();
  }

  private armIdle(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.restart(`no event for ${this.opts.idleMs} ms`, IDLE_RESTART_DELAY_MS), this.opts.idleMs);
    this.idleTimer.unref();
  }

  private failed(err: unknown): void {
    const e = err as { statusCode?: number; code?: string; message?: string; name?: string };
    // Our own stop() aborts the request; that is not a failure.
    if (this.stopped || this.restarting || e.name === 'AbortError') return;
    const why = e.statusCode ? `HTTP ${e.statusCode}` : (e.code ?? e.message ?? String(err));
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
