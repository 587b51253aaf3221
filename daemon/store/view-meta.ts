// A legacy view's meta file: the sha256 and revision of what we last wrote to the legacy file, and
// each record's text hash. It only matters for a file edited while the daemon was down (our own last
// write is recognised from the journal's markers): a restart that finds the file as noted takes the
// hashes as the base instead of parsing the file, and one that finds it changed diffs it against them.
import { readFileIfExists, writeFileAtomic } from '../../io/fsutil.js';
import type { BaseRecord } from './ingest.js';

/** Shortest pause between two writes of a view's meta file. */
const META_EVERY_MS = 5_000;

export interface ViewMeta {
  sha256: string;
  revision: number;
  records: Array<[string, string]>;
}

/** What the meta notes: the file's sha256, the revision written, and the base records. */
export interface MetaSnapshot {
  sha: string;
  revision: number;
  base: ReadonlyMap<string, BaseRecord>;
}

/** A meta file's text: a JSON head line, then one `"key"<TAB>hash` line per record. Null if it is not one. */
export function parseMeta(text: string): ViewMeta | null {
  try {
    const nl = text.indexOf('\n');
    const head = JSON.parse(text.slice(0, nl)) as { sha256: string; revision: number };
    const records: Array<[string, string]> = [];
    for (const line of text.slice(nl + 1).split('\n')) {
      if (!line) continue;
      const tab = line.lastIndexOf('\t');
      records.push([JSON.parse(line.slice(0, tab)) as string, line.slice(tab + 1)]);
    }
    return { ...head, records };
  } catch {
    return null; // treated as "never written by us": the file is diffed against the state
  }
}

/** The meta's text, in pieces of a few tens of kB. */
export function* metaLines({ sha, revision, base }: MetaSnapshot): Generator<string> {
  yield JSON.stringify({ sha256: sha, revision }) + '\n';
  let buf = '';
  for (const [k, b] of base) {
    buf += JSON.stringify(k) + '\t' + b.h + '\n';
    if (buf.length > 32 * 1024) {
      yield buf;
      buf = '';
    }
  }
  yield buf;
}

export class MetaFile {
  private writtenAt = 0;

  constructor(readonly file: string) {}

  async read(): Promise<ViewMeta | null> {
    const text = await readFileIfExists(this.file);
    return text ? parseMeta(text) : null;
  }

  /** Writes the meta now (nothing when there is nothing to note). */
  async write(snapshot: MetaSnapshot | null): Promise<void> {
    if (!snapshot) return;
    await writeFileAtomic(this.file, metaLines(snapshot), { durable: false });
  }

  /** Writes the meta at most every few seconds, or now when `force` (on close). */
  async maybeWrite(snapshot: MetaSnapshot | null, force = false): Promise<void> {
    if (!force && Date.now() - this.writtenAt < META_EVERY_MS) return;
    this.writtenAt = Date.now();
    await this.write(snapshot);
  }
}
