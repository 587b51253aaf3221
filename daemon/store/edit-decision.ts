// What an external edit of a legacy file changes, judged against the records as they are before it
// is applied: the diff and three-way merge of ingest.ts, with the stale-copy checks of what we wrote
// recently, and the information it would take away (losses.ts). Pure: the tables are only read.
import type { ArrayItem } from '../../shared/legacy-json.js';
import type { ChangeCause, Section } from '../../shared/types.js';
import { ingestFile, type BaseRecord, type IngestResult } from './ingest.js';
import { detectLosses, type InformationLoss } from './losses.js';
import type { RecentWrites } from './recent-writes.js';
import type { Slot } from './tables.js';
import { textOf } from './view-base.js';

export interface EditInput {
  section: Section;
  items: ArrayItem[];
  /** The file's sha256. */
  sha: string;
  base: Map<string, BaseRecord> | null;
  map: ReadonlyMap<string, Slot>;
  recent: RecentWrites;
  nextLogSeq: number;
  at: string;
}

export interface EditDecision extends IngestResult {
  cause: ChangeCause;
  losses: InformationLoss[];
}

export function decideEdit({ section, items, sha, base, map, recent, nextLogSeq, at }: EditInput): EditDecision {
  const result = ingestFile({
    section,
    items,
    base,
    current: (key) => {
      const slot = map.get(key);
      return slot ? { entry: slot, text: textOf(slot) } : undefined;
    },
    nextLogSeq,
    at,
    isStale: recent.isStale,
    recentlyAdded: recent.recentlyAdded,
    versionsOf: recent.versionsOf,
    isOldWrite: recent.isOldWrite(sha),
  });
  const cause: ChangeCause = { op: 'external_edit', source: 'file', ...(result.conflicts.length ? { conflict: true } : {}) };
  // Judged before the commit, against the records as they were (see losses.ts).
  const losses = detectLosses({ section, changes: result.changes, items, current: (key) => map.get(key)?.data, isStale: recent.isStale });
  return { ...result, cause, losses };
}
