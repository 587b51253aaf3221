// Turning the content of a legacy file into record changes (pure). Used for the first import of a
// legacy directory and for external edits: the file is diffed against `base` (what we last wrote
// there), so only what the external writer changed becomes a change, and that change is merged
// with anything the daemon changed since (three-way, information-preserving).
import crypto, { createHash } from 'node:crypto';
import { mergeRecords, type FieldConflict } from '../../shared/merge.js';
import { canonicalJson } from '../../shared/canonical.js';
import { formatRecord, type ArrayItem } from '../../shared/legacy-json.js';
import type { Entry, JsonObject, Section } from '../../shared/types.js';

/**
 * What we last wrote (or read) for a key: the hash of its text, and the record itself when known.
 * The daemon's own record slot serves as one where the file holds the record as the tables do
 * (named `h` to match it): no object of its own per record.
 */
export interface BaseRecord {
  readonly h: string;
  /** The record as written: the base of a three-way merge (absent when only the hash is known). */
  readonly data?: JsonObject;
}

// One-shot hashing (Node >= 20.12) where available: faster, and no Hash object per call, whose
// native state, freed later by the GC, leaves the malloc heap fragmented (megabytes at 50k records).
const oneShot = typeof (crypto as { hash?: unknown }).hash === 'function';

export function textHash(text: string): string {
  return oneShot ? crypto.hash('sha1', text, 'base64url') : createHash('sha1').update(text).digest('base64url');
}

const ID_FIELD: Record<Section, string | null> = { work: 'work_item_id', agents: 'agent_id', log: null };

/** Stable keys for the records of a keyed file: the id field, with duplicates and missing ids made unique. */
export function keyItems(section: Section, items: ArrayItem[], firstLogSeq = 1): string[] {
  const field = ID_FIELD[section];
  if (!field) return items.map((_, i) => String(firstLogSeq + i));
  const seen = new Map<string, number>();
  return items.map((item, i) => {
    const raw = item.value[field];
    const id = typeof raw === 'string' && raw !== '' ? raw : `#${i}`;
    const n = (seen.get(id) ?? 0) + 1;
    seen.set(id, n);
    return n === 1 ? id : `${id}#${n}`;
  });
}

export interface ProposedChange {
  section: Section;
  key: string;
  op: 'put' | 'del';
  data?: JsonObject;
  /** The record's exact text in the file, kept so unchanged bytes are written back unchanged. */
  text?: string;
}

export interface IngestResult {
  changes: ProposedChange[];
  conflicts: Array<FieldConflict & { key: string }>;
}

export interface IngestInput {
  section: Section;
  items: ArrayItem[];
  /** What we last wrote to the file, per key (null: we never wrote it, e.g. the first import). */
  base: Map<string, BaseRecord> | null;
  current: (key: string) => { entry: Entry; text: string } | undefined;
  /** The next free log key (log records have no id of their own). */
  nextLogSeq: number;
  at: string;
  /** True when `hash` is an earlier version of `key` that we wrote: a stale copy, not an edit. */
  isStale?: (key: string, hash: string) => boolean;
  /** True when we added `key` recently: its absence may be a stale copy, not a deletion. */
  recentlyAdded?: (key: string) => boolean;
  /** The versions of `key` we replaced recently (newest first): what a stale copy's writer may have started from. */
  versionsOf?: (key: string) => JsonObject[];
  /**
   * True when the file's bytes are one of our own earlier writes: a copy put back as it was read, so
   * a record it lacks is one it never saw, even if every record it has is as we last wrote it.
   */
  isOldWrite?: boolean;
}

/** How many top-level fields differ between two records (a field on one side only counts). */
function fieldsApart(a: JsonObject, b: JsonObject): number {
  let n = 0;
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (!(k in a) || !(k in b) || canonicalJson(a[k]) !== canonicalJson(b[k])) n++;
  }
  return n;
}

/**
 * The version of ours a writer most likely started from: of what we last wrote (`written`) and the
 * versions we replaced recently (newest first), the one its record differs from in fewest fields;
 * the newest on a tie. Null when we know no version's content.
 */
export function startedFrom(written: JsonObject | null, older: JsonObject[], theirs: JsonObject): JsonObject | null {
  let best: JsonObject | null = null;
  let bestApart = Infinity;
  for (const v of written ? [written, ...older] : older) {
    const apart = fieldsApart(v, theirs);
    if (apart < bestApart) {
      best = v;
      bestApart = apart;
    }
  }
  return best;
}

function baseData(b: BaseRecord | undefined): JsonObject | null {
  return b?.data ?? null;
}

export function ingestFile(input: IngestInput): IngestResult {
  return input.section === 'log' ? ingestLog(input) : ingestKeyed(input);
}

function ingestKeyed({ section, items, base, current, at, isStale, recentlyAdded, versionsOf, isOldWrite }: IngestInput): IngestResult {
  const changes: ProposedChange[] = [];
  const conflicts: IngestResult['conflicts'] = [];
  const keys = keyItems(section, items);
  const inFile = new Set<string>();
  // Whether every record of the file is as we last wrote it (then a record it lacks was deleted on purpose).
  let asWritten = base !== null && !isOldWrite;
  items.forEach((item, i) => {
    const key = keys[i];
    inFile.add(key);
    const b = base?.get(key);
    const hash = textHash(item.text);
    if (b && hash === b.h) return; // the external writer left it as we wrote it
    if (asWritten && !(b?.data && formatRecord(b.data) === formatRecord(item.value))) asWritten = false;
    if (isStale?.(key, hash)) return; // an older version of ours: the writer worked from an old copy
    const cur = current(key);
    if (!cur) return void changes.push({ section, key, op: 'put', data: item.value, text: item.text });
    if (cur.text === item.text) return; // already identical
    // The writer changed a version of ours that may be older than the one we last wrote (its copy
    // predates our later writes): merged against that version, so what we changed since stays.
    const older = versionsOf?.(key) ?? [];
    const from = older.length > 0 ? startedFrom(baseData(b), older, item.value) : null;
    const ourUnchanged = b ? textHash(cur.text) === b.h : false;
    if (ourUnchanged && (from === null || from === baseData(b))) return void changes.push({ section, key, op: 'put', data: item.value, text: item.text });
    // Both sides changed it since the version the writer started from: merge, keep every field.
    const { merged, conflicts: c } = mergeRecords(from ?? baseData(b), cur.entry.data, item.value, 'file', at);
    for (const x of c) conflicts.push({ ...x, key });
    if (formatRecord(merged) !== cur.text) changes.push({ section, key, op: 'put', data: merged });
  });
  if (base) {
    for (const [key, b] of base) {
      if (inFile.has(key)) continue;
      const cur = current(key);
      if (!cur) continue;
      // A record we added recently, missing from a copy that predates it, was never seen: not a
      // deletion. A copy whose every record is as we last wrote it is not that old: honoured.
      if (recentlyAdded?.(key) && !asWritten) continue;
      if (textHash(cur.text) === b.h) changes.push({ section, key, op: 'del' });
      else conflicts.push({ key, field: '*', kept: cur.entry.data, other: null, source: 'file-delete' }); // changed by us since: keep it
    }
  }
  return { changes, conflicts };
}

/** The coordination log is an append-only multiset (ids repeat): diff by content, not position. */
function ingestLog({ section, items, base, nextLogSeq, recentlyAdded }: IngestInput): IngestResult {
  const changes: ProposedChange[] = [];
  const baseByHash = new Map<string, string[]>();
  for (const [key, b] of base ?? []) {
    const list = baseByHash.get(b.h) ?? [];
    list.push(key);
    baseByHash.set(b.h, list);
  }
  let seq = nextLogSeq;
  for (const item of items) {
    const keys = baseByHash.get(textHash(item.text));
    if (keys && keys.length > 0) {
      keys.shift();
      continue;
    }
    changes.push({ section, key: String(seq++), op: 'put', data: item.value, text: item.text });
  }
  for (const keys of baseByHash.values()) for (const key of keys) if (!recentlyAdded?.(key)) changes.push({ section, key, op: 'del' });
  return { changes, conflicts: [] };
}
