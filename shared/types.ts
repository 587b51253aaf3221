// Record and state types shared by the daemon, the console and every client.
// A record's `data` is the legacy record itself, every field kept (known or not); `v` and `rev`
// are its causal metadata: per-record version (+1 per change) and the global revision that last
// changed it.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** The three sections of coordination state, one per legacy file. */
export const SECTIONS = ['work', 'agents', 'log'] as const;
export type Section = (typeof SECTIONS)[number];

export interface Entry {
  /** Per-record version: 1 on creation, +1 on every change. */
  v: number;
  /** Global revision of the change that last wrote this record. */
  rev: number;
  /** The legacy record, field for field. */
  data: JsonObject;
}

export type SectionState = Record<string, Entry>;

/** The whole coordination state, as streamed and as checksummed. */
export interface CoordinationState {
  work: SectionState;
  agents: SectionState;
  log: SectionState;
}

/** One record-level change inside an accepted change (one revision may touch several records). */
export interface RecordChange {
  section: Section;
  key: string;
  op: 'put' | 'del';
  /** The record after the change (absent for `del`). */
  entry?: Entry;
}

/** What caused a revision: an API operation, an external file edit, a lease expiry, ... */
export interface ChangeCause {
  op: string;
  agent_id?: string;
  work_id?: string;
  source?: 'api' | 'file' | 'lease' | 'import' | 'system';
  trace_id?: string;
  conflict?: boolean;
}

/** Work statuses in which a claim is held by its agent. Anything else is not held. */
export const TERMINAL_WORK_STATUSES = ['completed', 'failed', 'released', 'cancelled', 'done'] as const;
export const OPEN_WORK_STATUSES = ['pending', 'released'] as const;

export const PRIORITIES = ['low', 'medium', 'high', 'critical'] as const;
export type Priority = (typeof PRIORITIES)[number];

/**
 * `{ ...base, ...fields }` for records, without V8's object-spread clone: on Node 20 a spread of a
 * record gives each copy a hidden class of its own (hundreds of bytes per record, kept for as long
 * as the record lives, and megamorphic property access everywhere it is read). Object.assign onto
 * a literal shares hidden classes. Same result as the spread: own enumerable keys in order, and an
 * own `__proto__` key stays a plain data field.
 */
export function withFields<T extends object>(base: T, fields?: Partial<T> | object): T {
  if (Object.hasOwn(base, '__proto__') || (fields !== undefined && Object.hasOwn(fields, '__proto__'))) {
    const out = {} as T;
    for (const src of fields === undefined ? [base] : [base, fields]) {
      for (const k of Object.keys(src))
        Object.defineProperty(out, k, { value: (src as Record<string, unknown>)[k], writable: true, enumerable: true, configurable: true });
    }
    return out;
  }
  const out = Object.assign({}, base);
  return fields === undefined ? out : Object.assign(out, fields);
}

/** A plain copy of an entry's fields (what goes into snapshots, states, files and checksums). */
export function entryOf(e: Entry): Entry {
  return { v: e.v, rev: e.rev, data: e.data };
}

/**
 * Sets a record in a state table. Record keys are ids, and `__proto__` is a valid one: a plain
 * assignment would set the object's prototype instead and the record would be gone from the state
 * (and its checksum). Defined as an own property, it is a record like any other (as JSON.parse makes it).
 */
export function setRecord(table: Record<string, Entry>, key: string, entry: Entry): void {
  if (key === '__proto__') Object.defineProperty(table, key, { value: entry, enumerable: true, writable: true, configurable: true });
  else table[key] = entry;
}

/** Sets a field as an own property whatever its name (a plain `obj[k] = v` with k `__proto__` sets the prototype). */
export function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

/** An own field, or undefined (reading `__proto__` or `constructor` of a plain object finds inherited values). */
export function getOwn<T>(obj: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

export function emptyState(): CoordinationState {
  return { work: {}, agents: {}, log: {} };
}

/** A claim is held when it has an agent and its status is neither open nor terminal. */
export function isHeld(data: JsonObject): boolean {
  const agent = data.agent_id;
  const status = typeof data.status === 'string' ? data.status : '';
  if (typeof agent !== 'string' || agent === '') return false;
  return !(OPEN_WORK_STATUSES as readonly string[]).includes(status) && !(TERMINAL_WORK_STATUSES as readonly string[]).includes(status);
}

/** A work item may be claimed by anyone when it is open (pending/released or no holder) and not finished. */
export function isClaimable(data: JsonObject): boolean {
  const status = typeof data.status === 'string' ? data.status : 'pending';
  if ((OPEN_WORK_STATUSES as readonly string[]).includes(status)) return true;
  if ((TERMINAL_WORK_STATUSES as readonly string[]).includes(status)) return false;
  return !isHeld(data);
}
