// telemetry_spans.jsonl, the legacy span file: read once at startup, then only ever appended to.
//
// - Appends are coalesced (one write every `flushMs`, or sooner when much is queued) and done off the
//   request path. Each span is one line (formatLegacySpan). The file is opened O_APPEND per write, so
//   legacy scripts appending with `>>` and log rotation both keep working; if the file does not end
//   with a newline (a script wrote a partial line), a newline is written first. Existing bytes,
//   invalid fragments included, are never rewritten.
// - Startup cost stays flat however large the file grows: a small index in the meta dir remembers up
//   to which byte the file was already counted (checked by hashing the bytes around that offset) and
//   the per-(operation, status) counts the entropy needs, so only bytes after it are parsed.
// - Bytes other writers append while we run are picked up (at each flush and every few seconds) and
//   reported like our own spans, so the telemetry entropy follows the file.
// - Memory is bounded: when the disk cannot keep up, spans beyond `maxPendingBytes` are dropped and
//   counted, never queued without limit.
// - Disk is bounded: a write that would take the live file past `maxBytes` fills it with the lines
//   that fit (a single line larger than the limit gets a file of its own); then (or past `maxAgeMs`)
//   the live file is renamed to telemetry_spans.1.jsonl (older ones shift to .2, .3 ... up to `keep`;
//   the oldest is replaced) and a new live file begins under the legacy name. Renames only: no byte of a span is ever rewritten. The
//   entropy counts in the index carry over (they describe every span seen, not the live file only).
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { fieldValue } from '../../shared/entropy.js';
import { parseLegacySpans, type LegacySegment } from '../../shared/legacy-spans.js';
import { canonicalJson } from '../../shared/canonical.js';
import type { JsonObject } from '../../shared/types.js';
import { writeFileAtomic } from '../../io/fsutil.js';

export interface SpanFileLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface SpanFileOptions {
  file: string;
  /** Where the startup index lives (inside the daemon's meta dir). */
  indexFile: string;
  logger: SpanFileLogger;
  flushMs?: number;
  maxPendingBytes?: number;
  /** How often to look for bytes other writers appended (ms); 0 = only when we write. */
  externalCheckMs?: number;
  /** Spans that other writers appended while we run, in file order. */
  onExternalSpans?: (spans: JsonObject[]) => void;
  /** Bytes parsed at a time when counting (default 4 MiB; smaller in tests). */
  chunkBytes?: number;
  /** Rotate the live file before it would grow past this (bytes; 0 = never by size). */
  maxBytes?: number;
  /** Rotate the live file once it is this old (ms; 0 = never by age). */
  maxAgeMs?: number;
  /** Rotated files kept (telemetry_spans.1.jsonl ... .N.jsonl); at least 1. */
  keep?: number;
}

interface IndexFile {
  format: 1;
  /** Bytes counted: always the start of a top-level segment (or the end of the file). */
  offset: number;
  head: string;
  tail: string;
  /** [operation value as canonical JSON, status value as canonical JSON, count]. */
  pairs: Array<[string, string, number]>;
}

const HASH_WINDOW = 4096;
const INITIAL_PENDING = 256 * 1024;
const NEWLINE = Buffer.from('\n');
const CHUNK = 4 * 1024 * 1024;
const NL = 0x0a;
const BRACE = 0x7b;

export interface SpanFileStats {
  appended: number;
  dropped: number;
  pending_bytes: number;
  external: number;
  write_errors: number;
  rotations: number;
}

export class SpanFile {
  /** Per (operation, status) value pair: how many spans the file holds (for the entropy at startup). */
  private pairs = new Map<string, number>();
  /** Bytes of the file accounted for: spans in [0, counted) are counted. */
  private counted = 0;
  /** Size of the file as we last saw it (≥ counted: the rest is an unfinished object). */
  private end = 0;
  private indexedOffset = -1;
  /**
   * Lines waiting to be written, as bytes (off the JS heap: nothing for the garbage collector to
   * trace or promote, however many spans wait), and how many of them.
   */
  private pending: Buffer = Buffer.allocUnsafe(INITIAL_PENDING);
  private pendingBytes = 0;
  private pendingLines = 0;
  /** The buffer of the previous write, reused for the next one. */
  private spare: Buffer | null = null;
  private timer: NodeJS.Timeout | null = null;
  private checker: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private closed = false;
  private trackFile = true;
  private lastDropWarn = 0;
  private retryAt = 0;
  /** When the live file began (its birth time, or when we first saw it). */
  private liveSince = Date.now();
  readonly stats: SpanFileStats = { appended: 0, dropped: 0, pending_bytes: 0, external: 0, write_errors: 0, rotations: 0 };

  constructor(private opts: SpanFileOptions) {}

  get file(): string {
    return this.opts.file;
  }

  /**
   * Counts the spans already in the file (using the index when it still matches) and returns, per
   * (operation, status) pair, a representative record and its count, for the entropy tracker; and
   * the last `recent` span records for the ring buffer.
   */
  async open(recent: number): Promise<{ counts: Array<{ record: JsonObject; count: number }>; recent: JsonObject[]; scannedBytes: number; indexed: boolean }> {
    const size = await sizeOf(this.opts.file);
    this.liveSince = await birthOf(this.opts.file);
    let indexed = false;
    let scannedBytes = 0;
    if (size > 0) {
      const handle = await fsp.open(this.opts.file, 'r');
      try {
        const idx = await this.readIndex();
        if (idx && idx.offset <= size && (await this.indexMatches(handle, idx))) {
          for (const [op, st, n] of idx.pairs) this.pairs.set(pairKey(op, st), n);
          this.counted = idx.offset;
          this.indexedOffset = idx.offset;
          indexed = true;
        }
        const from = this.counted;
        await this.scan(handle, from, size, () => {});
        scannedBytes = size - from;
      } finally {
        await handle.close();
      }
    }
    this.end = size;
    if (this.counted !== this.indexedOffset) await this.saveIndex();
    const tail = size > 0 ? await readTailSpans(this.opts.file, size, recent) : [];
    const counts = [...this.pairs].map(([key, count]) => {
      const [op, st] = splitPairKey(key);
      return { record: { operation_name: JSON.parse(op), status: JSON.parse(st) }, count };
    });
    if (this.opts.externalCheckMs) {
      this.checker = setInterval(() => void this.run(() => this.checkExternal()), this.opts.externalCheckMs);
      this.checker.unref();
    }
    return { counts, recent: tail, scannedBytes, indexed };
  }

  /**
   * Queues one span line (no newline) whose record has these operation and status values (for the
   * counts the index keeps). Returns false when it was dropped (queue full or closed).
   */
  append(line: string, operation: unknown, status: unknown): boolean {
    if (this.closed) return false;
    const max = this.opts.maxPendingBytes ?? 16 * 1024 * 1024;
    const need = this.pendingBytes + line.length * 3 + 1; // utf8 worst case; exact for the ASCII we write
    if (need > this.pending.length && !this.grow(need, max)) {
      this.stats.dropped++;
      const now = Date.now();
      if (now - this.lastDropWarn > 60_000) {
        this.lastDropWarn = now;
        this.opts.logger.warn(
          { file: this.opts.file, dropped: this.stats.dropped, pending_bytes: this.pendingBytes },
          'span file cannot keep up; dropping spans',
        );
      }
      return false;
    }
    this.pendingBytes += this.pending.write(line, this.pendingBytes, 'utf8');
    this.pending[this.pendingBytes++] = NL;
    this.pendingLines++;
    this.stats.pending_bytes = this.pendingBytes;
    this.countPair(operation, status);
    if (this.pendingBytes >= 1024 * 1024) this.schedule(0);
    else if (!this.timer) this.schedule(this.opts.flushMs ?? 200);
    return true;
  }

  /** Resolves once everything queued so far is written. */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    await this.run(() => this.write());
  }

  async close(): Promise<void> {
    if (this.checker) clearInterval(this.checker);
    this.checker = null;
    await this.flush();
    this.closed = true;
    // Save the index only if what it counts is on disk (a failed last write leaves spans queued).
    if (this.pendingBytes === 0 && this.counted !== this.indexedOffset) await this.saveIndex().catch(() => {});
  }

  // ---- internals ---------------------------------------------------------------------------

  private schedule(ms: number): void {
    ms = Math.max(ms, this.retryAt - Date.now()); // back off after a failed write
    if (this.timer) {
      if (ms > 0) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.run(() => this.write());
    }, ms);
    this.timer.unref?.();
  }

  /** Runs file work one at a time. */
  private run(fn: () => Promise<void>): Promise<void> {
    const next = (this.running ?? Promise.resolve()).then(fn, fn).catch((err: Error) => {
      this.stats.write_errors++;
      this.retryAt = Date.now() + 1000;
      if (this.pendingBytes > 0 && !this.closed) this.schedule(1000);
      this.opts.logger.warn({ file: this.opts.file, err: err.message }, 'span file: write failed; will retry');
    });
    this.running = next;
    return next;
  }

  private countRecord(record: JsonObject): void {
    this.countPair(fieldValue('spans', record, 'operation'), fieldValue('spans', record, 'status'));
  }

  private countPair(operation: unknown, status: unknown): void {
    const key = pairKey(jsonKey(operation), jsonKey(status));
    this.pairs.set(key, (this.pairs.get(key) ?? 0) + 1);
  }

  private async checkExternal(): Promise<void> {
    if (this.closed || !this.trackFile) return;
    const size = await sizeOf(this.opts.file);
    if (size === this.end) return;
    const handle = await fsp.open(this.opts.file, 'r');
    try {
      await this.syncExternal(handle, size);
    } finally {
      await handle.close();
    }
  }

  /** Accounts for bytes other writers appended (or a replaced file) before we write. */
  private async syncExternal(handle: FileHandle, size: number): Promise<void> {
    if (!this.trackFile) return;
    if (size < this.end) {
      // Truncated or replaced (rotation): what we counted is gone from this file; stop indexing it.
      this.opts.logger.warn({ file: this.opts.file, size, expected: this.end }, 'span file shrank (rotated or truncated): not indexing it any more');
      this.trackFile = false;
      return;
    }
    if (size === this.end) return;
    const found: JsonObject[] = [];
    await this.scan(handle, this.counted, size, (s) => found.push(s));
    this.end = size;
    if (found.length > 0) {
      this.stats.external += found.length;
      this.opts.onExternalSpans?.(found);
    }
  }

  /** Makes room for `need` pending bytes (doubling), unless that would pass `max`. */
  private grow(need: number, max: number): boolean {
    if (need > max) return false;
    let size = this.pending.length;
    while (size < need) size *= 2;
    const bigger = Buffer.allocUnsafe(Math.min(size, Math.max(max, need)));
    this.pending.copy(bigger, 0, 0, this.pendingBytes);
    this.pending = bigger;
    return true;
  }

  private async write(): Promise<void> {
    if (this.pendingBytes === 0) return;
    // Swap buffers: appends go on into the other one while this one is written.
    const data = this.pending.subarray(0, this.pendingBytes);
    const lines = this.pendingLines;
    const taken = this.pending;
    this.pending = this.spare && this.spare.length >= INITIAL_PENDING ? this.spare : Buffer.allocUnsafe(INITIAL_PENDING);
    this.spare = null;
    this.pendingBytes = 0;
    this.pendingLines = 0;
    let written = false;
    let rotated = false;
    /** Bytes of `data` on disk so far: a batch can be cut at a line end to keep each file under maxBytes. */
    let done = 0;
    try {
      let handle = await fsp.open(this.opts.file, 'a+');
      try {
        let size = (await handle.stat()).size;
        // The last byte is known to be our newline when nothing else wrote since our last write.
        let endsWithOurs = this.trackFile && size === this.end && this.stats.appended > 0;
        if (this.trackFile && size !== this.end) await this.syncExternal(handle, size);
        const reopen = async (): Promise<void> => {
          // Renamed while open (the handle follows the renamed file), closed once the new one is open.
          await this.rotate();
          rotated = true;
          const old = handle;
          handle = await fsp.open(this.opts.file, 'a+');
          await old.close();
          size = (await handle.stat()).size; // 0, unless a script appended since the rename
          endsWithOurs = false;
          if (size > 0) await this.syncExternal(handle, size);
        };
        if (this.rotationDue(size)) await reopen();
        const max = this.opts.maxBytes ?? 0;
        while (done < data.length) {
          let prefix = 0;
          if (size > 0 && !endsWithOurs) {
            const last = Buffer.alloc(1);
            await handle.read(last, 0, 1, size - 1);
            if (last[0] !== NL) prefix = 1;
          }
          let end = data.length;
          if (max > 0 && size + prefix + (end - done) > max) {
            // As many whole lines as fit; none fit: a new file (or, alone in one, a line past the limit).
            const room = max - size - prefix;
            end = room > 0 ? data.lastIndexOf(NL, done + room - 1) + 1 : 0;
            if (end <= done) {
              if (size > 0) {
                await reopen();
                continue;
              }
              end = data.indexOf(NL, done) + 1;
            }
          }
          const piece = data.subarray(done, end);
          // One writev: with O_APPEND the newline and the lines land together.
          const { bytesWritten } = await handle.writev(prefix ? [NEWLINE, piece] : [piece]);
          if (bytesWritten !== piece.length + prefix) throw new Error(`short write: ${bytesWritten} of ${piece.length + prefix} bytes`);
          done = end;
          size += prefix + piece.length;
          endsWithOurs = true;
          if (this.trackFile) {
            // Our lines are complete objects starting at column 0: everything up to here is settled.
            this.end = size;
            this.counted = size;
          }
        }
        written = true;
        this.retryAt = 0;
        this.stats.appended += lines;
      } finally {
        await handle.close();
      }
    } finally {
      if (written) {
        if (rotated) await this.saveIndex().catch(() => {}); // the old offset points into a renamed file
        if (taken.length === INITIAL_PENDING) this.spare = taken;
      } else {
        // A failed write keeps the spans not yet written queued, in order, for the next attempt.
        const left = data.subarray(done);
        let leftLines = 0;
        for (let i = left.indexOf(NL); i !== -1; i = left.indexOf(NL, i + 1)) leftLines++;
        this.stats.appended += lines - leftLines;
        const rest = this.pending.subarray(0, this.pendingBytes);
        const merged = Buffer.allocUnsafe(Math.max(INITIAL_PENDING, left.length + rest.length));
        left.copy(merged, 0);
        rest.copy(merged, left.length);
        this.pending = merged;
        this.pendingBytes = left.length + rest.length;
        this.pendingLines += leftLines;
      }
      this.stats.pending_bytes = this.pendingBytes;
    }
    // What arrived meanwhile waits for the next period (or goes now if much is queued): under load
    // this keeps writes at a few per second instead of one right after another.
    if (this.pendingBytes > 0) this.schedule(this.pendingBytes >= 1024 * 1024 ? 0 : (this.opts.flushMs ?? 200));
  }

  /** Before writing: the live file is too old, or already full (lines that do not fit are cut in write()). */
  private rotationDue(size: number): boolean {
    if (size === 0) return false;
    const { maxBytes = 0, maxAgeMs = 0 } = this.opts;
    return (maxBytes > 0 && size >= maxBytes) || (maxAgeMs > 0 && Date.now() - this.liveSince >= maxAgeMs);
  }

  /** Shifts the rotated files up by one (the oldest is replaced) and renames the live file to .1. */
  private async rotate(): Promise<void> {
    const keep = Math.max(1, this.opts.keep ?? 1);
    for (let i = keep - 1; i >= 1; i--) await renameIfExists(rotatedName(this.opts.file, i), rotatedName(this.opts.file, i + 1));
    await fsp.rename(this.opts.file, rotatedName(this.opts.file, 1));
    this.stats.rotations++;
    this.liveSince = Date.now();
    this.end = 0;
    this.counted = 0;
    this.indexedOffset = -1;
    this.trackFile = true;
    this.opts.logger.info({ file: this.opts.file, rotated_to: rotatedName(this.opts.file, 1), keep }, 'span file rotated');
  }

  /**
   * Parses [from, to) in chunks cut at top-level object starts ("\n{"), counts its spans, calls
   * `each` for them, and advances `counted` to the end of the last finished segment.
   */
  private async scan(handle: FileHandle, from: number, to: number, each: (span: JsonObject) => void): Promise<void> {
    let pos = from;
    while (pos < to) {
      let len = Math.min(this.opts.chunkBytes ?? CHUNK, to - pos);
      let buf: Buffer;
      let pieceLen: number;
      for (;;) {
        buf = Buffer.alloc(len);
        const { bytesRead } = await handle.read(buf, 0, len, pos);
        buf = buf.subarray(0, bytesRead);
        if (pos + buf.length >= to || bytesRead < len) {
          pieceLen = buf.length;
          break;
        }
        const cut = lastBoundary(buf);
        if (cut > 0) {
          pieceLen = cut;
          break;
        }
        len = Math.min(len * 2, to - pos); // one object bigger than the chunk: read more
      }
      const atEnd = pos + pieceLen >= to;
      const text = buf.subarray(0, pieceLen).toString('utf8');
      const { segments } = parseLegacySpans(text);
      let settled = pieceLen;
      const last = segments[segments.length - 1] as LegacySegment | undefined;
      const open = atEnd && last && last.kind === 'fragment' && last.objectShaped && last.unterminated ? last : null;
      for (const s of segments) {
        if (s === open) break;
        if (s.kind === 'span') {
          this.countRecord(s.value);
          each(s.value);
        }
      }
      if (open) settled = Buffer.byteLength(text.slice(0, open.offset));
      this.counted = pos + settled;
      if (open || pieceLen === 0) break;
      pos += pieceLen;
    }
  }

  private async readIndex(): Promise<IndexFile | null> {
    try {
      const idx = JSON.parse(await fsp.readFile(this.opts.indexFile, 'utf8')) as IndexFile;
      return idx.format === 1 && Number.isInteger(idx.offset) && Array.isArray(idx.pairs) ? idx : null;
    } catch {
      return null;
    }
  }

  private async indexMatches(handle: FileHandle, idx: IndexFile): Promise<boolean> {
    const [head, tail] = await windowHashes(handle, idx.offset);
    return head === idx.head && tail === idx.tail;
  }

  private async saveIndex(): Promise<void> {
    if (!this.trackFile) return;
    const offset = this.counted;
    let head: string;
    let tail: string;
    if (offset > 0) {
      const handle = await fsp.open(this.opts.file, 'r');
      try {
        [head, tail] = await windowHashes(handle, offset);
      } finally {
        await handle.close();
      }
    } else {
      [head, tail] = [sha(Buffer.alloc(0)), sha(Buffer.alloc(0))];
    }
    const pairs: IndexFile['pairs'] = [...this.pairs].map(([k, n]) => [...splitPairKey(k), n]);
    await writeFileAtomic(this.opts.indexFile, JSON.stringify({ format: 1, offset, head, tail, pairs } satisfies IndexFile));
    this.indexedOffset = offset;
  }
}

/** telemetry_spans.jsonl -> telemetry_spans.<n>.jsonl */
export function rotatedName(file: string, n: number): string {
  return /\.jsonl$/.test(file) ? file.replace(/\.jsonl$/, `.${n}.jsonl`) : `${file}.${n}`;
}

async function renameIfExists(from: string, to: string): Promise<void> {
  try {
    await fsp.rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

async function birthOf(file: string): Promise<number> {
  try {
    const st = await fsp.stat(file);
    return st.birthtimeMs > 0 ? st.birthtimeMs : Date.now();
  } catch {
    return Date.now();
  }
}

const pairKey = (op: string, st: string): string => op + '\u0000' + st;
/** canonicalJson, with the common case (a string) short-cut; undefined counts as null. */
const jsonKey = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : v === undefined ? 'null' : canonicalJson(v));
function splitPairKey(key: string): [string, string] {
  const i = key.indexOf('\u0000');
  return [key.slice(0, i), key.slice(i + 1)];
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function windowHashes(handle: FileHandle, offset: number): Promise<[string, string]> {
  const headLen = Math.min(HASH_WINDOW, offset);
  const head = Buffer.alloc(headLen);
  await handle.read(head, 0, headLen, 0);
  const tailStart = Math.max(0, offset - HASH_WINDOW);
  const tail = Buffer.alloc(offset - tailStart);
  await handle.read(tail, 0, tail.length, tailStart);
  return [sha(head), sha(tail)];
}

/** Index just after the last "\n" that is followed by "{" (a top-level object start), or -1. */
function lastBoundary(buf: Buffer): number {
  for (let i = buf.length - 2; i >= 0; i--) if (buf[i] === NL && buf[i + 1] === BRACE) return i + 1;
  return -1;
}

async function sizeOf(file: string): Promise<number> {
  try {
    return (await fsp.stat(file)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
}

/** The last `n` span records of the file, reading only its tail (up to 2 MB). */
export async function readTailSpans(file: string, size: number, n: number): Promise<JsonObject[]> {
  if (n <= 0) return [];
  const start = Math.max(0, size - 2 * 1024 * 1024);
  const handle = await fsp.open(file, 'r');
  try {
    const buf = Buffer.alloc(size - start);
    const { bytesRead } = await handle.read(buf, 0, buf.length, start);
    let b = buf.subarray(0, bytesRead);
    if (start > 0) {
      // Begin at the first top-level object start, not mid-object.
      let i = 0;
      while (i < b.length - 1 && !(b[i] === NL && b[i + 1] === BRACE)) i++;
      b = b.subarray(i + 1);
    }
    const values: JsonObject[] = [];
    for (const s of parseLegacySpans(b.toString('utf8')).segments) if (s.kind === 'span') values.push(s.value);
    return values.slice(-n);
  } finally {
    await handle.close();
  }
}
