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
import { fsyncDir, readFileIfExists, writeFileAtomic } from './fsutil.js';
import { LockBusyError, withFileLock } from './file-lock.js';
import { ingestFile, keyItems, textHash, type BaseRecord, type ProposedChange } from '../core/ingest.js';
import { acquireInstanceLock, type InstanceLock } from './instance-lock.js';

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
}

export interface CommitEvent extends DeltaMessage {}

export interface ViewProblem {
  file: string;
  error: string;
  at: string;
}

export interface ConflictEvent {
  revision: number;
  section: Section;
  key: string;
  field: string;
  kept: unknown;
  other: unknown;
  source: string;
}

interface ViewState {
  section: Section;
  file: string;
  /** sha256 of the content we last wrote or read (null: never). */
  sha: string | null;
  stat: { ino: number; size: number; mtimeMs: number } | null;
  base: Map<string, BaseRecord> | null;
  dirty: boolean;
  problem: ViewProblem | null;
  failures: number;
  chain: Promise<unknown>;
}

interface MetaFile {
  views: Partial<Record<string, { sha256: string; revision: number; records: Array<[string, string]> }>>;
}

interface SnapshotFile {
  format: 1;
  revision: number;
  sections: Record<Section, Array<[string, Entry, string?]>>;
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

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
  private views!: Record<Section, ViewState>;
  private lastDurable: Promise<void> = Promise.resolve();
  private flushTimer: NodeJS.Timeout | null = null;
  private flushDelay: number;
  private recent: DeltaMessage[] = [];
  private readonly held = new Map<string, Set<string>>();
  private instanceLock: InstanceLock | null = null;
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
    const snapText = await readFileIfExists(snapshotFile);
    const replay = await readJournal(journalFile);
    if (replay.truncatedBytes > 0) this.opts.logger.warn({ bytes: replay.truncatedBytes }, 'cut a torn, unacknowledged journal tail');
    const fresh = snapText === null && replay.records.length === 0;
    if (snapText !== null) this.loadSnapshot(JSON.parse(snapText) as SnapshotFile);
    for (const rec of replay.records) if (rec.r > this.revision) this.replayRecord(rec);
    const meta = await this.readMeta();
    this.views = {} as Record<Section, ViewState>;
    for (const section of SECTIONS) {
      this.views[section] = { section, file: path.join(this.dataDir, VIEW_FILES[section]), sha: null, stat: null, base: null, dirty: false, problem: null, failures: 0, chain: Promise.resolve() };
    }
    this.journal = new Journal(journalFile, {
      onBatch: (lines, seconds) => {
        this.opts.onFsync?.(lines, seconds);
        this.emit('fsync', { lines, seconds });
      },
      beforeBatch: () => this.maybeSnapshot(),
    });
    await this.journal.open();
    for (const section of SECTIONS) await this.openView(this.views[section], fresh, meta.views[VIEW_FILES[section]]);
    if (fresh) {
      await this.writeSnapshot();
      await this.writeMeta();
      this.opts.logger.info({ dataDir: this.dataDir, work: this.tables.count('work'), agents: this.tables.count('agents'), log: this.tables.count('log') }, 'imported data directory');
    }
    this.ready = true;
  }

  private loadSnapshot(snap: SnapshotFile): void {
    for (const section of SECTIONS) {
      for (const [key, entry, text] of snap.sections[section] ?? []) this.tables.set(section, key, entry, text);
    }
    this.revision = snap.revision;
  }

  private replayRecord(rec: JournalRecord): void {
    for (const c of rec.c) this.tables.set(c.s, c.k, c.o === 'put' ? c.e : undefined, c.o === 'put' ? c.tx : undefined);
    this.revision = rec.r;
    this.remember({ type: 'delta', revision: rec.r, changes: rec.c.map(fromJournal), timestamp_ns: rec.t, checksum: this.tables.digest.hex(), cause: rec.x });
  }

  private async openView(v: ViewState, fresh: boolean, meta: MetaFile['views'][string]): Promise<void> {
    const text = await readFileIfExists(v.file);
    if (meta) v.base = new Map(meta.records.map(([k, hash]) => [k, { hash }]));
    if (text === null) {
      v.dirty = this.tables.count(v.section) > 0;
      return;
    }
    const split = splitJsonArray(text);
    if (!split.ok) {
      this.reportProblem(v, split.error);
      return;
    }
    if (fresh) {
      // First start on a legacy directory: the files are the state. Nothing is rewritten.
      const keys = keyItems(v.section, split.items);
      split.items.forEach((item, i) => this.tables.set(v.section, keys[i], { v: 1, rev: 0, data: item.value }, item.text));
      this.adoptFile(v, text, keys, split.items.map((i) => i.text));
      return;
    }
    if (meta && sha256(text) === meta.sha256) {
      // Unchanged since we wrote it: it is the base; rewrite only if the journal moved on.
      this.adoptFile(v, text, meta.records.map(([k]) => k), split.items.map((i) => i.text));
      v.dirty = meta.revision < this.revision && this.differsFromState(v);
      return;
    }
    // Edited while we were down (or never written by us): ingest it like any external edit.
    await this.ingest(v, text, split.items);
  }

  private differsFromState(v: ViewState): boolean {
    const map = this.tables.maps[v.section];
    if (!v.base || v.base.size !== map.size) return true;
    for (const [key, slot] of map) if (v.base.get(key)?.hash !== this.slotHash(slot)) return true;
    return false;
  }

  private adoptFile(v: ViewState, text: string, keys: string[], texts: string[]): void {
    v.sha = sha256(text);
    v.base = new Map(keys.map((k, i) => [k, { text: texts[i], hash: textHash(texts[i]) }]));
    v.problem = null;
    v.failures = 0;
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

  problems(): ViewProblem[] {
    return SECTIONS.map((s) => this.views[s].problem).filter((p): p is ViewProblem => p !== null);
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
    for (const c of changes) this.views[c.section].dirty = true;
    const durable = this.journal.append({ r: revision, t: delta.timestamp_ns, c: journalChanges, x: cause }).then(
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
      if (v.dirty) await this.serial(v, () => this.flushView(v));
    }
    // Keep rewrites a small share of the time however large the files grow.
    this.flushDelay = Math.max(this.opts.viewFlushMs ?? 100, (Date.now() - started) * 5);
    if (SECTIONS.some((s) => this.views[s].dirty && !this.views[s].problem)) this.scheduleFlush();
  }

  /** Checks a legacy file for external edits now (watcher hint or periodic scan). */
  checkExternal(section: Section): Promise<void> {
    const v = this.views[section];
    return this.serial(v, () => this.lockedCheck(v));
  }

  private serial(v: ViewState, fn: () => Promise<void>): Promise<void> {
    const run = v.chain.then(fn, fn);
    v.chain = run.catch(() => {});
    return run;
  }

  private slotHash(slot: Slot): string {
    slot.t ??= formatRecord(slot.e.data);
    return (slot.h ??= textHash(slot.t));
  }

  private async statOf(file: string): Promise<ViewState['stat']> {
    try {
      const st = await fsp.stat(file);
      return { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs };
    } catch {
      return null;
    }
  }

  private sameStat(a: ViewState['stat'], b: ViewState['stat']): boolean {
    return !!a && !!b && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
  }

  private async lockedCheck(v: ViewState): Promise<void> {
    if (this.closed) return;
    const st = await this.statOf(v.file);
    if (v.stat && this.sameStat(st, v.stat) && !v.problem) return;
    try {
      await withFileLock(v.file, () => this.detectExternal(v));
    } catch (err) {
      if (err instanceof LockBusyError) this.reportProblem(v, err.message);
      else throw err;
    }
  }

  /** Under the file lock: if the file is not what we last wrote, ingest it. Returns false if it is unreadable. */
  private async detectExternal(v: ViewState): Promise<boolean> {
    const text = await readFileIfExists(v.file);
    if (text === null) return true; // missing: we will (re)create it
    if (v.sha !== null && sha256(text) === v.sha) {
      v.stat = await this.statOf(v.file);
      return true;
    }
    const split = splitJsonArray(text);
    if (!split.ok) {
      this.reportProblem(v, split.error);
      return false;
    }
    await this.ingest(v, text, split.items);
    v.stat = await this.statOf(v.file);
    return true;
  }

  private async ingest(v: ViewState, text: string, items: import('../../shared/legacy-json.js').ArrayItem[]): Promise<void> {
    const at = new Date().toISOString();
    const result = ingestFile({
      section: v.section,
      items,
      base: v.base,
      current: (key) => {
        const slot = this.tables.slot(v.section, key);
        return slot ? { entry: slot.e, text: (slot.t ??= formatRecord(slot.e.data)) } : undefined;
      },
      nextLogSeq: this.logSeq,
      at,
    });
    const keys = v.section === 'log' ? null : keyItems(v.section, items);
    const cause: ChangeCause = { op: 'external_edit', source: 'file', ...(result.conflicts.length ? { conflict: true } : {}) };
    const committed = this.apply(result.changes, cause);
    if (committed) await committed.durable;
    // The file as it is now becomes the base for the next diff.
    if (keys) this.adoptFile(v, text, keys, items.map((i) => i.text));
    else this.adoptLogFile(v, text);
    for (const c of result.conflicts) {
      this.emit('conflict', { revision: committed?.delta.revision ?? this.revision, section: v.section, key: c.key, field: c.field, kept: c.kept, other: c.other, source: c.source } satisfies ConflictEvent);
    }
    v.dirty = this.differsFromState(v);
    if (committed || result.conflicts.length) {
      this.opts.logger.info({ file: VIEW_FILES[v.section], revision: committed?.delta.revision, changes: result.changes.length, conflicts: result.conflicts.length }, 'picked up external edit');
    }
    if (v.dirty) this.scheduleFlush();
  }

  /** Log records have no ids: after an ingest the file's records correspond to our keys by content. */
  private adoptLogFile(v: ViewState, text: string): void {
    const byHash = new Map<string, string[]>();
    for (const [key, slot] of this.tables.maps.log) {
      const h = this.slotHash(slot);
      const list = byHash.get(h) ?? [];
      list.push(key);
      byHash.set(h, list);
    }
    const split = splitJsonArray(text);
    const base = new Map<string, BaseRecord>();
    if (split.ok) {
      for (const item of split.items) {
        const h = textHash(item.text);
        const key = byHash.get(h)?.shift();
        if (key) base.set(key, { text: item.text, hash: h });
      }
    }
    v.sha = sha256(text);
    v.base = base;
    v.problem = null;
    v.failures = 0;
  }

  private reportProblem(v: ViewState, error: string): void {
    v.failures++;
    const first = v.problem === null || v.problem.error !== error;
    v.problem = { file: VIEW_FILES[v.section], error, at: new Date().toISOString() };
    if (first) {
      this.opts.logger.warn({ file: v.problem.file, error }, 'legacy file is unreadable or locked; left untouched, will retry');
      this.emit('problem', v.problem);
    }
  }

  private async flushView(v: ViewState): Promise<void> {
    if (this.closed && !v.dirty) return;
    try {
      await withFileLock(v.file, async () => {
        // External edits first, so they are merged rather than overwritten.
        const st = await this.statOf(v.file);
        if (!v.stat || !this.sameStat(st, v.stat)) {
          const readable = await this.detectExternal(v);
          if (!readable) return; // never overwrite a file we cannot read: it may be mid-write
        }
        if (!v.dirty) return;
        v.dirty = false;
        const map = this.tables.maps[v.section];
        const keys: string[] = [];
        const texts: string[] = [];
        const hashes: string[] = [];
        for (const [key, slot] of map) {
          keys.push(key);
          hashes.push(this.slotHash(slot));
          texts.push(slot.t!);
        }
        const revision = this.revision;
        const started = process.hrtime.bigint();
        const content = renderArray(texts);
        await writeFileAtomic(v.file, content);
        this.emit('view_written', { file: VIEW_FILES[v.section], records: keys.length, bytes: content.length, seconds: Number(process.hrtime.bigint() - started) / 1e9 });
        v.sha = sha256(content);
        v.stat = await this.statOf(v.file);
        v.base = new Map(keys.map((k, i) => [k, { text: texts[i], hash: hashes[i] }]));
        v.problem = null;
        v.failures = 0;
        this.metaRevisions[v.section] = revision;
        await this.writeMeta();
      });
    } catch (err) {
      v.dirty = true;
      if (err instanceof LockBusyError) this.reportProblem(v, err.message);
      else {
        this.reportProblem(v, `write failed: ${(err as Error).message}`);
      }
    }
  }

  private metaRevisions: Partial<Record<Section, number>> = {};

  private async readMeta(): Promise<MetaFile> {
    const text = await readFileIfExists(path.join(this.metaDir, 'views.json'));
    if (!text) return { views: {} };
    try {
      const meta = JSON.parse(text) as MetaFile;
      for (const section of SECTIONS) {
        const m = meta.views[VIEW_FILES[section]];
        if (m) this.metaRevisions[section] = m.revision;
      }
      return meta;
    } catch {
      return { views: {} };
    }
  }

  private async writeMeta(): Promise<void> {
    const meta: MetaFile = { views: {} };
    for (const section of SECTIONS) {
      const v = this.views[section];
      if (!v.sha || !v.base) continue;
      meta.views[VIEW_FILES[section]] = {
        sha256: v.sha,
        revision: this.metaRevisions[section] ?? 0,
        records: [...v.base].map(([k, b]) => [k, b.hash]),
      };
    }
    await writeFileAtomic(path.join(this.metaDir, 'views.json'), JSON.stringify(meta));
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
    const sections = {} as SnapshotFile['sections'];
    for (const section of SECTIONS) {
      const rows: Array<[string, Entry, string?]> = [];
      for (const [key, slot] of this.tables.maps[section]) {
        rows.push(slot.t !== undefined && slot.t !== formatRecord(slot.e.data) ? [key, slot.e, slot.t] : [key, slot.e]);
      }
      sections[section] = rows;
    }
    const snap: SnapshotFile = { format: 1, revision: this.revision, sections };
    await writeFileAtomic(path.join(this.metaDir, 'snapshot.json'), JSON.stringify(snap));
  }

  // ---- closing ---------------------------------------------------------------------------

  /** Drains the journal, writes the legacy files, releases the data dir. */
  async close(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    await this.lastDurable;
    this.closed = true;
    for (const section of SECTIONS) {
      const v = this.views[section];
      if (v?.dirty && !v.problem) await this.serial(v, () => this.flushView(v));
      else if (v) await v.chain;
    }
    await this.journal?.close();
    await this.instanceLock?.release();
    this.ready = false;
  }
}

function fromJournal(c: JournalChange): RecordChange {
  return c.o === 'put' ? { section: c.s, key: c.k, op: 'put', entry: c.e } : { section: c.s, key: c.k, op: 'del' };
}
