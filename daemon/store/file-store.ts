// The embedded file store: journal (source of truth, fsynced before acknowledging) + snapshot
// (bounds restart time) + the legacy JSON files as a compatibility view that external scripts may
// edit. Data flows one way: transact() → tables → journal → 'commit' event → (stream, metrics, views).
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { formatRecord } from '../../shared/legacy-json.js';
import type { ChangeCause, Entry, RecordChange, Section } from '../../shared/types.js';
import { SECTIONS, entryOf } from '../../shared/types.js';
import type { DeltaMessage } from '../../shared/protocol.js';
import { Journal, JournalWriteError, readJournal, type JournalChange, type JournalRecord } from './journal.js';
import { ApiError } from '../errors.js';
import { SnapshotTrailer, checkSnapshot, type SnapshotHeader } from './snapshot-check.js';
import { cleanOwnTempFiles } from './temp-files.js';
import type { Slot } from './tables.js';
import { termHex } from '../../shared/checksum.js';
import { STATE_CHUNK_CHARS } from './state-json.js';
import { MemoryState, type Ack, type CoordinationStore, type Logger, type TransactFn, type TransactResult, type Undo } from './memory-state.js';
import { readLines, type Line } from './lines.js';
import { fsyncDir, readFileIfExists, writeFileAtomic } from '../../io/fsutil.js';
import type { ProposedChange } from './ingest.js';
import { CLOSE_LOCK_WAIT_MS, LegacyView, type ViewHost, type ViewProblem } from './legacy-view.js';
import { loadEach, type LoadHooks } from './load-hooks.js';
import type { StoreProblem } from './memory-state.js';
export type { Logger, ReadView, TransactResult } from './memory-state.js';
import { acquireInstanceLock, type InstanceLock } from './instance-lock.js';
import { ViewWatcher } from './watcher.js';

import { META_DIR, VIEW_FILES } from './view-files.js';
import { DEFAULTS } from '../defaults.js';
export { META_DIR, VIEW_FILES };

/** Journal size above which a clean close writes a snapshot (below it, replaying is as quick). */
const CHECKPOINT_AT_CLOSE_BYTES = 1024 * 1024;
/** While the journal cannot be written, how often we check whether it can again. */
const STORAGE_PROBE_MS = 1000;
/** The probe writes this much: room for a few batches, not just one line. */
const STORAGE_PROBE_BYTES = 64 * 1024;
/** After a failed checkpoint (disk full), wait this long before trying again (the journal just grows meanwhile). */
const CHECKPOINT_RETRY_MS = 5000;

/** Why writes are refused: the journal could not be made durable. */
export interface StorageState {
  reason: 'storage_full' | 'write_failed';
  error: string;
  since: string;
}

/** Emitted as 'storage' when a batch fails (state degraded) and when writes are taken again (state ok). */
export interface StorageEvent {
  state: 'degraded' | 'ok';
  reason?: StorageState['reason'];
  error?: string;
  /** Changes undone by this failure (they were answered with the error, never acknowledged). */
  rolled_back?: number;
}

export interface StoreOptions {
  dataDir: string;
  logger: Logger;
  /** Shortest pause between two rewrites of a legacy file (they are coalesced; never on the hot path). */
  viewFlushMs?: number;
  /** Journal size that triggers a snapshot and a fresh journal. */
  maxJournalBytes?: number;
  /** A legacy file larger than this is reported, never read or overwritten (default DEFAULT_MAX_FILE_BYTES in legacy-view). */
  maxLegacyFileBytes?: number;
  /** How many recent deltas are kept in memory for `?since=` replays. */
  recentDeltas?: number;
  onFsync?: (lines: number, seconds: number) => void;
  /** Watch the legacy files for external edits (default true). */
  watch?: boolean;
  /** Reconcile scan period for external edits (ms). */
  scanMs?: number;
  /**
   * The heap policy's hooks for loading: tick() every few thousand records in the loops that load
   * records (the young generation may be resized there), hold() before work that runs long
   * without a tick (a whole legacy file parsed in one call), where V8 must not grow it unchecked.
   */
  loadHooks?: LoadHooks;
}

export interface CommitEvent extends DeltaMessage {}

export type { ConflictEvent } from './store-events.js';

export class FileStore extends MemoryState implements CoordinationStore {
  readonly dataDir: string;
  readonly metaDir: string;
  private journal!: Journal;
  private views!: Record<Section, LegacyView>;
  private lastDurable: Promise<void> = Promise.resolve();
  private flushTimer: NodeJS.Timeout | null = null;
  private flushDelay: number;
  private flushingViews = false;
  private instanceLock: InstanceLock | null = null;
  private watcher: ViewWatcher | null = null;
  private closed = false;
  private snapshotting = false;
  private opened = false;
  /** Changes applied in memory whose journal batch is not durable yet, oldest first (undone if it fails). */
  private unsynced: Undo[] = [];
  /**
   * Records (section + NUL + key) changed by a not yet durable change whose caller waits for the
   * disk, with that change's revision: a change answered once applied that touches one of them
   * waits too, or its answer could reveal (an edit allowed under a lease just granted) what a crash
   * would still take back.
   */
  private awaited = new Map<string, number>();
  /** Set while the journal cannot be written: writes are refused until a probe succeeds. */
  private storage: StorageState | null = null;
  private probeTimer: NodeJS.Timeout | null = null;
  private checkpointRetryAt = 0;

  /** Open, and the journal writable: what /ready reports. */
  get ready(): boolean {
    return this.opened && this.storage === null;
  }

  constructor(private opts: StoreOptions) {
    super(opts.recentDeltas);
    this.dataDir = path.resolve(opts.dataDir);
    this.metaDir = path.join(this.dataDir, META_DIR);
    this.flushDelay = opts.viewFlushMs ?? DEFAULTS.view_flush_ms;
  }

  // ---- opening ---------------------------------------------------------------------------

  async open(): Promise<void> {
    await fsp.mkdir(this.metaDir, { recursive: true });
    this.instanceLock = await acquireInstanceLock(this.metaDir, this.dataDir);
    // Only while we hold the instance lock: no other process of ours is writing these.
    const removed = await cleanOwnTempFiles([this.dataDir, this.metaDir, path.join(this.metaDir, 'views')], [...Object.values(VIEW_FILES), 'snapshot.json']);
    if (removed.length) this.opts.logger.info({ files: removed.length }, 'removed temp files left by a killed ai-processor');
    const snapshotFile = path.join(this.metaDir, 'snapshot.json');
    const journalFile = path.join(this.metaDir, 'journal.jsonl');
    const prevJournalFile = path.join(this.metaDir, 'journal.prev.jsonl');
    const snapLines = await readLines(snapshotFile);
    const replay = await readJournal(journalFile);
    if (replay.truncatedBytes > 0)
      this.opts.logger.warn(
        { bytes: replay.truncatedBytes },
        'cut a torn journal tail: a write cut short by the crash, never acknowledged (acknowledgement waits for the fsync of the whole write)',
      );
    // The first start writes a snapshot before taking any change: a journal (or a rotated one) means there must be one.
    const hasHistory = replay.records.length > 0 || replay.markers.length > 0 || (await fileExists(prevJournalFile));
    // Throws (naming the file and the way out) when the snapshot is damaged or missing while the
    // journal alone no longer holds everything.
    const snapshot = checkSnapshot(snapshotFile, snapLines, hasHistory, this.opts.logger);
    const fresh = snapLines === null && replay.records.length === 0;
    const written = new Map<string, Array<{ sha: string; rev: number }>>(); // file -> our recent writes
    if (snapshot !== null) {
      const head = this.loadSnapshot(snapLines!, snapshot.rows);
      for (const [f, w] of Object.entries(head.views ?? {})) written.set(f, [typeof w === 'string' ? { sha: w, rev: 0 } : w]);
    }
    const records = snapshot !== null ? [...(await this.bridgeFromPrev(prevJournalFile, journalFile, replay.records)), ...replay.records] : replay.records;
    loadEach(this.opts.loadHooks, 0, records.length, (i) => {
      const rec = records[i];
      if (rec.r <= this.revision) return;
      if (rec.r !== this.revision + 1) {
        throw new Error(
          `journal ${journalFile} jumps from revision ${this.revision} to ${rec.r}: the changes in between are missing (${snapLines === null ? `${snapshotFile} is missing` : `${snapshotFile} is older than the journal`}). ` +
            'Refusing to start on a partial state: restore the snapshot from a backup. Do not delete files in .ai-processor (the legacy files would be rewritten to match).',
        );
      }
      this.replayRecord(rec);
    });
    for (const m of replay.markers) written.set(m.f, [...(written.get(m.f) ?? []), { sha: m.s, rev: m.r }].slice(-4));
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
      emit: this.emit.bind(this),
      markWritten: (file, sha, revision) => this.journal.append({ m: 'view', f: file, s: sha, r: revision }),
      scheduleFlush: () => this.scheduleFlush(),
      isClosed: () => this.closed,
      loadHooks: this.opts.loadHooks,
      maxFileBytes: this.opts.maxLegacyFileBytes,
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
      onFailure: (err) => this.journalFailed(err),
      onDurable: (revision) => {
        while (this.unsynced.length && this.unsynced[0].revision <= revision) this.unsynced.shift();
        for (const [k, r] of this.awaited) if (r <= revision) this.awaited.delete(k);
      },
    });
    await this.journal.open();
    for (const section of SECTIONS) await this.views[section].open(fresh, written.get(VIEW_FILES[section]) ?? []);
    if (fresh) {
      await this.writeSnapshot();
      this.opts.logger.info(
        { dataDir: this.dataDir, work: this.tables.count('work'), agents: this.tables.count('agents'), log: this.tables.count('log') },
        'imported data directory',
      );
    }
    if (this.opts.watch !== false) {
      this.watcher = new ViewWatcher(this, { scanMs: this.opts.scanMs });
      this.watcher.start();
    }
    this.opened = true;
  }

  /**
   * The records between the snapshot and the journal's first one, when journal.prev.jsonl holds
   * exactly those (every one, in order): replaying them from there loses nothing. Empty when the
   * journal follows on from the snapshot, or when the rotated journal does not bridge the gap
   * (the start then refuses, naming it).
   */
  private async bridgeFromPrev(prevFile: string, journalFile: string, records: JournalRecord[]): Promise<JournalRecord[]> {
    const first = records.find((r) => r.r > this.revision);
    if (!first || first.r === this.revision + 1) return [];
    const prev = await readJournal(prevFile, { cut: false });
    const bridge = prev.records.filter((r) => r.r > this.revision && r.r < first.r);
    if (bridge.length !== first.r - this.revision - 1 || bridge.some((r, i) => r.r !== this.revision + 1 + i)) return [];
    this.opts.logger.warn(
      { snapshotRevision: this.revision, journalFrom: first.r, replayed: bridge.length, file: prevFile },
      `${journalFile} starts after the snapshot: replaying the changes in between from the rotated journal, which holds every one of them`,
    );
    return bridge;
  }

  /** Snapshot format: a header line, then one line per record: [section, key, entry, term, text?], then the trailer. */
  private loadSnapshot(lines: Line[], rows: number): SnapshotHeader {
    const head = JSON.parse(lines[0].text) as SnapshotHeader;
    const withTerms = head.format >= 3;
    loadEach(this.opts.loadHooks, 1, 1 + rows, (i) => {
      if (!lines[i].text) return;
      const row = JSON.parse(lines[i].text) as [Section, string, Entry, string?, string?];
      if (withTerms) this.tables.set(row[0], row[1], row[2], row[4], row[3]);
      else this.tables.set(row[0], row[1], row[2], row[3]);
    });
    this.revision = head.revision;
    return head;
  }

  private replayRecord(rec: JournalRecord): void {
    for (const c of rec.c) this.tables.set(c.s, c.k, c.o === 'put' ? c.e : undefined, c.o === 'put' ? c.tx : undefined);
    this.revision = rec.r;
    this.remember({
      type: 'delta',
      revision: rec.r,
      changes: rec.c.map(fromJournal),
      timestamp_ns: rec.t,
      checksum: rec.h ?? this.tables.digest.hex(),
      cause: rec.x,
    });
  }

  // ---- reading ---------------------------------------------------------------------------

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
        // Records start with their revision ({"r":123,...}): lines out of range are skipped unparsed.
        if (line.startsWith('{"r":')) {
          const r = parseInt(line.slice(5, 30), 10);
          if (r <= since || r >= tail) continue;
        }
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

  problems(): StoreProblem[] {
    const views = SECTIONS.map((s) => this.views[s].problem).filter((p): p is ViewProblem => p !== null);
    if (!this.storage) return views;
    return [
      {
        file: path.join(META_DIR, 'journal.jsonl'),
        error: `${this.storage.reason}: ${this.storage.error}; writes are refused until it can be written again`,
        at: this.storage.since,
      },
      ...views,
    ];
  }

  /** Why writes are refused, or null. */
  storageState(): StorageState | null {
    return this.storage;
  }

  /** The legacy view of a section (for the watcher and tests). */
  view(section: Section): LegacyView {
    return this.views[section];
  }

  /** Resolves once every change accepted so far is durable. */
  durable(): Promise<void> {
    return this.lastDurable;
  }

  // ---- writing ---------------------------------------------------------------------------

  /**
   * Runs `fn` against the current state and commits what it returns as one revision. `fn` runs
   * synchronously, so no other change interleaves between its reads and the commit: that is the
   * compare-and-set. Resolves after the journal fsync, or, for a change `fn` marks `ack: 'applied'`,
   * once it is applied and queued (unless a record it changes waits for the disk for someone else).
   */
  async transact<T>(fn: TransactFn<T>, cause: ChangeCause): Promise<TransactResult<T>> {
    if (this.storage) throw this.storageError();
    if (!this.opened || this.closed) throw new Error('store is not open');
    const { changes, result, ack } = fn(this.readView());
    const committed = this.apply(changes, cause, ack);
    if (!committed) {
      await this.lastDurable;
      return { result, revision: null, changes: [] };
    }
    const { delta, durable } = committed;
    if (ack === 'applied' && !delta.changes.some((c) => this.awaited.has(c.section + '\0' + c.key))) {
      // A failure is logged and undone by journalFailed; nobody waits for this one.
      durable.catch(() => {});
    } else await durable;
    return { result, revision: delta.revision, changes: delta.changes };
  }

  private apply(proposed: ProposedChange[], cause: ChangeCause, ack: Ack = 'durable'): { delta: DeltaMessage; durable: Promise<void> } | null {
    if (this.storage) throw this.storageError();
    const prepared = this.prepare(proposed);
    if (!prepared) return null;
    const undo = this.undoFor(prepared);
    const delta = this.applyPrepared(prepared, cause);
    this.unsynced.push(undo);
    if (ack === 'durable') for (const c of delta.changes) this.awaited.set(c.section + '\0' + c.key, delta.revision);
    if (this.views) for (const c of delta.changes) this.views[c.section].touch(c.key);
    const journalChanges: JournalChange[] = delta.changes.map((c, i) => {
      if (c.op === 'del') return { s: c.section, k: c.key, o: 'del' };
      const tx = prepared.texts.get(i);
      return { s: c.section, k: c.key, o: 'put', e: c.entry, ...(tx !== undefined ? { tx } : {}) };
    });
    const durable = this.journal.append({ r: delta.revision, t: delta.timestamp_ns, c: journalChanges, x: cause, h: delta.checksum }).then(
      () => {
        this.emit('commit', delta);
        this.scheduleFlush();
      },
      (err: Error) => {
        // Already undone (journalFailed ran first): answered with the error, never acknowledged.
        throw err instanceof JournalWriteError ? this.storageError(err) : err;
      },
    );
    this.lastDurable = durable.catch(() => {});
    return { delta, durable };
  }

  // ---- storage failures ------------------------------------------------------------------

  private storageError(err?: JournalWriteError): ApiError {
    const reason = err ? (err.full ? 'storage_full' : 'write_failed') : this.storage!.reason;
    return new ApiError(reason, `${err?.message ?? this.storage!.error}: nothing was changed; retry later`);
  }

  /**
   * A journal batch failed (called before its waiters hear of it): memory must not stay ahead of
   * disk, so that batch and everything applied after it is undone, newest first. The revisions
   * they had are used again: nobody saw them (no 'commit' event, no answer but the error, and
   * the journal was cut back). Writes are refused until a probe finds the disk writable.
   */
  private journalFailed(err: JournalWriteError): void {
    const undone = this.unsynced;
    this.unsynced = [];
    this.awaited.clear();
    this.rollback(undone);
    if (this.views) for (const u of undone) for (const c of u.changes) this.views[c.section].touch(c.key);
    const reason = err.full ? 'storage_full' : 'write_failed';
    const first = this.storage === null;
    this.storage = { reason, error: err.message, since: this.storage?.since ?? new Date().toISOString() };
    this.opts.logger.error(
      { reason, err: err.message, rolledBack: undone.length, revision: this.revision },
      'journal write failed: the batch was undone and answered with an error; writes are refused until the disk can be written again',
    );
    this.emit('storage', { state: 'degraded', reason, error: err.message, rolled_back: undone.length } satisfies StorageEvent);
    if (first) this.scheduleProbe();
  }

  private scheduleProbe(): void {
    if (this.probeTimer || this.closed) return;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = null;
      void this.probe();
    }, STORAGE_PROBE_MS);
    this.probeTimer.unref();
  }

  /** Writes (and fsyncs) a file of a few batches' size next to the journal: if that works, so will the journal. */
  private async probe(): Promise<void> {
    if (!this.storage || this.closed) return;
    const file = path.join(this.metaDir, '.storage-probe.tmp');
    try {
      const handle = await fsp.open(file, 'w');
      try {
        const buf = Buffer.alloc(STORAGE_PROBE_BYTES, 10);
        for (let off = 0; off < buf.length;) off += (await handle.write(buf, off, buf.length - off)).bytesWritten;
        await handle.datasync();
      } finally {
        await handle.close();
        await fsp.rm(file, { force: true });
      }
    } catch {
      this.scheduleProbe();
      return;
    }
    const was = this.storage;
    this.storage = null;
    this.opts.logger.info({ reason: was.reason, since: was.since }, 'storage writable again: taking writes');
    this.emit('storage', { state: 'ok' } satisfies StorageEvent);
  }

  // ---- legacy views ----------------------------------------------------------------------

  private scheduleFlush(): void {
    // While a flush runs, changes wait for it to end: it schedules the next one itself, after the
    // pause its own duration calls for (a timer set now would use the old, shorter pause).
    if (this.flushTimer || this.flushingViews || this.closed) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      void this.flushViews();
    }, this.flushDelay);
  }

  /** Writes every dirty legacy file (coalesced; also called on shutdown). */
  async flushViews(): Promise<void> {
    const started = Date.now();
    this.flushingViews = true;
    try {
      for (const section of SECTIONS) {
        const v = this.views[section];
        if (v.dirty) await v.flush();
      }
    } finally {
      this.flushingViews = false;
    }
    // Keep rewrites a small share of the time however large the files grow; back off while a file
    // is locked or unreadable (it is retried, never overwritten).
    const troubled = SECTIONS.some((s) => this.views[s].problem);
    this.flushDelay = Math.max(this.opts.viewFlushMs ?? DEFAULTS.view_flush_ms, (Date.now() - started) * 5, troubled ? 1000 : 0);
    if (SECTIONS.some((s) => this.views[s].dirty)) this.scheduleFlush();
  }

  /** Checks a legacy file for external edits now (watcher hint or periodic scan). */
  checkExternal(section: Section): Promise<void> {
    return this.views[section].check();
  }

  // ---- snapshots -------------------------------------------------------------------------

  private async maybeSnapshot(): Promise<void> {
    const max = this.opts.maxJournalBytes ?? 64 * 1024 * 1024;
    if (this.journal.bytes < max || this.snapshotting || this.journal.torn || Date.now() < this.checkpointRetryAt) return;
    try {
      await this.checkpoint();
    } catch (err) {
      // The journal keeps everything meanwhile; a snapshot only bounds the restart time.
      this.checkpointRetryAt = Date.now() + CHECKPOINT_RETRY_MS;
      this.opts.logger.warn({ err: (err as Error).message }, 'snapshot failed: the journal keeps growing until one succeeds');
    }
  }

  /**
   * A snapshot of everything, then a fresh journal (the old one is kept as journal.prev.jsonl for
   * `?since=` replays). Runs between journal batches, or at close once the journal is drained.
   */
  private async checkpoint(): Promise<void> {
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

  /**
   * The durable state: the tables without the changes whose journal batch is still pending (a
   * failed batch is undone, and the snapshot must not have made it permanent meanwhile; they
   * follow in the next journal). Ends with a trailer (row count and sha256 of the rows), written
   * last, so a snapshot cut short is recognised.
   */
  private async writeSnapshot(): Promise<void> {
    const views: Record<string, { sha: string; rev: number }> = {};
    for (const section of SECTIONS) {
      const v = this.views?.[section];
      if (v?.sha) views[VIEW_FILES[section]] = { sha: v.sha, rev: v.revisionWritten };
    }
    const pending = this.unsynced;
    const head: SnapshotHeader = { format: 3, revision: pending.length ? pending[0].revision - 1 : this.revision, views, trailer: true };
    // The rotation after it would leave the records between the two in journal.prev.jsonl only.
    if (this.journal && head.revision < this.journal.durableRevision) {
      throw new Error(`snapshot at revision ${head.revision} would be older than the journal (durable up to ${this.journal.durableRevision}): not written`);
    }
    // Rows are taken now (synchronously), written in chunks: no giant string, a consistent revision.
    const rows = durableRows(this.tables.maps, pending);
    const trailer = new SnapshotTrailer();
    function* chunks(): Generator<string> {
      yield JSON.stringify(head) + '\n';
      let buf = '';
      for (const [section, key, slot] of rows) {
        const raw = slot.t !== undefined && slot.t !== formatRecord(slot.data) ? slot.t : undefined;
        const row: unknown[] = [section, key, entryOf(slot), termHex(slot)];
        if (raw !== undefined) row.push(raw);
        const line = JSON.stringify(row) + '\n';
        trailer.add(line);
        buf += line;
        if (buf.length > STATE_CHUNK_CHARS) {
          // ~0.5 ms of work between writes, not a stall
          yield buf;
          buf = '';
        }
      }
      yield buf + trailer.line();
    }
    await writeFileAtomic(path.join(this.metaDir, 'snapshot.json'), chunks());
  }

  // ---- closing ---------------------------------------------------------------------------

  /** Drains the journal, writes the legacy files, releases the data dir. */
  async close(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = null;
    await this.watcher?.stop();
    await this.lastDurable;
    this.closed = true;
    for (const section of SECTIONS) {
      const v = this.views?.[section];
      if (!v) continue;
      v.close();
      if (v.dirty) await v.flush(CLOSE_LOCK_WAIT_MS); // refuses by itself to overwrite an unreadable file
      await v.saveMeta();
      await v.settled();
    }
    // Checkpoint on the way out: the next start reads the snapshot instead of replaying the
    // journal (bench, 50k records and ~40k changes since the last one: ~1.9 s to ready instead of ~2.4 s).
    // A crash skips this and replays, as it must.
    if (this.journal && this.journal.bytes >= CHECKPOINT_AT_CLOSE_BYTES && !this.snapshotting && !this.journal.torn) {
      try {
        await this.journal.drain(); // the views' markers included
        await this.checkpoint();
      } catch (err) {
        this.opts.logger.warn({ err: (err as Error).message }, 'no snapshot at close: the next start replays the journal');
      }
    }
    await this.journal?.close();
    await this.instanceLock?.release();
    this.opened = false;
  }
}

/**
 * Every record as it is durable: the tables' slots, except that a key changed by a pending change
 * has the slot it had before the first of them (or is left out if it did not exist then).
 */
function durableRows(maps: Record<Section, Map<string, Slot>>, pending: Undo[]): Array<[Section, string, Slot]> {
  const rows: Array<[Section, string, Slot]> = [];
  const before = new Map<string, Slot | undefined>(); // section + '\0' + key
  for (const u of pending) {
    u.changes.forEach((c, i) => {
      const id = c.section + '\0' + c.key;
      if (!before.has(id)) before.set(id, u.before[i]);
    });
  }
  for (const section of SECTIONS) {
    for (const [key, slot] of maps[section]) {
      const id = section + '\0' + key;
      if (!before.has(id)) rows.push([section, key, slot]);
      else {
        const old = before.get(id);
        if (old) rows.push([section, key, old]);
        before.delete(id);
      }
    }
  }
  // Records a pending change deleted: still there, durably.
  for (const [id, old] of before) {
    if (!old) continue;
    const sep = id.indexOf('\0');
    rows.push([id.slice(0, sep) as Section, id.slice(sep + 1), old]);
  }
  return rows;
}

async function fileExists(file: string): Promise<boolean> {
  return fsp.stat(file).then(
    () => true,
    () => false,
  );
}

function fromJournal(c: JournalChange): RecordChange {
  return c.o === 'put' ? { section: c.s, key: c.k, op: 'put', entry: c.e } : { section: c.s, key: c.k, op: 'del' };
}
