// What a snapshot must hold to be trusted. The snapshot is the only copy of the state before the
// journal's first record (the imported legacy files, and everything before a checkpoint), so a
// short or missing one is refused rather than taken as the state: starting from it would rewrite
// the legacy files with the records it lacks deleted.
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Line } from './lines.js';

/**
 * Snapshot format 3: a header line, one row per record, [section, key, entry, term] or [section,
 * key, entry, term, text] where text is the record's own file text (kept where it differs from the
 * standard formatting), then (header `trailer: true`) a trailer line written last:
 * {"end":true,"records":N,"sha256":...} over the row lines. The term is the record's checksum term
 * (64 hex digits), stored so that a start does not hash every record again. Format 2 rows
 * ([section, key, entry, text?]) and snapshots without a trailer are still read (not verifiable).
 */
export interface SnapshotHeader {
  format: 2 | 3;
  revision: number;
  /** sha256 of each legacy file as we last wrote it (markers older than the snapshot are gone). */
  views?: Record<string, string | { sha: string; rev: number }>;
  /** The snapshot ends with a trailer line. */
  trailer?: boolean;
}

interface TrailerLine {
  end: true;
  records: number;
  sha256: string;
}

/** Counts and hashes the row lines as they are written; line() is the trailer. */
export class SnapshotTrailer {
  private hash = createHash('sha256');
  private records = 0;

  add(line: string): void {
    this.hash.update(line);
    this.records++;
  }

  line(): string {
    return JSON.stringify({ end: true, records: this.records, sha256: this.hash.digest('hex') } satisfies TrailerLine) + '\n';
  }
}

export class SnapshotDamagedError extends Error {}

function refuse(file: string, what: string): never {
  const dir = path.dirname(file);
  throw new SnapshotDamagedError(
    `${file} ${what}. It is the only copy of the state before the journal's first record, so starting would lose records and rewrite the legacy files without them: refusing to start. ` +
      `Restore ${path.basename(file)} from a backup. To start over from the legacy files instead (changes not yet written to them are lost), move ${dir} away. ` +
      `Do not delete ${path.basename(file)} alone.`,
  );
}

/**
 * Checks a snapshot before it is loaded; throws (naming the file and the way out) when it cannot
 * be trusted. `lines` null: there is none. `hasHistory`: the daemon ran here before (journal
 * records, or a rotated journal), so a snapshot must exist. Returns the number of row lines (the
 * trailer excluded), or null when there is no snapshot and none is needed (a first start).
 */
export function checkSnapshot(file: string, lines: Line[] | null, hasHistory: boolean, logger: { warn(o: object, m?: string): void }): { rows: number } | null {
  if (lines === null) {
    if (hasHistory) refuse(file, 'is missing while the journal shows earlier starts');
    return null;
  }
  let head: SnapshotHeader;
  try {
    if (!lines[0]?.terminated) throw new Error('no header');
    head = JSON.parse(lines[0].text) as SnapshotHeader;
    if (typeof head.revision !== 'number') throw new Error('no revision');
  } catch {
    refuse(file, lines.length === 0 ? 'is empty' : 'has no readable header');
  }
  if (!head.trailer) {
    logger.warn({ file }, 'snapshot in the older format without a trailer: its completeness cannot be verified');
    return { rows: lines.length - 1 };
  }
  const last = lines[lines.length - 1];
  let trailer: TrailerLine | null = null;
  try {
    const parsed = lines.length > 1 && last.terminated ? (JSON.parse(last.text) as TrailerLine) : null;
    if (parsed && parsed.end === true) trailer = parsed;
  } catch {
    trailer = null;
  }
  if (!trailer) refuse(file, `is cut short (no trailer after ${lines.length - 1} lines)`);
  const rows = lines.length - 2;
  const hash = createHash('sha256');
  for (let i = 1; i <= rows; i++) hash.update(lines[i].text + '\n');
  if (rows !== trailer.records || hash.digest('hex') !== trailer.sha256) refuse(file, `does not match its trailer (${rows} rows, ${trailer.records} written)`);
  return { rows };
}
