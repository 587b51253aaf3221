// What the daemon replaced in a legacy file recently, for telling a stale copy from an edit: a
// script that read the file, changed one record and wrote the whole array back (without the lock)
// carries the other records as they were when it read them. A record whose text is a version we
// replaced less than a window ago, or a record missing that we added less than a window ago, is
// that copy's age showing, not the script's intent.
//
// Kept as three parallel arrays, oldest first (key, fingerprint of the replaced text's hash, time):
// under sustained load every change adds an event, hundreds of thousands in a 30-second window,
// and a per-key object with its own array of hashes (as this was) made two objects per change for
// the full collections to mark and kept every replaced hash string alive. Here an event is a key
// reference and two numbers in arrays the collector does not look into. Lookups (only when an
// external edit is read, which is rare) index the window once per batch of checks.
//
// The replaced versions' records are kept too (a reference: the record objects are immutable), so a
// stale copy whose writer changed the record can be merged three-way against the version it started
// from; for the newest MAX_KEPT_RECORDS events only, which bounds what the window keeps alive.
// Pure: the caller passes the time.
import type { JsonObject } from '../../shared/types.js';

/** The fingerprint of an "added" event (real fingerprints are >= 0). */
const ADDED = -1;
/** Replaced records kept as merge bases: the newest this many events (older ones keep their fingerprint only). */
export const MAX_KEPT_RECORDS = 4096;

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const B64_VALUE = new Map([...B64URL].map((c, i) => [c, i]));

/**
 * The first 48 bits of a base64url hash (textHash), as a number: exact in a double, so no string is
 * kept. Two different texts share one with probability 2^-48 (3.6e-15) per comparison.
 */
export function hashFingerprint(hash: string): number {
  let n = 0;
  for (let i = 0; i < 8; i++) n = n * 64 + (B64_VALUE.get(hash[i]) ?? 0);
  return n;
}

export class WriteHistory {
  private keys: string[] = [];
  private prints: number[] = [];
  private times: number[] = [];
  /** The replaced record per event, where kept (undefined: added, or too old to keep). */
  private records: Array<JsonObject | undefined> = [];
  /** Events before this index have no record kept. */
  private keptFrom = 0;
  /** Index of the oldest event still in the window. */
  private head = 0;
  /** Event positions per key, built when first needed after a change. */
  private byKey: Map<string, number[]> | null = null;

  constructor(readonly windowMs: number) {}

  /** We replaced the version of `key` whose text hash is `hash`. */
  replaced(key: string, hash: string, now: number, record?: JsonObject): void {
    this.push(key, hashFingerprint(hash), now, record);
  }

  /** The records of `key` we replaced within the window, where kept, newest first. */
  versions(key: string, now: number): JsonObject[] {
    const positions = this.index().get(key);
    const out: JsonObject[] = [];
    if (!positions) return out;
    for (let j = positions.length - 1; j >= 0; j--) {
      const i = positions[j];
      const rec = this.records[i];
      if (i >= this.head && now - this.times[i] <= this.windowMs && rec !== undefined) out.push(rec);
    }
    return out;
  }

  /** We added `key`. */
  added(key: string, now: number): void {
    this.push(key, ADDED, now);
  }

  /** True when `hash` is a version of `key` that we replaced within the window. */
  isStale(key: string, hash: string, now: number): boolean {
    const print = hashFingerprint(hash);
    return this.any(key, now, (i) => this.prints[i] === print);
  }

  /** True when we added `key` within the window. */
  recentlyAdded(key: string, now: number): boolean {
    return this.any(key, now, (i) => this.prints[i] === ADDED);
  }

  /** Events in the window. */
  get size(): number {
    return this.keys.length - this.head;
  }

  /** Forgets events older than the window. */
  expire(now: number): void {
    const from = this.head;
    while (this.head < this.keys.length && now - this.times[this.head] > this.windowMs) this.head++;
    if (this.head === from) return;
    this.byKey = null;
    // Drop the expired prefix once it is most of the arrays (amortized: each event is moved at most once per halving).
    if (this.head === this.keys.length) {
      this.keys = [];
      this.prints = [];
      this.times = [];
      this.records = [];
      this.head = 0;
      this.keptFrom = 0;
    } else if (this.head > 4096 && this.head * 2 > this.keys.length) {
      this.keys = this.keys.slice(this.head);
      this.prints = this.prints.slice(this.head);
      this.times = this.times.slice(this.head);
      this.records = this.records.slice(this.head);
      this.keptFrom = Math.max(0, this.keptFrom - this.head);
      this.head = 0;
    }
  }

  private push(key: string, print: number, now: number, record?: JsonObject): void {
    this.keys.push(key);
    this.prints.push(print);
    this.times.push(now);
    this.records.push(record);
    while (this.records.length - this.keptFrom > MAX_KEPT_RECORDS) this.records[this.keptFrom++] = undefined;
    this.byKey = null;
  }

  private any(key: string, now: number, match: (i: number) => boolean): boolean {
    const positions = this.index().get(key);
    if (!positions) return false;
    for (const i of positions) if (i >= this.head && now - this.times[i] <= this.windowMs && match(i)) return true;
    return false;
  }

  private index(): Map<string, number[]> {
    if (this.byKey) return this.byKey;
    const byKey = new Map<string, number[]>();
    for (let i = this.head; i < this.keys.length; i++) {
      const list = byKey.get(this.keys[i]);
      if (list) list.push(i);
      else byKey.set(this.keys[i], [i]);
    }
    return (this.byKey = byKey);
  }
}
