// Notices external edits of the legacy files: chokidar events are only a hint (then the file is
// re-read, hashed and diffed under its lock); a periodic reconcile scan is the safety net for
// events that never come (network filesystems, editors that replace directories, missed inotify).
import chokidar, { type FSWatcher } from 'chokidar';
import path from 'node:path';
import type { Section } from '../../shared/types.js';
import { SECTIONS } from '../../shared/types.js';
import { VIEW_FILES } from './view-files.js';

/** What the watcher needs of the store it watches (the file store; no import of it: no cycle). */
export interface WatchedStore {
  readonly dataDir: string;
  checkExternal(section: Section): Promise<unknown>;
}

export interface WatcherOptions {
  /** Reconcile scan period (ms). */
  scanMs?: number;
  /** Quiet period after an event before reading (ms): lets a burst of writes settle. */
  debounceMs?: number;
}

export class ViewWatcher {
  private watcher: FSWatcher | null = null;
  private scan: NodeJS.Timeout | null = null;
  private pending = new Map<Section, NodeJS.Timeout>();

  constructor(
    private store: WatchedStore,
    private opts: WatcherOptions = {},
  ) {}

  start(): void {
    const bySection = new Map(SECTIONS.map((s) => [path.join(this.store.dataDir, VIEW_FILES[s]), s] as const));
    this.watcher = chokidar.watch([...bySection.keys()], { ignoreInitial: true, persistent: false, atomic: false });
    const hint = (file: string) => {
      const section = bySection.get(path.resolve(file));
      if (section) this.schedule(section);
    };
    this.watcher.on('add', hint).on('change', hint).on('unlink', hint);
    this.watcher.on('error', () => {
      /* the scan below still runs */
    });
    this.scan = setInterval(() => {
      for (const s of SECTIONS) this.schedule(s);
    }, this.opts.scanMs ?? 2000);
    this.scan.unref();
  }

  private schedule(section: Section): void {
    if (this.pending.has(section)) return;
    const t = setTimeout(() => {
      this.pending.delete(section);
      // check() reports what it finds (/ready, log, metric, event) itself; nothing is left to catch here.
      void this.store.checkExternal(section).catch(() => {});
    }, this.opts.debounceMs ?? 15);
    t.unref();
    this.pending.set(section, t);
  }

  async stop(): Promise<void> {
    if (this.scan) clearInterval(this.scan);
    for (const t of this.pending.values()) clearTimeout(t);
    this.pending.clear();
    await this.watcher?.close();
  }
}
