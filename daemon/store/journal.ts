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
      // Only the last line can be torn (it was never fsynced, so never acknowledged): cut it off.
      if (lines.slice(i + 1).every((l) => l.text.trim() === '')) {
        const size = (await fsp.stat(file)).size;
        await fsp.truncate(file, offset);
        return { records, markers, truncatedBytes: size - offset };
      }
      throw new Error(`journal ${file} is corrupt at byte ${offset}: refusing to guess`);
    }
  }
  return { records, markers, truncatedBytes: 0 };
}

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

export interface JournalOptions {
  onBatch?: (lines: number, fsyncSeconds: number) => void;
  /** Called between batches, with no write in flight: the place to rotate. */
  beforeBatch?: () => Promise<void>;
}

export class Journal {
  private handle: FileHandle | null = null;
  private pending: string[] = [];
  private waiters: Waiter[] = [];
  private flushing = false;
  private failed: Error | null = null;
  bytes = 0;

  constructor(
    private file: string,
    private opts: JournalOptions = {},
  ) {}

  async open(): Promise<void> {
    this.handle = await fsp.open(this.file, 'a');
    this.bytes = (await this.handle.stat()).size;
  }

  /** Queues a record; resolves once it is on disk (fsynced). */
  append(record: JournalRecord | ViewMarker): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    this.pending.push(JSON.stringify(record) + '\n');
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => void this.flushLoop());
    }
    return done;
  }

  /** Resolves when everything appended so far is durable. */
  async drain(): Promise<void> {
    while (this.flushing) await new Promise((r) => setTimeout(r, 1));
    if (this.failed) throw this.failed;
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        if (this.opts.beforeBatch) await this.opts.beforeBatch();
        const lines = this.pending;
        const waiters = this.waiters;
        this.pending = [];
        this.waiters = [];
        const buf = Buffer.from(lines.join(''));
        const started = process.hrtime.bigint();
        try {
          await this.handle!.write(buf);
          await this.handle!.datasync();
        } catch (err) {
          this.failed = err as Error;
          for (const w of waiters) w.reject(this.failed);
          for (const w of this.waiters) w.reject(this.failed);
          this.waiters = [];
          this.pending = [];
          return;
        }
        this.bytes += buf.length;
        this.opts.onBatch?.(lines.length, Number(process.hrtime.bigint() - started) / 1e9);
        for (const w of waiters) w.resolve();
      }
    } finally {
      this.flushing = false;
    }
  }

  /** Swaps to a fresh file (after a snapshot made the old one redundant). */
  async rotate(newFile: string): Promise<void> {
    await this.handle?.close();
    this.file = newFile;
    this.handle = await fsp.open(newFile, 'a');
    this.bytes = 0;
  }

  async close(): Promise<void> {
    await this.drain().catch(() => {});
    await this.handle?.close();
    this.handle = null;
  }
}
