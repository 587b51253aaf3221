// One legacy JSON file (work_claims.json, agent_status.json or coordination_log.json) as a view of
// a state section that external scripts may also edit. It remembers what it last wrote (the base),
// so an external edit is diffed against that and only what the other writer changed becomes a
// change; recent versions are remembered too, so a lock-less script that rewrote the file from an
// older copy does not revert or delete what it never saw.
//
// This class only sequences the work on the file (one operation at a time, under its lock); the
// jobs are in modules of their own: reading the file (legacy-read.ts, file-stat.ts), the base and
// what differs from it (view-base.ts), what an edit changes (edit-decision.ts, over ingest.ts and
// losses.ts), what we wrote recently (recent-writes.ts), the paced rewrite (paced-writer.ts), the
// meta file (view-meta.ts) and the problems reported (view-problems.ts).
import path from 'node:path';
import { formatRecord, type ArrayItem } from '../../shared/legacy-json.js';
import type { Section } from '../../shared/types.js';
import { keyItems, type BaseRecord, type ProposedChange } from './ingest.js';
import { LockBusyError, clearOwnStaleLock, withFileLock, type LockOptions } from './file-lock.js';
import { sameStat, statOf, statSyncOf, type FileStat } from './file-stat.js';
import { DEFAULT_MAX_FILE_BYTES, parseRecords, readText, sizeProblem } from './legacy-read.js';
import type { Slot, Tables } from './tables.js';
import type { ChangeCause } from '../../shared/types.js';
import { loadEach, type LoadHooks } from './load-hooks.js';
import { RecentWrites } from './recent-writes.js';
import type { StoreEmit } from './store-events.js';
import { decideEdit } from './edit-decision.js';
import { writeRecordsPaced } from './paced-writer.js';
import { MetaFile, type MetaSnapshot, type ViewMeta } from './view-meta.js';
import { ViewProblems, type ViewProblem } from './view-problems.js';
import { adoptedBase, asBase, changedKeys, fileBase, logBase, metaBase, pendingUpdates, slotHash, textOf, unexplainedDrops, type Base } from './view-base.js';

export { STALE_WINDOW_MS } from './recent-writes.js';
export { DEFAULT_MAX_FILE_BYTES, MAX_RECORD_DEPTH } from './legacy-read.js';
export type { ViewProblemKind } from './store-events.js';
export type { ViewProblem } from './view-problems.js';

/** On shutdown, wait this long for a file lock: longer than an abandoned lock stays valid. */
export const CLOSE_LOCK_WAIT_MS = 12_000;

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

export class LegacyView {
  sha: string | null = null;
  private stat: FileStat = null;
  base: Base | null = null;
  dirty = false;
  /**
   * Keys changed since `base` was last brought up to date (null: not known, compare everything).
   * A write then updates `base` for these keys only instead of rebuilding it.
   */
  private changed: Set<string> | null = null;
  /** Keys a journaled change deleted since the file last had them: the only records a write may drop. */
  private deletedByChange = new Set<string>();
  private chain: Promise<unknown> = Promise.resolve();
  private writtenRevision = 0;
  private recent = new RecentWrites();
  private meta: MetaFile;
  private problems: ViewProblems;

  constructor(
    private host: ViewHost,
    readonly section: Section,
    readonly file: string,
    metaFile: string,
  ) {
    this.meta = new MetaFile(metaFile);
    this.problems = new ViewProblems(this.name, host, () => this.check());
  }

  get name(): string {
    return path.basename(this.file);
  }

  get revisionWritten(): number {
    return this.writtenRevision;
  }

  /** What keeps the file from being read or written, or null. */
  get problem(): ViewProblem | null {
    return this.problems.problem;
  }

  private get map(): Map<string, Slot> {
    return this.host.tables.maps[this.section];
  }

  // ---- opening ---------------------------------------------------------------------------

  /** `ours`: what we recently wrote to this file (from journal markers): content sha256 and revision. */
  async open(fresh: boolean, ours: Array<{ sha: string; rev: number }> = []): Promise<void> {
    if (await clearOwnStaleLock(this.file)) this.host.logger.warn({ file: this.name }, 'removed a lock left by a killed ai-processor');
    for (const w of ours) this.recent.noteFile(w.sha, Date.now());
    const meta = await this.meta.read();
    // What we last wrote, as far as the meta knows (hashes only): the base unless the file says more.
    const metaHashes = () => {
      if (!meta) return;
      this.setBase(new Map(meta.records.map(([k, hash]) => [k, { h: hash }])));
      this.writtenRevision = meta.revision;
    };
    const st = await statOf(this.file); // before the read: a change after it is seen by the next check
    if (this.overLimit(st)) {
      metaHashes();
      return;
    }
    let read: Awaited<ReturnType<typeof readText>>;
    try {
      read = await readText(this.file);
    } catch (err) {
      // A directory in its place, no permission: reported, and the daemon starts without it.
      metaHashes();
      this.problems.report('unreadable', err, st);
      return;
    }
    if (read === null) {
      metaHashes();
      this.dirty = this.host.tables.count(this.section) > 0;
      return;
    }
    const sha = read.sha;
    if (!fresh && meta && sha === meta.sha256 && this.adoptMeta(meta)) {
      // Exactly the file we last wrote and noted in the meta, and no record changed since: the
      // meta's hashes are the base. Nothing to split, parse or hash record by record.
      this.sha = sha;
      this.writtenRevision = meta.revision;
      this.stat = st;
      this.problems.resolve();
      this.compareWithState();
      this.host.logger.debug?.(
        { file: this.name, records: meta.records.length, revision: meta.revision },
        'legacy file as last written: base taken from the meta',
      );
      return;
    }
    metaHashes();
    const text = read.text!; // always read here (no sha to skip)
    const items = await this.parse(text, st);
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
      await this.meta.write(this.metaSnapshot());
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
        this.setBase(logBase(this.map, items));
        this.problems.resolve();
      }
      this.stat = st;
      this.compareWithState();
      return;
    }
    // Edited while we were down, or never written by us: ingest it like any external edit.
    await this.ingest(items, sha);
    this.stat = st;
  }

  /** Takes the file (content sha256, keys and items, as of revision `upTo`) as the base. */
  private adopt(sha: string, keys: string[], items: ArrayItem[], upTo: number): void {
    this.sha = sha;
    this.setBase(adoptedBase(this.map, keys, items, upTo, this.host.loadHooks));
    this.problems.resolve();
  }

  /** Takes the meta's record hashes as the base if the tables hold exactly what it describes. */
  private adoptMeta(meta: ViewMeta): boolean {
    const base = metaBase(this.map, meta, this.host.loadHooks);
    if (base) this.setBase(base);
    return base !== null;
  }

  /** A new base, wholesale: which records differ from it is not known until the next write compares them all. */
  private setBase(base: Base | null): void {
    this.base = base;
    this.changed = null;
  }

  /** A record of this section changed in the tables. */
  touch(key: string): void {
    this.dirty = true;
    this.changed?.add(key);
    if (this.map.has(key)) this.deletedByChange.delete(key);
    else this.deletedByChange.add(key);
  }

  /** A record's text in the file: its own (kept when it differs from the standard formatting), or formatted now. */
  static textOf(slot: Slot): string {
    return textOf(slot);
  }

  slotHash(slot: Slot): string {
    return slotHash(slot);
  }

  /**
   * Compares the tables with the base, record by record: which keys differ (so the next write
   * updates the base for those only) and whether the file needs writing at all.
   */
  private compareWithState(): void {
    if (!this.base) {
      this.changed = null;
      this.dirty = this.map.size > 0;
      return;
    }
    this.changed = changedKeys(this.map, this.base);
    this.dirty = this.changed.size > 0;
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
      if (this.stat && sameStat(st, this.stat) && this.problems.none) return;
      // A file whose content was found wrong and has not changed since: reading it again tells nothing new.
      if (this.problems.unchangedSince(st)) return;
      try {
        await withFileLock(this.file, async () => void (await this.detect()), this.lockOptions());
      } catch (err) {
        this.problems.report(err instanceof LockBusyError ? 'locked' : 'unreadable', err);
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

  /** Above the size limit: reported, neither read nor overwritten (flush reads it first, and stops here). */
  private overLimit(st: FileStat): boolean {
    const problem = sizeProblem(st, this.host.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES);
    if (problem === null) return false;
    this.problems.found(st, problem, 'too_large', true);
    return true;
  }

  /** The file's records, or null when they cannot be taken (reported). */
  private async parse(text: string, st: FileStat): Promise<ArrayItem[] | null> {
    const parsed = await parseRecords(text);
    if (parsed.ok) return parsed.items;
    this.problems.found(st, parsed.error, parsed.kind, parsed.now);
    return null;
  }

  /** Under the file lock: ingests the file if it is not what we last wrote. False if unreadable. */
  private async detect(): Promise<boolean> {
    const st = await statOf(this.file);
    if (this.overLimit(st)) return false;
    const read = await readText(this.file, this.sha);
    if (read === null) {
      this.stat = null;
      this.problems.resolve(); // whatever was wrong with it is gone with it
      this.dirty = this.dirty || this.host.tables.count(this.section) > 0; // deleted: write it again
      if (this.dirty) this.host.scheduleFlush();
      return true;
    }
    const { sha, text } = read;
    if (text === null) {
      this.stat = st; // what we last wrote or read: nothing to do
      this.problems.resolve();
      return true;
    }
    const items = await this.parse(text, st);
    if (!items) return false;
    await this.ingest(items, sha);
    this.stat = st;
    return true;
  }

  /** `sha`: sha256 of the file's bytes. */
  private async ingest(items: ArrayItem[], sha: string): Promise<void> {
    const edit = decideEdit({
      section: this.section,
      items,
      sha,
      base: this.base,
      map: this.map,
      recent: this.recent,
      nextLogSeq: this.host.nextLogSeq(),
      at: new Date().toISOString(),
    });
    const revision = await this.host.commit(edit.changes, edit.cause);
    for (const l of edit.losses) this.host.emit('loss', { ...l, revision });
    // The file as it is now is the base for the next diff.
    this.sha = sha;
    this.setBase(this.section === 'log' ? logBase(this.map, items) : fileBase(this.map, keyItems(this.section, items), items));
    this.problems.resolve();
    for (const c of edit.conflicts) {
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
    if (revision !== null || edit.conflicts.length) {
      this.host.logger.info({ file: this.name, revision, changes: edit.changes.length, conflicts: edit.conflicts.length }, 'picked up external edit');
    }
    this.compareWithState();
    if (this.dirty) this.host.scheduleFlush();
  }

  // ---- writing ---------------------------------------------------------------------------

  /** `waitMs`: how long to wait for the file lock (long on shutdown, to outlast an abandoned lock). */
  flush(waitMs?: number): Promise<void> {
    return this.serial(() => this.flushLocked(waitMs));
  }

  private async flushLocked(waitMs?: number): Promise<void> {
    if (!this.dirty) return;
    try {
      await withFileLock(this.file, () => this.writeLocked(), this.lockOptions(waitMs));
    } catch (err) {
      this.dirty = true;
      if (err instanceof LockBusyError || (err as NodeJS.ErrnoException)?.code !== undefined)
        this.problems.report(err instanceof LockBusyError ? 'locked' : 'write_failed', err);
      else
        this.problems.unreadable(
          `write failed: ${err instanceof RangeError ? 'a record is too deeply nested to write' : (err as Error).message}`,
          'write_failed',
          true,
        );
    }
  }

  /** Under the file lock: merges external edits first, then rewrites the file from the tables. */
  private async writeLocked(): Promise<void> {
    // External edits first, so they are merged rather than overwritten.
    let seen = await statOf(this.file);
    if (this.problems.unchangedSince(seen)) return; // still wrong: neither read again nor overwritten
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
    const map = this.map;
    const slots: Slot[] = new Array(map.size);
    let n = 0;
    for (const slot of map.values()) slots[n++] = slot;
    const changed = this.changed;
    this.changed = new Set();
    const pending = pendingUpdates(map, this.base, changed);
    const drops = unexplainedDrops(pending, this.base, this.deletedByChange);
    if (drops.length > 0) {
      this.unchanged(changed);
      this.dirty = true;
      throw new Error(
        `refusing to rewrite it without ${drops.length} record(s) it holds that no change deleted (first: ${JSON.stringify(drops[0].slice(0, 64))}): the state may be partial; left untouched`,
      );
    }
    const revision = this.host.revision();
    const started = process.hrtime.bigint();
    let put: Awaited<ReturnType<typeof writeRecordsPaced>> = null;
    try {
      put = await writeRecordsPaced(this.file, slots, {
        // Noted in the journal first: a crash after the rename still knows the file is ours.
        beforeRename: (digest) => this.host.markWritten(this.name, digest, revision),
        // A lock-less writer that replaced the file since we read it wins (we re-read and retry):
        // checked synchronously right before the rename, so the window is two system calls.
        renameIf: () => sameStat(statSyncOf(this.file), seen),
      });
    } finally {
      if (put === null) this.unchanged(changed);
    }
    if (put === null) {
      this.dirty = true;
      this.stat = null;
      this.host.scheduleFlush();
      return;
    }
    this.recent.applyBase(
      (this.base ??= new Map()),
      pending.map(([key, slot]) => [key, slot && asBase(slot)] as [string, BaseRecord | null]),
      Date.now(),
    );
    for (const [key, slot] of pending) if (slot === null) this.deletedByChange.delete(key);
    this.sha = put.sha;
    this.recent.noteFile(put.sha, Date.now());
    this.stat = put.stat;
    this.writtenRevision = revision;
    this.problems.resolve();
    await this.meta.maybeWrite(this.metaSnapshot());
    this.host.emit('view_written', {
      file: this.name,
      records: slots.length,
      bytes: this.stat?.size ?? 0,
      seconds: Number(process.hrtime.bigint() - started) / 1e9,
    });
  }

  /** A write did not happen: the keys it covered are still to be written. */
  private unchanged(changed: Set<string> | null): void {
    if (changed === null || this.changed === null) this.changed = null;
    else for (const key of changed) this.changed.add(key);
  }

  // ---- meta ------------------------------------------------------------------------------

  private metaSnapshot(): MetaSnapshot | null {
    return this.sha && this.base ? { sha: this.sha, revision: this.writtenRevision, base: this.base } : null;
  }

  /** Writes the meta now if it is behind (on shutdown). */
  async saveMeta(): Promise<void> {
    await this.serial(() => this.meta.maybeWrite(this.metaSnapshot(), true));
  }

  close(): void {
    this.problems.close();
  }

  settled(): Promise<unknown> {
    return this.chain;
  }
}
