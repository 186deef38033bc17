// --manifests DIR: every *.yaml/*.yml/*.json file, re-read on change. A file that fails
// to parse is reported and its last good content kept; its objects then pass the gate
// one by one (an invalid one is reported and its last good version kept, or skipped).
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { ManifestError, parseManifest, type ManifestObject } from './manifest-file.js';
import { SnapshotGate } from './object-gate.js';
import type { Snapshot, Source } from './snapshot.js';

const MANIFEST_EXT = /\.(ya?ml|json)$/i;
/** Editors write files in several steps: wait for them to settle. */
const SETTLE_MS = 20;

export class ManifestSource implements Source {
  private readonly good = new Map<string, { mtimeMs: number; size: number; objects: ManifestObject[] }>();
  private readonly reported = new Map<string, string>();
  /** object -> its file and document, for the gate's log lines */
  private readonly where = new WeakMap<object, string>();
  private readonly gate: SnapshotGate;
  private watcher?: fs.FSWatcher;
  private timer?: NodeJS.Timeout;
  /** the first read is the initial state, which carries no change to time */
  private initial = true;

  constructor(
    private readonly dir: string,
    private readonly log: Logger,
  ) {
    if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`--manifests ${dir}: not a directory`);
    this.gate = new SnapshotGate(log);
  }

  async start(onUpdate: (u: Snapshot) => void): Promise<void> {
    const emit = () => onUpdate(this.read());
    this.watcher = fs.watch(this.dir, () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(emit, SETTLE_MS);
    });
    this.watcher.on('error', (err) => this.log.error({ err, dir: this.dir }, 'manifest directory watch failed'));
    emit();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.watcher?.close();
  }

  /** Re-reads changed files and merges every file's last good objects, through the gate. */
  read(): Snapshot {
    const files = fs
      .readdirSync(this.dir)
      .filter((f) => MANIFEST_EXT.test(f))
      .sort();
    for (const name of [...this.good.keys()]) if (!files.includes(name)) this.good.delete(name);
    for (const name of [...this.reported.keys()]) if (!files.includes(name)) this.reported.delete(name);
    // A changed file's mtime is when its change was made (the network programming latency).
    const triggers: number[] = [];
    for (const name of files) {
      const changedAt = this.readFile(name);
      if (changedAt !== undefined && !this.initial) triggers.push(changedAt);
    }
    this.initial = false;
    const services: object[] = [];
    const slices: object[] = [];
    for (const { objects } of this.good.values()) {
      for (const o of objects) (o.kind === 'Service' ? services : slices).push(o.obj);
    }
    return { full: true, ...this.gate.admit(services, slices, (o) => this.where.get(o)), triggers };
  }

  /** Re-reads a file that changed; returns its mtime when it did. */
  private readFile(name: string): number | undefined {
    const file = path.join(this.dir, name);
    try {
      const st = fs.statSync(file);
      const prev = this.good.get(name);
      if (prev && prev.mtimeMs === st.mtimeMs && prev.size === st.size && !this.reported.has(name)) return undefined;
      const objects = parseManifest(file, fs.readFileSync(file));
      for (const o of objects) this.where.set(o.obj, o.where);
      this.good.set(name, { mtimeMs: st.mtimeMs, size: st.size, objects });
      if (this.reported.delete(name)) this.log.info({ file }, 'manifest file is valid again');
      return st.mtimeMs;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      const message = err instanceof ManifestError ? err.message : `${file}: ${(err as Error).message}`;
      // Report each distinct problem once; keep the file's last good objects.
      if (this.reported.get(name) !== message) {
        this.reported.set(name, message);
        this.log.error({ file, keptLastGood: this.good.has(name) }, `invalid manifest: ${message}`);
      }
      return undefined;
    }
  }
}
