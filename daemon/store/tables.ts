// The in-memory state: one ordered Map per section (file order = insertion order, as jq keeps it),
// each slot caching its checksum term and (where it has its own) its text in the legacy file.
import { StateDigest, readTermHex, writeTerm, type DigestTerm } from '../../shared/checksum.js';
import type { CoordinationState, Entry, JsonObject, Section } from '../../shared/types.js';
import { SECTIONS, entryOf, setRecord } from '../../shared/types.js';

/**
 * A record as held: its entry's fields, its checksum term and its file bookkeeping in one object.
 * It is itself the Entry that get() returns (read-only by convention: a change makes a new slot),
 * and the legacy view's base record once written. One object per record instead of four (slot,
 * entry, BigInt term, base record): every full collection marks each of them, at 50k records.
 */
export class Slot implements Entry, DigestTerm {
  /** Hash of the record's text in the legacy file (textHash), noted when first needed. */
  h: string | undefined = undefined;
  // This record's term in the state checksum (computing it again would cost more than the 64 bytes).
  d0 = 0;
  d1 = 0;
  d2 = 0;
  d3 = 0;
  d4 = 0;
  d5 = 0;
  d6 = 0;
  d7 = 0;

  constructor(
    readonly v: number,
    readonly rev: number,
    readonly data: JsonObject,
    /**
     * The record's own text in the legacy file, kept only where it differs from the standard
     * formatting (formatRecord: jq's `100.0` stays `100.0`); otherwise formatted when written.
     */
    readonly t: string | undefined,
  ) {}

  /** Serialized, a slot is its entry (never its bookkeeping). */
  toJSON(): Entry {
    return entryOf(this);
  }
}

export type ApplyListener = (section: Section, key: string, before: Entry | undefined, after: Entry | undefined) => void;

export class Tables {
  readonly maps: Record<Section, Map<string, Slot>> = { work: new Map(), agents: new Map(), log: new Map() };
  readonly digest = new StateDigest();
  private listeners: ApplyListener[] = [];

  onApply(fn: ApplyListener): void {
    this.listeners.push(fn);
  }

  get(section: Section, key: string): Entry | undefined {
    return this.maps[section].get(key);
  }

  slot(section: Section, key: string): Slot | undefined {
    return this.maps[section].get(key);
  }

  /** `term`: the record's checksum term as stored with it (64 hex digits), when it is known. */
  set(section: Section, key: string, entry: Entry | undefined, text?: string, term?: string): void {
    const map = this.maps[section];
    const old = map.get(key);
    if (old) this.digest.remove(old);
    let slot: Slot | undefined;
    if (entry) {
      slot = new Slot(entry.v, entry.rev, entry.data, text);
      if (term === undefined || !readTermHex(slot, term)) writeTerm(slot, section, key, entry);
      this.digest.add(slot);
      map.set(key, slot);
    } else {
      map.delete(key);
    }
    for (const fn of this.listeners) fn(section, key, old, slot);
  }

  count(section: Section): number {
    return this.maps[section].size;
  }

  toState(): CoordinationState {
    const state = { work: {}, agents: {}, log: {} };
    for (const section of SECTIONS) {
      const out = state[section];
      for (const [key, slot] of this.maps[section]) setRecord(out, key, entryOf(slot));
    }
    return state;
  }
}
