// What we wrote to one legacy file within the stale-copy window: the versions of records we replaced
// and the records we added (write-history.ts), and the sha256 of the whole files we put in place. A
// lock-less script that rewrote the file from a copy it read earlier is recognised by them, so it
// neither reverts nor deletes what it never saw.
import type { JsonObject } from '../../shared/types.js';
import type { BaseRecord } from './ingest.js';
import { WriteHistory } from './write-history.js';

/** How long a version we wrote counts as "recent": a script's read-modify-write takes less. */
export const STALE_WINDOW_MS = 30_000;

export class RecentWrites {
  /** Versions we replaced and keys we added, within the window (the stale-copy checks). */
  private history = new WriteHistory(STALE_WINDOW_MS);
  /** The sha256 of what we wrote to the file within the window, oldest first: a copy put back unchanged is recognised. */
  private files: Array<{ sha: string; at: number }> = [];

  /** We put content with this sha256 in place. */
  noteFile(sha: string, now: number): void {
    this.files.push({ sha, at: now });
    while (this.files.length > 0 && now - this.files[0].at > STALE_WINDOW_MS) this.files.shift();
  }

  /** True when these bytes are one of our own writes within the window. */
  isOldWrite(sha: string): boolean {
    return this.files.some((w) => w.sha === sha);
  }

  isStale = (key: string, hash: string): boolean => this.history.isStale(key, hash, Date.now());

  recentlyAdded = (key: string): boolean => this.history.recentlyAdded(key, Date.now());

  versionsOf = (key: string): JsonObject[] => this.history.versions(key, Date.now());

  /** After a write: `base` becomes what was written; the versions replaced are remembered. */
  applyBase(base: Map<string, BaseRecord>, updates: Array<[string, BaseRecord | null]>, now: number): void {
    for (const [key, rec] of updates) {
      const old = base.get(key);
      if (rec === null) {
        base.delete(key);
        continue;
      }
      if (!old) this.history.added(key, now);
      else if (old.h !== rec.h) this.history.replaced(key, old.h, now, old.data);
      base.set(key, rec);
    }
    this.history.expire(now);
  }
}
