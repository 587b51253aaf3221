// The journal: one JSON line per accepted change, appended and fsynced before the change is
// acknowledged. Group commit: changes that arrive while an fsync runs share the next one.
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { ChangeCause, Entry, Section } from '../../shared/types.js';
import { readLines } from './lines.js';

export interface JournalChange {
  s: Section;
  k: string;
  o: 'put' | 'del';
  e?: Entry;
  /** The record's original file text, kept only when it differs from the standard formatting. */
  tx?: string;
}

export interface JournalRecord {
  r: number; // revision
  t: string; // timestamp_ns
  c: JournalChange[];
  x?: ChangeCause;
  /** State checksum after this change, so replayed deltas carry it without recomputation. */
  h?: string;
}

/** A legacy file we are about to rename into place: lets a restart recognise it as ours. */
export interface ViewMarker {
  m: 'view';
  f: string; // file name
  s: string; // sha256 of its content
  r: number; // revision it reflects
}

export interface ReplayResult {
  records: JournalRecord[];
  markers: ViewMarker[];
  /** Bytes of a torn final line that was cut off (never acknowledged: it had no fsync). */
  truncatedBytes: number;
}

/** Reads a journal file; a torn last line is cut off, a corrupt line elsewhere is an error. */
export async function readJournal(file: string): Promise<ReplayResult> {
  const lines = await readLines(file);
  const records: JournalRecord[] = [];
  const markers: ViewMarker[] = [];
  if (!lines) return { records, markers, truncatedBytes: 0 };
  for (let i = 0; i < lines.length; i++) {
    const { text, offset, terminated } = lines[i];
    try {
      if (!terminated) throw new Error('no newline');
      if (text.trim() === '') continue;
      const rec = JSON.parse(text) as JournalRecord | ViewMarker;
      if ('m' in rec) markers.push(rec);
      else records.push(rec);
    } catch {
      // Only the last line can be torn: a write cut short by a crash before its fsync returned, so
      // never acknowledged (a failed write is cut off by the daemon itself). Cut it off.
      if (lines.slice(i + 1).every((l) => l.text.trim() === '')) {
        const size = (await fsp.stat(file)).size;
        await fsp.truncate(file, offset);
        return { records, markers, truncatedBytes: size - offset };
      }
      throw new Error(
        `journal ${file} is corrupt at byte ${offset} (not its last line, so not a write cut short by a crash): refusing to guess. ` +
          'Restore it from a backup; do not delete it or cut it (the changes after that byte were acknowledged).',
      );
    }
  }
  return { records, markers, truncatedBytes: 0 };
}

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

/** A batch that could not be made durable: nothing of it (or of what was queued after it) stays in the file. */
export class JournalWriteError extends Error {
  constructor(
    override readonly cause: Error,
    /** The OS error code (ENOSPC, EDQUOT, EIO, ...), when there is one. */
    readonly errno: string | undefined,
  ) {
    super(`journal write failed: ${cause.message}`);
  }

  /** The disk or the quota is full (as opposed to any other write failure). */
  get full(): boolean {
    return this.errno === 'ENOSPC' || this.errno === 'EDQUOT';
  }
}

export interface JournalOptions {
  onBatch?: (lines: number, fsyncSeconds: number) => void;
  /** Called between batches, with no write in flight: the place to rotate. */
  beforeBatch?: () => Promise<void>;
  /**
   * Called synchronously when a batch failed, before any waiter hears of it: every record queued
   * so far (the failed batch and those after it) is dropped, and the caller undoes them.
   */
  onFailure?: (err: JournalWriteError) => void;
  /** Called synchronously once a batch is durable, with the highest revision in it (before its waiters hear). */
  onDurable?: (revision: number) => void;
}

export class Journal {
  private handle: FileHandle | null = null;
  private pending: string[] = [];
  private waiters: Waiter[] = [];
  private flushing = false;
  /** Set after a failed batch whose bytes could not be cut off yet: nothing is written until they are. */
  private tornAt: number | null = null;
  /** The highest revision appended so far. */
  private lastRevision = 0;
  bytes = 0;

  constructor(
    private file: string,
    private opts: JournalOptions = {},
  ) {}

  async open(): Promise<void> {
    this.handle = await fsp.open(this.file, 'a');
    this.bytes = (await this.handle.stat()).size;
  }

  /** Queues a record; resolves once it is on disk (fsynced), rejects with a JournalWriteError. */
  append(record: JournalRecord | ViewMarker): Promise<void> {
    // A view marker's r is the revision a file reflects, often behind: it must not lower the
    // revision a batch is durable up to (changes left counted as pending were dropped from the next snapshot).
    if (!('m' in record)) this.lastRevision = record.r;
    this.pending.push(JSON.stringify(record) + '\n');
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => void this.flushLoop());
    }
    return done;
  }

  /** Resolves when everything appended so far is durable (or failed). */
  async drain(): Promise<void> {
    while (this.flushing) await new Promise((r) => setTimeout(r, 1));
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        // A failed snapshot must not stop the journal: it is retried later, the journal just grows.
        if (this.opts.beforeBatch) await this.opts.beforeBatch().catch(() => {});
        const lines = this.pending;
        const waiters = this.waiters;
        const upTo = this.lastRevision;
        this.pending = [];
        this.waiters = [];
        const buf = Buffer.from(lines.join(''));
        const started = process.hrtime.bigint();
        try {
          await this.cutTorn();
          await this.writeAll(buf);
          await this.handle!.datasync();
          this.tornAt = null;
        } catch (err) {
          this.fail(err as Error, waiters);
          // Now, before anything else is written (if it fails, the next batch tries first).
          await this.cutTorn().catch(() => {});
          continue;
        }
        this.bytes += buf.length;
        this.opts.onDurable?.(upTo);
        this.opts.onBatch?.(lines.length, Number(process.hrtime.bigint() - started) / 1e9);
        for (const w of waiters) w.resolve();
      }
    } finally {
      this.flushing = false;
    }
  }

  /** One write call may write only part of the buffer (a full disk): loop until all of it is written. */
  private async writeAll(buf: Buffer): Promise<void> {
    this.tornAt = this.bytes; // until the fsync returns, the bytes past here are not ours to keep
    for (let off = 0; off < buf.length; ) {
      const { bytesWritten } = await this.handle!.write(buf, off, buf.length - off);
      if (bytesWritten <= 0) throw Object.assign(new Error('no space left on device (short write)'), { code: 'ENOSPC' });
      off += bytesWritten;
    }
  }

  /** Cuts the file back to the end of the last durable batch (a failed batch's bytes go). */
  private async cutTorn(): Promise<void> {
    if (this.tornAt === null) return;
    await this.handle!.truncate(this.tornAt);
    await this.handle!.datasync();
    this.tornAt = null;
  }

  /**
   * The batch failed: cut its bytes off (or remember to, before the next write), and drop it and
   * everything queued after it: they were applied in memory on top of it, and are undone together.
   */
  private fail(cause: Error, batch: Waiter[]): void {
    const err = new JournalWriteError(cause, (cause as NodeJS.ErrnoException).code);
    const later = this.waiters;
    this.pending = [];
    this.waiters = [];
    this.opts.onFailure?.(err);
    for (const w of batch) w.reject(err);
    for (const w of later) w.reject(err);
  }

  /** Whether the file may hold bytes of a failed batch (they are cut before anything else is written). */
  get torn(): boolean {
    return this.tornAt !== null;
  }

  /** Swaps to a fresh file (after a snapshot made the old one redundant). */
  async rotate(newFile: string): Promise<void> {
    // The new file first: if it cannot be opened, the old handle still works.
    const handle = await fsp.open(newFile, 'a');
    await this.handle?.close();
    this.file = newFile;
    this.handle = handle;
    this.bytes = 0;
  }

  async close(): Promise<void> {
    await this.drain();
    await this.handle?.close();
    this.handle = null;
  }
}
