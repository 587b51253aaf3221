// What `validate` judges: records, not entropy. A baseline keeps a fingerprint and the field names of
// every record; validate holds them against the state now and the journal since the baseline's
// revision. A baseline record must still be there; a field it had must still be there unless a
// journaled change removed it. Entropy moves with normal work (a claim, a completion), so the ratio
// is reported beside the verdict, never part of it. Pure: no I/O; the client command loads it.
import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical.js';
import type { DeltaMessage } from './protocol.js';
import type { CoordinationState, JsonObject, Section } from './types.js';

export const RECORD_SECTIONS: readonly Section[] = ['work', 'agents', 'log'];

/** Per record: [fingerprint of its data, index of its field names in field_sets]. */
export interface RecordFingerprints {
  field_sets: string[][];
  records: Record<Section, Record<string, [string, number]>>;
}

/** Fingerprint of a record's data: a short hash of its canonical JSON (order of keys does not matter). */
export function recordFingerprint(data: JsonObject): string {
  return createHash('sha1').update(canonicalJson(data)).digest('base64url').slice(0, 16);
}

export function fingerprintState(state: CoordinationState): RecordFingerprints {
  const field_sets: string[][] = [];
  const setIndex = new Map<string, number>();
  const records = { work: {}, agents: {}, log: {} } as RecordFingerprints['records'];
  for (const s of RECORD_SECTIONS) {
    for (const [key, entry] of Object.entries(state[s] ?? {})) {
      const fields = Object.keys(entry.data).sort();
      const id = fields.join('\u0000');
      let i = setIndex.get(id);
      if (i === undefined) {
        i = field_sets.push(fields) - 1;
        setIndex.set(id, i);
      }
      records[s][key] = [recordFingerprint(entry.data), i];
    }
  }
  return { field_sets, records };
}

export interface RecordRef {
  section: Section;
  key: string;
}
export interface JournaledChange extends RecordRef {
  revision: number;
  cause: string | null;
  fields?: string[];
}
export interface VanishedFields extends RecordRef {
  fields: string[];
}

export interface RecordJudgement {
  checked: number;
  intact: number;
  /** Present with other data than at the baseline (fields intact or removed through the journal). */
  changed: number;
  /** Baseline records deleted by a journaled change (named with its revision: recoverable). */
  deleted: JournaledChange[];
  /** Baseline records gone without any journaled deletion. */
  vanished: RecordRef[];
  /** Fields removed by a journaled change (the record's last journaled version lacks them). */
  fields_removed: JournaledChange[];
  /** Fields gone that the journal does not account for. */
  fields_vanished: VanishedFields[];
  /** Whether the journal since the baseline was available and continuous with it. */
  journal: 'used' | 'unavailable';
}

/**
 * `deltas`: every journaled revision after the baseline's, in order (null when the daemon could not
 * replay them or they do not continue the baseline's history: then nothing counts as journaled).
 */
export function judgeRecords(base: RecordFingerprints, now: CoordinationState, deltas: DeltaMessage[] | null): RecordJudgement {
  // The last journaled change per record since the baseline.
  const last = new Map<string, { revision: number; cause: string | null; op: 'put' | 'del'; data?: JsonObject }>();
  for (const d of deltas ?? []) {
    for (const c of d.changes) last.set(c.section + '\u0000' + c.key, { revision: d.revision, cause: d.cause?.op ?? null, op: c.op, data: c.entry?.data });
  }
  const out: RecordJudgement = {
    checked: 0,
    intact: 0,
    changed: 0,
    deleted: [],
    vanished: [],
    fields_removed: [],
    fields_vanished: [],
    journal: deltas ? 'used' : 'unavailable',
  };
  for (const section of RECORD_SECTIONS) {
    for (const [key, [hash, set]] of Object.entries(base.records[section] ?? {})) {
      out.checked++;
      const cur = now[section]?.[key]?.data;
      const j = last.get(section + '\u0000' + key);
      if (!cur) {
        if (j?.op === 'del') out.deleted.push({ section, key, revision: j.revision, cause: j.cause });
        else out.vanished.push({ section, key });
        continue;
      }
      if (recordFingerprint(cur) === hash) {
        out.intact++;
        continue;
      }
      out.changed++;
      const gone = (base.field_sets[set] ?? []).filter((f) => !Object.hasOwn(cur, f));
      if (gone.length === 0) continue;
      const journaled = j?.op === 'put' && j.data ? gone.filter((f) => !Object.hasOwn(j.data!, f)) : [];
      if (journaled.length) out.fields_removed.push({ section, key, revision: j!.revision, cause: j!.cause, fields: journaled });
      const unexplained = gone.filter((f) => !journaled.includes(f));
      if (unexplained.length) out.fields_vanished.push({ section, key, fields: unexplained });
    }
  }
  return out;
}
