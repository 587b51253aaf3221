// The embedded file store: journal (source of truth, fsynced before acknowledging) + snapshot
// (bounds restart time) + the legacy JSON files as a compatibility view that external scripts may
// edit. Data flows one way: transact() → tables → journal → 'commit' event → (stream, metrics, views).
import { EventEmitter } from 'node:events';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { formatRecord, renderArray, splitJsonArray } from '../../shared/legacy-json.js';
import { nowNs } from '../../shared/ids.js';
import type { ChangeCause, CoordinationState, Entry, JsonObject, RecordChange, Section } from '../../shared/types.js';
import { SECTIONS, isHeld } from '../../shared/types.js';
import type { DeltaMessage } from '../../shared/protocol.js';
import { Journal, readJournal, type JournalChange, type JournalRecord } from './journal.js';
import { Tables, type Slot } from './tables.js';
import { readLines, type Line } from './lines.js';
import { fsyncDir, readFileIfExists, writeFileAtomic } from './fsutil.js';
import { LockBusyError, withFileLock } from './file-lock.js';
import type { ProposedChange } from '../core/ingest.js';
import { CLOSE_LOCK_WAIT_MS, LegacyView, type ViewHost, type ViewProblem } from './legacy-view.js';
import { acquireInstanceLock, type InstanceLock } from './instance-lock.js';
import { ViewWatcher } from './watcher.js';

export const VIEW_FILES: Record<Section, string> = {
  work: 'work_claims.json',
  agents: 'agent_status.json',
  log: 'coordination_log.json',
};

export const META_DIR = '.ai-processor';

export interface Logger {
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  debug?(obj: object | string, msg?: string): void;
}

export interface StoreOptions {
  dataDir: string;
  logger: Logger;
  /** Shortest pause between two rewrites of a legacy file (they are coalesced; never on the hot path). */
  viewFlushMs?: number;
  /** Journal size that triggers a snapshot and a fresh journal. */
  maxJournalBytes?: number;
  /** How many recent deltas are kept in memory for `?since=` replays. */
  recentDeltas?: number;
  onFsync?: (lines: number, seconds: number) => void;
  /** Watch the legacy files for external edits (default true). */
  watch?: boolean;
  /** Reconcile scan period for external edits (ms). */
  scanMs?: number;
}

export interface CommitEvent extends DeltaMessage {}

export interface ConflictEvent {
  revision: number;
  section: Section;
  key: string;
  field: string;
  kept: unknown;
  other: unknown;
  source: string;
}

interface SnapshotHeader {
  format: 2;
  revision: number;
  /** sha256 of each legacy file as we last wrote it (markers older than the snapshot are gone). */
  views?: Record<string, string>;
}

/** Read access for the coordination core; writes go through transact(). */
export interface ReadView {
  get(section: Section, key: string): Entry | undefined;
  heldBy(agentId: string): Iterable<string>;
  nextFencingToken(): number;
  nextLogKey(): string;
}

export interface TransactResult<T> {
  result: T;
  /** The revision of the change, or null when nothing changed (idempotent requests). */
  revision: number | null;
  changes: RecordChange[];
}

export class FileStore extends EventEmitter {
  readonly tables = new Tables();
  readonly dataDir: string;
  readonly metaDir: string;
  revision = 0;
  private fencing = 0;
  private logSeq = 1;
  private journal!: Journal;
  private views!: Record<Section, LegacyView>;
  private lastDurable: Promise<void> = Promise.resolve();
  private flushTimer: NodeJS.Timeout | null = null;
  private flushDelay: number;
  private recent: DeltaMessage[] = [];
  private readonly held = new Map<string, Set<string>>();
  private instanceLock: InstanceLock | null = null;
  private watcher: ViewWatcher | null = null;
  private closed = false;
  private snapshotting = false;
  ready = false;

  constructor(private opts: StoreOptions) {
    super();
    this.dataDir = path.resolve(opts.dataDir);
    this.metaDir = path.join(this.dataDir, META_DIR);
    this.flushDelay = opts.viewFlushMs ?? 100;
    this.tables.onApply((section, key, before, after) => this.index(section, key, before, after));
  }

  // ---- opening ---------------------------------------------------------------------------

  async open(): Promise<void> {
    await fsp.mkdir(this.metaDir, { recursive: true });
    this.instanceLock = await acquireInstanceLock(this.metaDir, this.dataDir);
    const snapshotFile = path.join(this.metaDir, 'snapshot.json');
    const journalFile = path.join(this.metaDir, 'journal.jsonl');
    const snapLines = await readLines(snapshotFile);
    const replay = await readJournal(journalFile);
    if (replay.truncatedBytes > 0) this.opts.logger.warn({ bytes: replay.truncatedBytes }, 'cut a torn, unacknowledged journal tail');
    const fresh = snapLines === null && replay.records.length === 0;
    const written = new Map<string, string[]>(); // file -> shas of our recent writes
    if (snapLines !== null) {
      const head = this.loadSnapshot(snapLines);
      for (const [f, sha] of Object.entries(head.views ?? {})) written.set(f, [sha]);
    }
    for (const rec of replay.records) if (rec.r > this.revision) this.replayRecord(rec);
    for (const m of replay.markers) written.set(m.f, [...(written.get(m.f) ?? []), m.s].slice(-4));
    const host: ViewHost = {
      tables: this.tables,
      revision: () => this.revision,
      logger: this.opts.logger,
      commit: async (changes, cause) => {
        const committed = this.apply(changes, cause);
        if (!committed) return null;
        await committed.durable;
        return committed.delta.revision;
      },
      nextLogSeq: () => this.logSeq,
      emit: (event, payload) => this.emit(event, payload),
      markWritten: (file, sha, revision) => this.journal.append({ m: 'view', f: file, s: sha, r: revision }),
      scheduleFlush: () => this.scheduleFlush(),
      isClosed: () => this.closed,
    };
    await fsp.mkdir(path.join(this.metaDir, 'views'), { recursive: true });
    this.views = {} as Record<Section, LegacyView>;
    for (const section of SECTIONS) {
      const name = VIEW_FILES[section];
      this.views[section] = new LegacyView(host, section, path.join(this.dataDir, name), path.join(this.metaDir, 'views', name + '.meta'));
    }
    this.journal = new Journal(journalFile, {
      onBatch: (lines, seconds) => {
        this.opts.onFsync?.(lines, seconds);
        this.emit('fsync', { lines, seconds });
      },
      beforeBatch: () => this.maybeSnapshot(),
    });
    await this.journal.open();
    for (const section of SECTIONS) await this.views[section].open(fresh, written.get(VIEW_FILES[section]) ?? []);
    if (fresh) {
      await this.writeSnapshot();
      this.opts.logger.info({ dataDir: this.dataDir, work: this.tables.count('work'), agents: this.tables.count('agents'), log: this.tables.count('log') }, 'imported data directory');
    }
    if (this.opts.watch !== false) {
      this.watcher = new ViewWatcher(this, { scanMs: this.opts.scanMs });
      this.watcher.start();
    }
    this.ready = true;
  }

  /** Snapshot format: a header line, then one line per record: [section, key, entry, text?]. */
  private loadSnapshot(lines: Line[]): SnapshotHeader {
    if (!lines[0]?.terminated) throw new Error('snapshot.json is incomplete: refusing to guess (restore it or remove it to rebuild from the journal)');
    const head = JSON.parse(lines[0].text) as SnapshotHeader;
    for (let i = 1; i < lines.length; i++) {
      if (!lines[i].text) continue;
      const [section, key, entry, text] = JSON.parse(lines[i].text) as [Section, string, Entry, string?];
      this.tables.set(section, key, entry, text);
    }
    this.revision = head.revision;
    return head;
  }

  private replayRecord(rec: JournalRecord): void {
    for (const c of rec.c) this.tables.set(c.s, c.k, c.o === 'put' ? c.e : undefined, c.o === 'put' ? c.tx : undefined);
    this.revision = rec.r;
    this.remember({ type: 'delta', revision: rec.r, changes: rec.c.map(fromJournal), timestamp_ns: rec.t, checksum: rec.h ?? this.tables.digest.hex(), cause: rec.x });
  }

  // ---- reading ---------------------------------------------------------------------------

  get(section: Section, key: string): Entry | undefined {
    return this.tables.get(section, key);
  }

  state(): CoordinationState {
    return this.tables.toState();
  }

  checksum(): string {
    return this.tables.digest.hex();
  }

  readView(): ReadView {
    return {
      get: (s, k) => this.tables.get(s, k),
      heldBy: (agent) => this.held.get(agent) ?? [],
      nextFencingToken: () => ++this.fencing,
      nextLogKey: () => String(this.logSeq++),
    };
  }

  /** Work ids held per agent (kept in step with every applied change). */
  heldIndex(): ReadonlyMap<string, Set<string>> {
    return this.held;
  }

  /** Deltas after `since`, if they are all still in memory; null means "send a snapshot". */
  deltasSince(since: number): DeltaMessage[] | null {
    if (since === this.revision) return [];
    if (since > this.revision || this.recent.length === 0) return null;
    const first = this.recent[0].revision;
    if (since < first - 1) return null;
    return this.recent.slice(since - first + 1);
  }

  /**
   * Deltas after `since`: from memory when they are still there, else from the journal files on
   * disk (current and previous segment). Null when the journal no longer reaches back that far.
   */
  async replaySince(since: number): Promise<DeltaMessage[] | null> {
    const inMemory = this.deltasSince(since);
    if (inMemory) return inMemory;
    if (since < 0 || since > this.revision) return null;
    const upTo = this.revision;
    const tail = this.recent.length ? this.recent[0].revision : upTo + 1;
    const found: DeltaMessage[] = [];
    for (const name of ['journal.prev.jsonl', 'journal.jsonl']) {
      const text = await readFileIfExists(path.join(this.metaDir, name));
      if (!text) continue;
      for (const line of text.split('\n')) {
        if (!line) continue;
        let rec: JournalRecord;
        try {
          rec = JSON.parse(line) as JournalRecord;
        } catch {
          continue; // a line being appended right now
        }
        if (rec.r <= since || rec.r >= tail || !rec.h) continue;
        found.push({ type: 'delta', revision: rec.r, changes: rec.c.map(fromJournal), timestamp_ns: rec.t, checksum: rec.h, cause: rec.x });
      }
    }
    found.sort((a, b) => a.revision - b.revision);
    const all = [...found, ...this.recent.filter((d) => d.revision > since && d.revision <= upTo)];
    for (let i = 0; i < all.length; i++) if (all[i].revision !== since + 1 + i) return null;
    return all.length === upTo - since ? all : null;
  }

  problems(): ViewProblem[] {
    return SECTIONS.map((s) => this.views[s].problem).filter((p): p is ViewProblem => p !== null);
  }

  /** The legacy view of a section (for the watcher and tests). */
  view(section: Section): LegacyView {
    return this.views[section];
  }

  /** Resolves once every change accepted so far is durable. */
  durable(): Promise<void> {
    return this.lastDurable;
  }

  private index(section: Section, key: string, before: Entry | undefined, after: Entry | undefined): void {
    if (section === 'log') {
      const n = Number(key);
      if (Number.isInteger(n) && n >= this.logSeq) this.logSeq = n + 1;
      return;
    }
    if (section !== 'work') return;
    const prevAgent = before && isHeld(before.data) ? (before.data.agent_id as string) : null;
    const nextAgent = after && isHeld(after.data) ? (after.data.agent_id as string) : null;
    if (prevAgent && prevAgent !== nextAgent) {
      const set = this.held.get(prevAgent);
      set?.delete(key);
      if (set && set.size === 0) this.held.delete(prevAgent);
    }
    if (nextAgent) {
      let set = this.held.get(nextAgent);
      if (!set) this.held.set(nextAgent, (set = new Set()));
      set.add(key);
    }
    const token = after?.data.fencing_token;
    if (typeof token === 'number' && token > this.fencing) this.fencing = token;
  }

  // ---- writing ---------------------------------------------------------------------------

  /**
   * Runs `fn` against the current state and commits what it returns as one revision. `fn` runs
   * synchronously, so no other change interleaves between its reads and the commit: that is the
   * compare-and-set. Resolves after the journal fsync.
   */
  async transact<T>(fn: (view: ReadView) => { changes: ProposedChange[]; result: T }, cause: ChangeCause): Promise<TransactResult<T>> {
    if (!this.ready || this.closed) throw new Error('store is not open');
    const { changes, result } = fn(this.readView());
    const committed = this.apply(changes, cause);
    if (!committed) {
      await this.lastDurable;
      return { result, revision: null, changes: [] };
    }
    await committed.durable;
    return { result, revision: committed.delta.revision, changes: committed.delta.changes };
  }

  private apply(proposed: ProposedChange[], cause: ChangeCause): { delta: DeltaMessage; durable: Promise<void> } | null {
    const revision = this.revision + 1;
    const changes: RecordChange[] = [];
    const journalChanges: JournalChange[] = [];
    for (const p of proposed) {
      const old = this.tables.get(p.section, p.key);
      if (p.op === 'del') {
        if (!old) continue;
        this.tables.set(p.section, p.key, undefined);
        changes.push({ section: p.section, key: p.key, op: 'del' });
        journalChanges.push({ s: p.section, k: p.key, o: 'del' });
        continue;
      }
      const data = p.data as JsonObject;
      const entry: Entry = { v: (old?.v ?? 0) + 1, rev: revision, data };
      // Keep the original bytes only where they differ from how we would format the record.
      const text = p.text !== undefined && p.text !== formatRecord(data) ? p.text : undefined;
      this.tables.set(p.section, p.key, entry, p.text);
      changes.push({ section: p.section, key: p.key, op: 'put', entry });
      journalChanges.push({ s: p.section, k: p.key, o: 'put', e: entry, ...(text !== undefined ? { tx: text } : {}) });
    }
    if (changes.length === 0) return null;
    this.revision = revision;
    const delta: DeltaMessage = { type: 'delta', revision, changes, timestamp_ns: nowNs().toString(), checksum: this.tables.digest.hex(), cause };
    this.remember(delta);
    if (this.views) for (const c of changes) this.views[c.section].dirty = true;
    const durable = this.journal.append({ r: revision, t: delta.timestamp_ns, c: journalChanges, x: cause, h: delta.checksum }).then(
      () => {
        this.emit('commit', delta);
        this.scheduleFlush();
      },
      (err: Error) => {
        // A failed fsync means memory is ahead of disk: stop accepting and let the supervisor restart us.
        this.opts.logger.error({ err: err.message }, 'journal write failed; refusing further writes');
        this.closed = true;
        this.emit('fatal', err);
        throw err;
      },
    );
    this.lastDurable = durable.catch(() => {});
    return { delta, durable };
  }

  private remember(delta: DeltaMessage): void {
    this.recent.push(delta);
    const max = this.opts.recentDeltas ?? 10_000;
    if (this.recent.length > max * 1.25) this.recent = this.recent.slice(-max);
  }

  // ---- legacy views ----------------------------------------------------------------------

  private scheduleFlush(): void {
    if (this.flushTimer || this.closed) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      void this.flushViews();
    }, this.flushDelay);
  }

  /** Writes every dirty legacy file (coalesced; also called on shutdown). */
  async flushViews(): Promise<void> {
    const started = Date.now();
    for (const section of SECTIONS) {
      const v = this.views[section];
      if (v.dirty) await v.flush();
    }
    // Keep rewrites a small share of the time however large the files grow; back off while a file
    // is locked or unreadable (it is retried, never overwritten).
    const troubled = SECTIONS.some((s) => this.views[s].problem);
    this.flushDelay = Math.max(this.opts.viewFlushMs ?? 100, (Date.now() - started) * 5, troubled ? 1000 : 0);
    if (SECTIONS.some((s) => this.views[s].dirty)) this.scheduleFlush();
  }

  /** Checks a legacy file for external edits now (watcher hint or periodic scan). */
  checkExternal(section: Section): Promise<void> {
    return this.views[section].check();
  }

  // ---- snapshots -------------------------------------------------------------------------

  private async maybeSnapshot(): Promise<void> {
    const max = this.opts.maxJournalBytes ?? 64 * 1024 * 1024;
    if (this.journal.bytes < max || this.snapshotting) return;
    this.snapshotting = true;
    try {
      await this.writeSnapshot();
      const journalFile = path.join(this.metaDir, 'journal.jsonl');
      await fsp.rename(journalFile, path.join(this.metaDir, 'journal.prev.jsonl'));
      await this.journal.rotate(journalFile);
      await fsyncDir(this.metaDir);
    } finally {
      this.snapshotting = false;
    }
  }

  /** Everything applied so far (durable or about to be: the snapshot's own fsync makes it so). */
  private async writeSnapshot(): Promise<void> {
    const views: Record<string, string> = {};
    for (const section of SECTIONS) {
      const sha = this.views?.[section]?.sha;
      if (sha) views[VIEW_FILES[section]] = sha;
    }
    const head: SnapshotHeader = { format: 2, revision: this.revision, views };
    // Rows are taken now (synchronously), written in chunks: no giant string, a consistent revision.
    const rows: Array<[Section, string, Slot]> = [];
    for (const section of SECTIONS) for (const [key, slot] of this.tables.maps[section]) rows.push([section, key, slot]);
    function* chunks(): Generator<string> {
      yield JSON.stringify(head) + '\n';
      let buf = '';
      for (const [section, key, slot] of rows) {
        const raw = slot.t !== undefined && slot.t !== formatRecord(slot.e.data) ? slot.t : undefined;
        buf += JSON.stringify(raw === undefined ? [section, key, slot.e] : [section, key, slot.e, raw]) + '\n';
        if (buf.length > 256 * 1024) {
          yield buf;
          buf = '';
        }
      }
      yield buf;
    }
    await writeFileAtomic(path.join(this.metaDir, 'snapshot.json'), chunks());
  }

  // ---- closing ---------------------------------------------------------------------------

  /** Drains the journal, writes the legacy files, releases the data dir. */
  async close(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    await this.watcher?.stop();
    await this.lastDurable;
    this.closed = true;
    for (const section of SECTIONS) {
      const v = this.views?.[section];
      if (!v) continue;
      v.close();
      if (v.dirty) await v.flush(CLOSE_LOCK_WAIT_MS); // refuses by itself to overwrite an unreadable file
      await v.settled();
    }
    await this.journal?.close();
    await this.instanceLock?.release();
    this.ready = false;
  }
}

function fromJournal(c: JournalChange): RecordChange {
  return c.o === 'put' ? { section: c.s, key: c.k, op: 'put', entry: c.e } : { section: c.s, key: c.k, op: 'del' };
}
