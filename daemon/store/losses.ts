// Information loss: records or fields the daemon held that an external edit of a legacy file took
// away in a way nobody can be said to have meant (pure). What is NOT a loss, by design:
// - a record or field changed or removed through the API (a journaled, acknowledged change);
// - a record deleted from a copy of the file as the daemon last wrote it (a deliberate deletion: it
//   is journaled like any change and recoverable from the journal);
// - anything a stale copy dropped that the daemon keeps and writes back (not applied, so not lost).
// What IS a loss:
// - a field present in the daemon's record that is absent once an external edit is applied (the
//   legacy format cannot say "remove this field": a script that rebuilt the object without it);
// - a record deleted by an external edit made on a stale copy (one holding an older version of one
//   of our records): the writer never saw the current state, so the deletion is not an informed one.
// See docs/entropy.md.
import type { ArrayItem } from '../../shared/legacy-json.js';
import type { JsonObject, Section } from '../../shared/types.js';
import { keyItems, textHash, type ProposedChange } from './ingest.js';

export const LOSS_CAUSES = ['external_edit'] as const;
export type LossCause = (typeof LOSS_CAUSES)[number];

/** A 'loss' store event: one record (fields absent) or some fields of one record. */
export interface InformationLoss {
  section: Section;
  key: string;
  cause: LossCause;
  /** The fields lost; absent when the whole record was lost. */
  fields?: string[];
  revision?: number | null;
}

export interface LossInput {
  section: Section;
  /** The changes an external edit is about to apply. */
  changes: readonly ProposedChange[];
  /** The file's records as read. */
  items: readonly ArrayItem[];
  /** The daemon's record for a key before the changes. */
  current: (key: string) => JsonObject | undefined;
  /** True when this text is an older version of `key` that the daemon wrote (a stale copy). */
  isStale?: (key: string, hash: string) => boolean;
}

export function detectLosses({ section, changes, items, current, isStale }: LossInput): InformationLoss[] {
  const out: InformationLoss[] = [];
  let stale: boolean | null = null;
  const copyIsStale = (): boolean => {
    if (stale === null) {
      const keys = keyItems(section, items as ArrayItem[]);
      stale = !!isStale && items.some((item, i) => isStale(keys[i], textHash(item.text)));
    }
    return stale;
  };
  for (const c of changes) {
    const before = current(c.key);
    if (!before) continue;
    if (c.op === 'del') {
      if (copyIsStale()) out.push({ section, key: c.key, cause: 'external_edit' });
      continue;
    }
    const after = c.data ?? {};
    const fields = Object.keys(before).filter((f) => !Object.hasOwn(after, f));
    if (fields.length) out.push({ section, key: c.key, cause: 'external_edit', fields });
  }
  return out;
}
