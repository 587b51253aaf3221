// Rewriting a legacy file in the background: its records rendered a chunk at a time into an atomic
// replace that yields between chunks, so a large file never holds the event loop for long and
// requests are served meanwhile. The rename happens only if nobody replaced the file since we read it.
import { renderRecordBuffers } from '../../shared/legacy-json.js';
import { writeFileAtomic } from '../../io/fsutil.js';
import type { FileStat } from './file-stat.js';
import type { Slot } from './tables.js';
import { forWrite } from './view-base.js';

/**
 * A file is written this much at a time. Records are formatted as their chunk is filled (texts are
 * not kept in memory, except where a record's own differs from the standard formatting), so this
 * bounds how long a write holds the event loop.
 */
const VIEW_CHUNK_BYTES = 16 * 1024;
/** A rewrite yields twice as long as each chunk took: it runs in the background, at a third of the event loop at most. */
const VIEW_PACE = 2;

export interface PacedWrite {
  /** Runs once the content is on disk, before the rename (notes the write in the journal). */
  beforeRename: (sha256: string) => Promise<void>;
  /** Checked synchronously right before the rename: false abandons the write. */
  renameIf: () => boolean;
}

/** Writes the records; the sha256 and stat of what was put in place, or null if the write was abandoned. */
export async function writeRecordsPaced(file: string, slots: readonly Slot[], opts: PacedWrite): Promise<{ sha: string; stat: FileStat } | null> {
  let stat: FileStat = null;
  const sha = await writeFileAtomic(file, renderRecordBuffers(slots, forWrite, VIEW_CHUNK_BYTES), {
    ...opts,
    // What we put in place, not the path's stat later: an edit made right after our rename would
    // otherwise pass for our own write and never be read.
    renamed: (st) => (stat = st),
    pace: VIEW_PACE,
  });
  return sha === null ? null : { sha, stat };
}
