// The base of a legacy view (what we last wrote to, or read from, the file, per key) against the
// tables: which records differ from it, which a write must update it for, and the base of a file
// just read. Pure: the tables' maps are only read (a slot's text hash is noted when first computed).
import { formatRecord, type ArrayItem } from '../../shared/legacy-json.js';
import type { JsonObject } from '../../shared/types.js';
import { textHash, type BaseRecord } from './ingest.js';
import { loadEach, type LoadHooks } from './load-hooks.js';
import type { Slot } from './tables.js';
import type { ViewMeta } from './view-meta.js';

export type Base = Map<string, BaseRecord>;
/** Per key, its slot now, or null for a key the file will no longer have. */
export type Pending = Array<[string, Slot | null]>;

/** A record's text in the file: its own (kept when it differs from the standard formatting), or formatted now. */
export function textOf(slot: Slot): string {
  return slot.t ?? formatRecord(slot.data);
}

/** The hash of a record's text, noted in its slot when first computed. */
export function slotHash(slot: Slot): string {
  return (slot.h ??= textHash(textOf(slot)));
}

/** The slot as the base record of what was just written (its hash noted first). */
export function asBase(slot: Slot): BaseRecord {
  slotHash(slot);
  return slot as BaseRecord;
}

/**
 * A record as it goes into the file: its text when it has its own or its hash is still to be
 * noted (a record changed since the last write), else its data, formatted with its neighbours.
 */
export function forWrite(slot: Slot): string | JsonObject {
  if (slot.h !== undefined && slot.t === undefined) return slot.data;
  const text = textOf(slot);
  slot.h ??= textHash(text);
  return text;
}

/** The keys whose record differs from the base (changed, added or deleted since). */
export function changedKeys(map: ReadonlyMap<string, Slot>, base: Base): Set<string> {
  const changed = new Set<string>();
  for (const [key, slot] of map) if (base.get(key)?.h !== slotHash(slot)) changed.add(key);
  for (const key of base.keys()) if (!map.has(key)) changed.add(key);
  return changed;
}

/**
 * Which keys the base must be updated for once the tables as they are now are written. Only the
 * changed keys when they are known, else every key that differs from the base (all compared, here).
 */
export function pendingUpdates(map: ReadonlyMap<string, Slot>, base: Base | null, changed: Set<string> | null): Pending {
  const pending: Pending = [];
  if (changed !== null && base !== null) {
    for (const key of changed) pending.push([key, map.get(key) ?? null]);
    return pending;
  }
  for (const [key, slot] of map) {
    const hash = slotHash(slot);
    const old = base?.get(key);
    if (!old || old.h !== hash || old.data !== slot.data) pending.push([key, slot]);
  }
  if (base) for (const key of base.keys()) if (!map.has(key)) pending.push([key, null]);
  return pending;
}

/** Records the file holds that the state lacks with no change to explain it (a partial state): never written over. */
export function unexplainedDrops(pending: Pending, base: Base | null, deletedByChange: ReadonlySet<string>): string[] {
  if (!base) return [];
  return pending.filter(([key, slot]) => slot === null && base.has(key) && !deletedByChange.has(key)).map(([key]) => key);
}

/**
 * The file (keys and items) as the base. Records unchanged since revision `upTo` (the file's) have
 * exactly the file's text (their own, or the standard formatting, which is what we wrote): they get
 * its hash, so it is not computed again, and their slot is their base record (no copy).
 */
export function adoptedBase(map: ReadonlyMap<string, Slot>, keys: string[], items: ArrayItem[], upTo: number, hooks?: LoadHooks): Base {
  const base: Base = new Map();
  loadEach(hooks, 0, keys.length, (i) => {
    const text = items[i].text;
    const hash = textHash(text);
    const slot = map.get(keys[i]);
    const same = slot !== undefined && slot.rev <= upTo && (slot.t === undefined || slot.t === text);
    if (same) slot.h = hash;
    base.set(keys[i], same ? (slot as BaseRecord) : { h: hash, data: items[i].value });
  });
  return base;
}

/**
 * The meta's record hashes as the base, if every record in the tables is the one the meta describes
 * (none added, removed or changed since that write): their slots are the base records. Else null.
 */
export function metaBase(map: ReadonlyMap<string, Slot>, meta: ViewMeta, hooks?: LoadHooks): Base | null {
  if (map.size !== meta.records.length) return null;
  for (const [key] of meta.records) {
    const slot = map.get(key);
    if (slot === undefined || slot.rev > meta.revision) return null;
  }
  const base: Base = new Map();
  loadEach(hooks, 0, meta.records.length, (i) => {
    const [key, hash] = meta.records[i];
    const slot = map.get(key)!;
    slot.h = hash;
    base.set(key, slot as BaseRecord);
  });
  return base;
}

/** The base for a file just read: each record's hash, and its data (the record in the tables' when it is the same). */
export function fileBase(map: ReadonlyMap<string, Slot>, keys: string[], items: ArrayItem[]): Base {
  const base: Base = new Map();
  for (let i = 0; i < keys.length; i++) {
    const hash = textHash(items[i].text);
    const slot = map.get(keys[i]);
    base.set(keys[i], slot !== undefined && slot.h === hash ? (slot as BaseRecord) : { h: hash, data: items[i].value });
  }
  return base;
}

/** Log records have no ids: the file's records correspond to our keys by content. */
export function logBase(map: ReadonlyMap<string, Slot>, items: ArrayItem[]): Base {
  const byHash = new Map<string, string[]>();
  for (const [key, slot] of map) {
    const h = slotHash(slot);
    const list = byHash.get(h) ?? [];
    list.push(key);
    byHash.set(h, list);
  }
  const base: Base = new Map();
  for (const item of items) {
    const h = textHash(item.text);
    const key = byHash.get(h)?.shift();
    if (key) base.set(key, { h, data: map.get(key)!.data }); // same content: share it
  }
  return base;
}
