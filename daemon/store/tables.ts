// The in-memory state: one ordered Map per section (file order = insertion order, as jq keeps it),
// each slot caching its checksum term and (where it has its own) its text in the legacy file.
import { StateDigest, entryDigest } from '../../shared/checksum.js';
import type { CoordinationState, Entry, Section } from '../../shared/types.js';
import { SECTIONS } from '../../shared/types.js';

export class Slot {
  /** Hash of the record's text in the legacy file, cached for the view's base bookkeeping. */
  h: string | undefined = undefined;

  constructor(
    public e: Entry,
    /** This record's term in the state checksum (kept: computing it again costs more than its 48 bytes). */
    public d: bigint,
    /**
     * The record's own text in the legacy file, kept only where it differs from the standard
     * formatting (formatRecord: jq's `100.0` stays `100.0`); otherwise formatted when written.
     */
    public t: string | undefined,
  ) {}
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
    return this.maps[section].get(key)?.e;
  }

  slot(section: Section, key: string): Slot | undefined {
    return this.maps[section].get(key);
  }

  set(section: Section, key: string, entry: Entry | undefined, text?: string): void {
    const map = this.maps[section];
    const old = map.get(key);
    if (old) this.digest.remove(old.d);
    if (entry) {
      const slot = new Slot(entry, entryDigest(section, key, entry), text);
      this.digest.add(slot.d);
      map.set(key, slot);
    } else {
      map.delete(key);
    }
    for (const fn of this.listeners) fn(section, key, old?.e, entry);
  }

  count(section: Section): number {
    return this.maps[section].size;
  }

  toState(): CoordinationState {
    const state = { work: {}, agents: {}, log: {} } as CoordinationState;
    for (const section of SECTIONS) {
      const out = state[section];
      for (const [key, slot] of this.maps[section]) out[key] = slot.e;
    }
    return state;
  }
}
