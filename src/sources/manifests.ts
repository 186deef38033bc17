// --manifests DIR: every *.yaml/*.yml/*.json file, re-read on change. A file that
// fails to parse or validate is reported and its last good content kept.
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { ManifestError, parseManifest } from './manifest-file.js';
import type { Snapshot, Source } from './snapshot.js';

const MANIFEST_EXT = /\.(ya?ml|json)$/i;
/** Editors write files in several steps: wait for them to settle. */
const SETTLE_MS = 20;

export class ManifestSource implements Source {
  private readonly good = new Map<string, { mtimeMs: number; size: number; snap: Snapshot }>();
  private readonly reported = new Map<string, string>();
  private watcher?: fs.FSWatcher;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly dir: string,
    private readonly log: Logger,
  ) {
    if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`--manifests ${dir}: not a directory`);
  }

  async start(onSnapshot: (s: Snapshot) => void): Promise<void> {
    const emit = () => onSnapshot(this.read());
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

  /** Re-reads changed files and merges every file's last good objects. */
  read(): Snapshot {
    const files = fs
      .readdirSync(this.dir)
      .filter((f) => MANIFEST_EXT.test(f))
      .sort();
    for (const name of [...this.good.keys()]) if (!files.includes(name)) this.good.delete(name);
    for (const name of [...this.reported.keys()]) if (!files.includes(name)) this.reported.delete(name);
    for (const name of files) this.readFile(name);
    const out: Snapshot = { services: [], slices: [] };
    for (const { snap } of this.good.values()) {
      out.services.push(...snap.services);
      out.slices.push(...snap.slices);
    }
    return out;
  }

  private readFile(name: string): void {
    const file = path.join(this.dir, name);
    try {
      const st = fs.statSync(file);
      const prev = this.good.get(name);
      if (prev && prev.mtimeMs === st.mtimeMs && prev.size === st.size && !this.reported.has(name)) return;
      const snap = parseManifest(file, fs.readFileSync(file, 'utf8'));
      this.good.set(name, { mtimeMs: st.mtimeMs, size: st.size, snap });
      if (this.reported.delete(name)) this.log.info({ file }, 'manifest file is valid again');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      const message = err instanceof ManifestError ? err.message : `${file}: ${(err as Error).message}`;
      // Report each distinct problem once; keep the file's last good objects.
      if (this.reported.get(name) !== message) {
        this.reported.set(name, message);
        this.log.error({ file, keptLastGood: this.good.has(name) }, `invalid manifest: ${message}`);
      }
    }
  }
}
