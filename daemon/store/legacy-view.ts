// One legacy JSON file (work_claims.json, agent_status.json or coordination_log.json) as a view of
// a state section that external scripts may also edit. It remembers what it last wrote (the base),
// so an external edit is diffed against that and only what the other writer changed becomes a
// change; recent versions are remembered too, so a lock-less script that rewrote the file from an
// older copy does not revert or delete what it never saw.
import { createHash } from 'node:crypto';
import { promises as fsp, statSync } from 'node:fs';
import path from 'node:path';
import { formatRecord, renderRecordBuffers, splitJsonArray, type ArrayItem } from '../../shared/legacy-json.js';
import type { ChangeCause, JsonObject, Section } from '../../shared/types.js';
import { ingestFile, keyItems, textHash, type BaseRecord, type IngestResult, type ProposedChange } from './ingest.js';
import { detectLosses } from './losses.js';
import { LockBusyError, clearOwnStaleLock, withFileLock, type LockOptions } from './file-lock.js';
import { DEFAULTS } from '../defaults.js';
import { readBufferIfExists, readFileIfExists, writeFileAtomic } from './fsutil.js';
import { describeJsonError } from './json-error.js';
import type { Slot, Tables } from './tables.js';
import type { ViewProblemKind } from './store-events.js';
import { loadEach, type LoadHooks } from './load-hooks.js';
import { WriteHistory } from './write-history.js';
import type { StoreEmit } from './store-events.js';

/** How long a version we wrote counts as "recent": a script's read-modify-write takes less. */
export const STALE_WINDOW_MS = 30_000;
/** On shutdown, wait this long for a file lock: longer than an abandoned lock stays valid. */
export const CLOSE_LOCK_WAIT_MS = 12_000;
/** Shortest pause between two writes of a view's meta file. */
const META_EVERY_MS = 5_000;
/**
 * A file is written this much at a time. Records are formatted as their chunk is filled (texts are
 * not kept in memory, except where a record's own differs from the standard formatting), so this
 * bounds how long a write holds the event loop (~0.2 ms a chunk).
 */
const VIEW_CHUNK_BYTES = 16 * 1024;
/** A rewrite yields twice as long as each chunk took: it runs in the background, at a third of the event loop at most. */
const VIEW_PACE = 2;
/** Retries of an unreadable file before it is reported (it may be mid-write). */
const RETRY_DELAYS_MS = [50, 250, 1000];
/** Largest legacy file read by default: one external edit costs at most this much parsing and memory. */
export const DEFAULT_MAX_FILE_BYTES = DEFAULTS.max_legacy_file_bytes;
/** Deepest nesting of a record taken from a file: deeper ones would overflow the stack when merged or written. */
export const MAX_RECORD_DEPTH = 512;

export type { ViewProblemKind } from './store-events.js';

export interface ViewProblem {
  file: string;
  kind: ViewProblemKind;
  error: string;
  at: string;
}

const CONTENT_PROBLEMS: ReadonlySet<ViewProblemKind> = new Set(['unparseable', 'too_large', 'too_deep']);

/** Index of the first value nested deeper than `max` (objects and arrays), or -1. Iterative. */
function tooDeep(items: ArrayItem[], max: number): number {
  for (let i = 0; i < items.length; i++) {
    const stack: Array<[unknown, number]> = [[items[i].value, 1]];
    while (stack.length > 0) {
      const [v, depth] = stack.pop()!;
      if (depth > max) return i;
      if (v !== null && typeof v === 'object') for (const c of Object.values(v)) if (c !== null && typeof c === 'object') stack.push([c, depth + 1]);
    }
  }
  return -1;
}

export interface ViewHost {
  tables: Tables;
  revision(): number;
  logger: { info(o: object, m?: string): void; warn(o: object, m?: string): void; debug?(o: object, m?: string): void };
  /** Applies changes as one revision; resolves when durable. Null if nothing changed. */
  commit(changes: ProposedChange[], cause: ChangeCause): Promise<number | null>;
  nextLogSeq(): number;
  emit: StoreEmit;
  /** Durably notes (in the journal) that we are about to put this content in place. */
  markWritten(file: string, sha: string, revision: number): Promise<void>;
  scheduleFlush(): void;
  isClosed(): boolean;
  /** The heap policy's hooks while a file loads (see StoreOptions.loadHooks). */
  loadHooks?: LoadHooks;
  /** A file larger than this is reported, not read (default DEFAULT_MAX_FILE_BYTES). */
  maxFileBytes?: number;
}

type Stat = { ino: number; size: number; mtimeMs: number } | null;

interface Meta {
  sha256: string;
  revision: number;
  records: Array<[string, string]>;
}

/**
 * A file's sha256 and its text (null when the sha256 is `unlessSha`: the content is known). The
 * bytes are dropped on return, before the text is parsed.
 */
async function readText(file: string, unlessSha: string | null = null): Promise<{ sha: string; text: string | null } | null> {
  const bytes = await readBufferIfExists(file);
  if (bytes === null) return null;
  const sha = await sha256Of(bytes);
  return { sha, text: sha === unlessSha ? null : bytes.toString('utf8') };
}

/** sha256 of a file's bytes, a megabyte at a time with the event loop let through in between. */
async function sha256Of(bytes: Buffer): Promise<string> {
  const hash = createHash('sha256');
  const step = 1024 * 1024;
  for (let off = 0; off < bytes.length; off += step) {
    if (off > 0) await new Promise((resolve) => setImmediate(resolve));
    hash.update(bytes.subarray(off, off + step));
  }
  return hash.digest('hex');
}

async function statOf(file: string): Promise<Stat> {
  try {
    const st = await fsp.stat(file);
    return { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs };
  } catch {
    return null;
  }
}

function statSyncOf(file: string): Stat {
  try {
    const st = statSync(file);
    return { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs };
  } catch {
    return null;
  }
}

const sameStat = (a: Stat, b: Stat) => (a === null && b === null) || (!!a && !!b && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs);

export class LegacyView {
  sha: string | null = null;
  private stat: Stat = null;
  base: Map<string, BaseRecord> | null = null;
  dirty = false;
  /**
   * Keys changed since `base` was last brought up to date (null: not known, compare everything).
   * A write then updates `base` for these keys only instead of rebuilding it.
   */
  private changed: Set<string> | null = null;
  problem: ViewProblem | null = null;
  /** The file's stat when a content problem was found: it is not read again while unchanged. */
  private problemStat: Stat = null;
  private failures = 0;
  private retry: NodeJS.Timeout | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private writtenRevision = 0;

  get revisionWritten(): number {
    return this.writtenRevision;
  }
  /** Versions we replaced and keys we added, within the window (the stale-copy checks). */
  private history = new WriteHistory(STALE_WINDOW_MS);
  /** The sha256 of what we wrote to the file within the window, oldest first: a copy put back unchanged is recognised. */
  private recentWrites: Array<{ sha: string; at: number }> = [];

  private noteWrite(sha: string, now: number): void {
    this.recentWrites.push({ sha, at: now });
    while (this.recentWrites.length > 0 && now - this.recentWrites[0].at > STALE_WINDOW_MS) this.recentWrites.shift();
  }

  constructor(
    private host: ViewHost,
    readonly section: Section,
    readonly file: string,
    private metaFile: string,
  ) {}

  get name(): string {
    return path.basename(this.file);
  }

  // ---- opening ---------------------------------------------------------------------------

  /** `ours`: what we recently wrote to this file (from journal markers): content sha256 and revision. */
  async open(fresh: boolean, ours: Array<{ sha: string; rev: number }> = []): Promise<void> {
    if (await clearOwnStaleLock(this.file)) this.host.logger.warn({ file: this.name }, 'removed a lock left by a killed ai-processor');
    for (const w of ours) this.noteWrite(w.sha, Date.now());
    const meta = await this.readMeta();
    // What we last wrote, as far as the meta knows (hashes only): the base unless the file says more.
    const metaBase = () => {
      if (!meta) return;
      this.setBase(new Map(meta.records.map(([k, hash]) => [k, { h: hash }])));
      this.writtenRevision = meta.revision;
    };
    const st = await statOf(this.file); // before the read: a change after it is seen by the next check
    if (this.overLimit(st)) {
      metaBase();
      return;
    }
    let read: Awaited<ReturnType<typeof readText>>;
    try {
      read = await readText(this.file);
    } catch (err) {
      // A directory in its place, no permission: reported, and the daemon starts without it.
      metaBase();
      this.problemStat = st;
      this.report('unreadable', err);
      return;
    }
    if (read === null) {
      metaBase();
      this.dirty = this.host.tables.count(this.section) > 0;
      return;
    }
    const sha = read.sha;
    if (!fresh && meta && sha === meta.sha256 && this.adoptMeta(meta)) {
      // Exactly the file we last wrote and noted in the meta, and no record changed since: the
      // meta's hashes are the base. Nothing to split, parse or hash record by record (~180 ms and
      // a parsed copy of every record at 50k records, on every clean restart).
      this.sha = sha;
      this.writtenRevision = meta.revision;
      this.stat = st;
      this.clearProblem();
      this.compareWithState();
      this.host.logger.debug?.(
        { file: this.name, records: meta.records.length, revision: meta.revision },
        'legacy file as last written: base taken from the meta',
      );
      return;
    }
    metaBase();
    const text = read.text!; // always read here (no sha to skip)
    const items = this.split(text, st);
    if (!items) return;
    if (fresh) {
      // First start on a legacy directory: the file is the state. Nothing is rewritten.
      const keys = keyItems(this.section, items);
      // Only texts that differ from the standard formatting are kept (the others are formatted when written).
      loadEach(this.host.loadHooks, 0, items.length, (i) => {
        const item = items[i];
        this.host.tables.set(this.section, keys[i], { v: 1, rev: 0, data: item.value }, item.text === formatRecord(item.value) ? undefined : item.text);
      });
      this.adopt(sha, keys, items, 0);
      this.stat = st;
      this.changed = new Set();
      await this.writeMeta();
      return;
    }
    const mine = ours.find((w) => w.sha === sha) ?? (meta && sha === meta.sha256 ? { sha, rev: meta.revision } : undefined);
    if (mine) {
      // Written by us (even if we died before noting it in the meta): it is the base, not an edit.
      const keys = this.section === 'log' ? null : keyItems(this.section, items);
      if (keys) {
        // Records unchanged since that write have exactly these bytes: reuse them instead of
        // formatting every record again (and holding two copies).
        this.adopt(sha, keys, items, mine.rev);
        this.writtenRevision = mine.rev;
      } else {
        this.sha = sha;
        this.setBase(this.logBase(items));
        this.clearProblem();
      }
      this.stat = st;
      this.compareWithState();
      return;
    }
    // Edited while we were down, or never written by us: ingest it like any external edit.
    await this.ingest(text, items, sha);
    this.stat = st;
  }

  /**
   * Takes the file (content sha256, keys and items) as the base. Records unchanged since revision
   * `upTo` (the file's) have exactly the file's text (their own, or the standard formatting, which
   * is what we wrote): they get its hash, so it is not computed again.
   */
  private adopt(sha: string, keys: string[], items: ArrayItem[], upTo: number): void {
    this.sha = sha;
    const base = new Map<string, BaseRecord>();
    loadEach(this.host.loadHooks, 0, keys.length, (i) => {
      const text = items[i].text;
      const hash = textHash(text);
      const slot = this.host.tables.slot(this.section, keys[i]);
      const same = slot !== undefined && slot.rev <= upTo && (slot.t === undefined || slot.t === text);
      if (same) slot.h = hash;
      // The same record as in the tables: the slot is its base record (no copy, no object of its own).
      base.set(keys[i], same ? (slot as BaseRecord) : { h: hash, data: items[i].value });
    });
    this.setBase(base);
    this.clearProblem();
  }

  /**
   * Takes the meta's record hashes as the base, if every record in the tables is the one the meta
   * describes (none added, removed or changed since that write): their slots are the base records.
   */
  private adoptMeta(meta: Meta): boolean {
    const map = this.host.tables.maps[this.section];
    if (map.size !== meta.records.length) return false;
    for (const [key] of meta.records) {
      const slot = map.get(key);
      if (slot === undefined || slot.rev > meta.revision) return false;
    }
    const base = new Map<string, BaseRecord>();
    loadEach(this.host.loadHooks, 0, meta.records.length, (i) => {
      const [key, hash] = meta.records[i];
      const slot = map.get(key)!;
      slot.h = hash;
      base.set(key, slot as BaseRecord);
    });
    this.setBase(base);
    return true;
  }

  /** A new base, wholesale: which records differ from it is not known until the next write compares them all. */
  private setBase(base: Map<string, BaseRecord> | null): void {
    this.base = base;
    this.changed = null;
  }

  /** A record of this section changed in the tables. */
  touch(key: string): void {
    this.dirty = true;
    this.changed?.add(key);
    if (this.host.tables.maps[this.section].has(key)) this.deletedByChange.delete(key);
    else this.deletedByChange.add(key);
  }

  /** Keys a journaled change deleted since the file last had them: the only records a write may drop. */
  private deletedByChange = new Set<string>();

  /** Records the file holds that the state lacks with no change to explain it (a partial state): never written over. */
  private unexplainedDrops(pending: Array<[string, Slot | null]>): string[] {
    const base = this.base;
    if (!base) return [];
    return pending.filter(([key, slot]) => slot === null && base.has(key) && !this.deletedByChange.has(key)).map(([key]) => key);
  }

  private clearProblem(): void {
    if (this.problem) this.host.logger.info({ file: this.name, kind: this.problem.kind }, 'legacy file problem resolved');
    this.problem = null;
    this.problemStat = null;
    this.failures = 0;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
  }

  /** A record's text in the file: its own (kept when it differs from the standard formatting), or formatted now. */
  static textOf(slot: Slot): string {
    return slot.t ?? formatRecord(slot.data);
  }

  slotHash(slot: Slot): string {
    return (slot.h ??= textHash(LegacyView.textOf(slot)));
  }

  /** The slot as the base record of what was just written (its hash noted first). */
  private asBase(slot: Slot): BaseRecord {
    this.slotHash(slot);
    return slot as BaseRecord;
  }

  /**
   * Compares the tables with the base, record by record: which keys differ (so the next write
   * updates the base for those only) and whether the file needs writing at all.
   */
  private compareWithState(): void {
    const map = this.host.tables.maps[this.section];
    const base = this.base;
    if (!base) {
      this.changed = null;
      this.dirty = map.size > 0;
      return;
    }
    const changed = new Set<string>();
    for (const [key, slot] of map) if (base.get(key)?.h !== this.slotHash(slot)) changed.add(key);
    for (const key of base.keys()) if (!map.has(key)) changed.add(key);
    this.changed = changed;
    this.dirty = changed.size > 0;
  }

  // ---- external edits --------------------------------------------------------------------

  /** Runs fn after every earlier operation on this file (one at a time per file). */
  private serial(fn: () => Promise<void>): Promise<void> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => {});
    return run;
  }

  /** Checks the file for external edits now (watcher hint, periodic scan, retry). */
  check(): Promise<void> {
    return this.serial(async () => {
      if (this.host.isClosed()) return;
      const st = await statOf(this.file);
      if (this.stat && sameStat(st, this.stat) && !this.problem && this.failures === 0) return;
      // A file whose content was found wrong and has not changed since: reading it again tells nothing new.
      if (this.problem && CONTENT_PROBLEMS.has(this.problem.kind) && this.problemStat && sameStat(st, this.problemStat)) return;
      try {
        await withFileLock(this.file, async () => void (await this.detect()), this.lockOptions());
      } catch (err) {
        this.report(err instanceof LockBusyError ? 'locked' : 'unreadable', err);
      }
    });
  }

  private lockOptions(waitMs?: number): LockOptions {
    return {
      waitMs,
      onLost: (why) => this.host.logger.warn({ file: this.name, why }, 'lock was not ours at release'),
      onStaleRemoved: (ageMs) => this.host.logger.warn({ file: this.name, ageS: Math.round(ageMs / 1000) }, 'removed an abandoned lock directory'),
    };
  }

  /** Reports an error at once (no retries: a directory, a permission, a lock are not mid-write states). */
  private report(kind: ViewProblemKind, err: unknown): void {
    const e = err as NodeJS.ErrnoException;
    // System errors name the file and the call, never its content; anything else is named by its kind only.
    const error =
      err instanceof LockBusyError
        ? err.message
        : e instanceof RangeError
          ? 'a record is too deeply nested to process'
          : typeof e?.code === 'string'
            ? `${kind === 'write_failed' ? 'write failed' : 'cannot read'}: ${e.code}${e.syscall ? ` (${e.syscall})` : ''}`
            : `cannot process: ${e?.name ?? 'error'}`;
    this.unreadable(error, kind, true);
  }

  /** Above the size limit: reported, neither read nor overwritten (flush reads it first, and stops here). */
  private overLimit(st: Stat): boolean {
    const max = this.host.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
    if (!st || st.size <= max) return false;
    this.problemStat = st;
    this.unreadable(
      `file is ${st.size} bytes, over the limit of ${max} (max_legacy_file_bytes): not read, not overwritten; shrink it or raise the limit`,
      'too_large',
      true,
    );
    return true;
  }

  /** Splits a file's text into records, or reports why not (by position, never quoting it). */
  private split(text: string, st: Stat): ArrayItem[] | null {
    const split = splitJsonArray(text);
    if (!split.ok) {
      this.problemStat = st;
      this.unreadable(split.error.startsWith('not valid JSON') ? () => describeJsonError(text, split.error) : split.error, 'unparseable');
      return null;
    }
    const deep = tooDeep(split.items, MAX_RECORD_DEPTH);
    if (deep !== -1) {
      this.problemStat = st;
      this.unreadable(`element ${deep} is nested deeper than ${MAX_RECORD_DEPTH} levels: file not imported, not overwritten`, 'too_deep', true);
      return null;
    }
    return split.items;
  }

  /** Under the file lock: ingests the file if it is not what we last wrote. False if unreadable. */
  private async detect(): Promise<boolean> {
    const st = await statOf(this.file);
    if (this.overLimit(st)) return false;
    const read = await readText(this.file, this.sha);
    if (read === null) {
      this.stat = null;
      this.clearProblem(); // whatever was wrong with it is gone with it
      this.dirty = this.dirty || this.host.tables.count(this.section) > 0; // deleted: write it again
      if (this.dirty) this.host.scheduleFlush();
      return true;
    }
    const { sha, text } = read;
    if (text === null) {
      this.stat = st; // what we last wrote or read: nothing to do
      this.clearProblem();
      return true;
    }
    const items = this.split(text, st);
    if (!items) return false;
    await this.ingest(text, items, sha);
    this.stat = st;
    return true;
  }

  /**
   * A file that does not parse may be mid-write: retry a few times, then report it; never overwrite
   * it. `now`: report at once (a lock, a directory, a size: not a passing state).
   */
  private unreadable(describe: string | (() => string), kind: ViewProblemKind, now = false): void {
    this.failures++;
    if (this.failures <= RETRY_DELAYS_MS.length) {
      if (!this.retry) {
        this.retry = setTimeout(
          () => {
            this.retry = null;
            void this.check().catch(() => {});
          },
          RETRY_DELAYS_MS[this.failures - 1],
        );
        this.retry.unref();
      }
      if (!now) return;
    }
    const error = typeof describe === 'string' ? describe : describe(); // described only when reported (a scan of the text)
    const first = this.problem === null || this.problem.error !== error;
    if (first) {
      const problem = { file: this.name, kind, error, at: new Date().toISOString() };
      this.problem = problem;
      this.host.logger.warn({ file: this.name, kind, error }, 'legacy file is unreadable or locked; left untouched, will retry');
      this.host.emit('problem', problem);
    }
  }

  private isStale = (key: string, hash: string): boolean => this.history.isStale(key, hash, Date.now());

  private recentlyAdded = (key: string): boolean => this.history.recentlyAdded(key, Date.now());

  /** `sha`: sha256 of the file's bytes. */
  private async ingest(text: string, items: ArrayItem[], sha: string): Promise<void> {
    const at = new Date().toISOString();
    const tables = this.host.tables;
    const result: IngestResult = ingestFile({
      section: this.section,
      items,
      base: this.base,
      current: (key) => {
        const slot = tables.slot(this.section, key);
        return slot ? { entry: slot, text: LegacyView.textOf(slot) } : undefined;
      },
      nextLogSeq: this.host.nextLogSeq(),
      at,
      isStale: this.isStale,
      recentlyAdded: this.recentlyAdded,
      versionsOf: (key) => this.history.versions(key, Date.now()),
      isOldWrite: this.recentWrites.some((w) => w.sha === sha),
    });
    const cause: ChangeCause = { op: 'external_edit', source: 'file', ...(result.conflicts.length ? { conflict: true } : {}) };
    // Judged before the commit, against the records as they were (see losses.ts).
    const losses = detectLosses({
      section: this.section,
      changes: result.changes,
      items,
      current: (key) => tables.slot(this.section, key)?.data,
      isStale: this.isStale,
    });
    const revision = await this.host.commit(result.changes, cause);
    for (const l of losses) this.host.emit('loss', { ...l, revision });
    // The file as it is now is the base for the next diff.
    this.sha = sha;
    this.setBase(this.section === 'log' ? this.logBase(items) : this.fileBase(keyItems(this.section, items), items));
    this.clearProblem();
    for (const c of result.conflicts) {
      this.host.emit('conflict', {
        revision: revision ?? this.host.revision(),
        section: this.section,
        key: c.key,
        field: c.field,
        kept: c.kept,
        other: c.other,
        source: c.source,
      });
    }
    if (revision !== null || result.conflicts.length) {
      this.host.logger.info({ file: this.name, revision, changes: result.changes.length, conflicts: result.conflicts.length }, 'picked up external edit');
    }
    this.compareWithState();
    if (this.dirty) this.host.scheduleFlush();
  }

  /** The base for a file just read: each record's hash, and its data (the record in the tables' when it is the same). */
  private fileBase(keys: string[], items: ArrayItem[]): Map<string, BaseRecord> {
    const map = this.host.tables.maps[this.section];
    const base = new Map<string, BaseRecord>();
    for (let i = 0; i < keys.length; i++) {
      const hash = textHash(items[i].text);
      const slot = map.get(keys[i]);
      base.set(keys[i], slot !== undefined && slot.h === hash ? (slot as BaseRecord) : { h: hash, data: items[i].value });
    }
    return base;
  }

  /** Log records have no ids: the file's records correspond to our keys by content. */
  private logBase(items: ArrayItem[]): Map<string, BaseRecord> {
    const byHash = new Map<string, string[]>();
    for (const [key, slot] of this.host.tables.maps.log) {
      const h = this.slotHash(slot);
      const list = byHash.get(h) ?? [];
      list.push(key);
      byHash.set(h, list);
    }
    const base = new Map<string, BaseRecord>();
    for (const item of items) {
      const h = textHash(item.text);
      const key = byHash.get(h)?.shift();
      if (key) base.set(key, { h, data: this.host.tables.slot('log', key)!.data }); // same content: share it
    }
    return base;
  }

  // ---- writing ---------------------------------------------------------------------------

  /** `waitMs`: how long to wait for the file lock (long on shutdown, to outlast an abandoned lock). */
  flush(waitMs?: number): Promise<void> {
    return this.serial(() => this.flushLocked(waitMs));
  }

  private async flushLocked(waitMs?: number): Promise<void> {
    if (!this.dirty) return;
    try {
      await withFileLock(
        this.file,
        async () => {
          // External edits first, so they are merged rather than overwritten.
          let seen = await statOf(this.file);
          if (this.problem && CONTENT_PROBLEMS.has(this.problem.kind) && this.problemStat && sameStat(seen, this.problemStat)) return; // still wrong: neither read again nor overwritten
          if (!this.stat || !sameStat(seen, this.stat)) {
            if (!(await this.detect())) return; // never overwrite a file we cannot read: it may be mid-write
            seen = this.stat; // taken before the content was read: a replacement since then aborts the rename
          }
          if (!this.dirty) return;
          this.dirty = false;
          // Taken synchronously: the file's records (slots are never changed, a change makes a new
          // one), and which keys the base must be updated for once they are written. Records that
          // changed since the last write are formatted and hashed while the file is written, a chunk
          // at a time, not here in one go.
          const map = this.host.tables.maps[this.section];
          const slots: Slot[] = new Array(map.size);
          let n = 0;
          for (const slot of map.values()) slots[n++] = slot;
          const changed = this.changed;
          this.changed = new Set();
          const pending = this.pendingUpdates(changed);
          const drops = this.unexplainedDrops(pending);
          if (drops.length > 0) {
            this.unchanged(changed);
            this.dirty = true;
            throw new Error(
              `refusing to rewrite it without ${drops.length} record(s) it holds that no change deleted (first: ${JSON.stringify(drops[0].slice(0, 64))}): the state may be partial; left untouched`,
            );
          }
          const revision = this.host.revision();
          const started = process.hrtime.bigint();
          let sha: string | null = null;
          const put: { stat: Stat } = { stat: null };
          try {
            // A lock-less writer that replaced the file since we looked wins: we re-read and retry.
            sha = await writeFileAtomic(
              this.file,
              renderRecordBuffers(slots, (slot) => this.forWrite(slot), VIEW_CHUNK_BYTES),
              {
                // Noted in the journal first: a crash after the rename still knows the file is ours.
                beforeRename: (digest) => this.host.markWritten(this.name, digest, revision),
                // A lock-less writer that replaced the file since we read it wins: checked synchronously
                // right before the rename, so the window is two system calls.
                renameIf: () => sameStat(statSyncOf(this.file), seen),
                // What we put in place, not the path's stat later: an edit made right after our rename
                // would otherwise pass for our own write and never be read.
                renamed: (st) => (put.stat = st),
                pace: VIEW_PACE,
              },
            );
          } finally {
            if (sha === null) this.unchanged(changed);
          }
          if (sha === null) {
            this.dirty = true;
            this.stat = null;
            this.host.scheduleFlush();
            return;
          }
          this.applyBase(pending.map(([key, slot]) => [key, slot && this.asBase(slot)]));
          for (const [key, slot] of pending) if (slot === null) this.deletedByChange.delete(key);
          this.sha = sha;
          this.noteWrite(sha, Date.now());
          this.stat = put.stat;
          this.writtenRevision = revision;
          this.clearProblem();
          await this.maybeWriteMeta();
          this.host.emit('view_written', {
            file: this.name,
            records: slots.length,
            bytes: this.stat?.size ?? 0,
            seconds: Number(process.hrtime.bigint() - started) / 1e9,
          });
        },
        this.lockOptions(waitMs),
      );
    } catch (err) {
      this.dirty = true;
      if (err instanceof LockBusyError || (err as NodeJS.ErrnoException)?.code !== undefined)
        this.report(err instanceof LockBusyError ? 'locked' : 'write_failed', err);
      else
        this.unreadable(`write failed: ${err instanceof RangeError ? 'a record is too deeply nested to write' : (err as Error).message}`, 'write_failed', true);
    }
  }

  /**
   * Which keys the base must be updated for once the tables as they are now are written: per key,
   * its slot now, or null for a key the file will no longer have. Only the changed keys when they
   * are known, else every key that differs from the base (all compared, here).
   */
  private pendingUpdates(changed: Set<string> | null): Array<[string, Slot | null]> {
    const map = this.host.tables.maps[this.section];
    const pending: Array<[string, Slot | null]> = [];
    if (changed !== null && this.base !== null) {
      for (const key of changed) pending.push([key, map.get(key) ?? null]);
      return pending;
    }
    const base = this.base;
    for (const [key, slot] of map) {
      const hash = this.slotHash(slot);
      const old = base?.get(key);
      if (!old || old.h !== hash || old.data !== slot.data) pending.push([key, slot]);
    }
    if (base) for (const key of base.keys()) if (!map.has(key)) pending.push([key, null]);
    return pending;
  }

  /**
   * A record as it goes into the file: its text when it has its own or its hash is still to be
   * noted (a record changed since the last write), else its data, formatted with its neighbours.
   */
  private forWrite(slot: Slot): string | JsonObject {
    if (slot.h !== undefined && slot.t === undefined) return slot.data;
    const text = LegacyView.textOf(slot);
    slot.h ??= textHash(text);
    return text;
  }

  /** A write did not happen: the keys it covered are still to be written. */
  private unchanged(changed: Set<string> | null): void {
    if (changed === null || this.changed === null) this.changed = null;
    else for (const key of changed) this.changed.add(key);
  }

  /** After a write: the base is what was written; the versions replaced are remembered for the stale-writer checks. */
  private applyBase(updates: Array<[string, BaseRecord | null]>): void {
    const now = Date.now();
    const base = (this.base ??= new Map());
    for (const [key, rec] of updates) {
      const old = base.get(key);
      if (rec === null) {
        base.delete(key);
        continue;
      }
      if (!old) this.history.added(key, now);
      else if (old.h !== rec.h) this.history.replaced(key, old.h, now, old.data);
      base.set(key, rec);
    }
    this.history.expire(now);
  }

  // ---- meta ------------------------------------------------------------------------------

  private async readMeta(): Promise<Meta | null> {
    const text = await readFileIfExists(this.metaFile);
    if (!text) return null;
    try {
      const nl = text.indexOf('\n');
      const head = JSON.parse(text.slice(0, nl)) as { sha256: string; revision: number };
      const records: Array<[string, string]> = [];
      for (const line of text.slice(nl + 1).split('\n')) {
        if (!line) continue;
        const tab = line.lastIndexOf('\t');
        records.push([JSON.parse(line.slice(0, tab)) as string, line.slice(tab + 1)]);
      }
      return { ...head, records };
    } catch {
      return null; // treated as "never written by us": the file is diffed against the state
    }
  }

  private metaWrittenAt = 0;

  /**
   * The meta only matters for a file edited while the daemon was down (our own last write is
   * recognised from the journal's markers), so it is written at most every few seconds, and on close.
   */
  private async maybeWriteMeta(force = false): Promise<void> {
    if (!force && Date.now() - this.metaWrittenAt < META_EVERY_MS) return;
    this.metaWrittenAt = Date.now();
    await this.writeMeta();
  }

  /** Writes the meta now if it is behind (on shutdown). */
  async saveMeta(): Promise<void> {
    await this.serial(() => this.maybeWriteMeta(true));
  }

  /** What we last wrote, per record hash: lets a restart tell our writes from external edits. */
  private async writeMeta(): Promise<void> {
    if (!this.sha || !this.base) return;
    const base = this.base;
    const head = JSON.stringify({ sha256: this.sha, revision: this.writtenRevision }) + '\n';
    function* lines(): Generator<string> {
      yield head;
      let buf = '';
      for (const [k, b] of base) {
        buf += JSON.stringify(k) + '\t' + b.h + '\n';
        if (buf.length > 32 * 1024) {
          yield buf;
          buf = '';
        }
      }
      yield buf;
    }
    await writeFileAtomic(this.metaFile, lines(), { durable: false });
  }

  close(): void {
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
  }

  settled(): Promise<unknown> {
    return this.chain;
  }
}
