// The events a store emits, one declaration per payload. Stores are EventEmitter<StoreEvents>, so a
// listener gets its payload's type from here and an emit with a wrong payload does not compile.
import type { EventEmitter } from 'node:events';
import type { DeltaMessage } from '../../shared/protocol.js';
import type { Section } from '../../shared/types.js';

/** A legacy file (or the database) the store cannot read or write; cleared when it can again. */
export interface StoreProblem {
  file: string;
  error: string;
  at: string;
}

/** One journal group commit made durable. */
export interface FsyncEvent {
  lines: number;
  seconds: number;
}

/** A field both the daemon and an external edit changed: ours is kept, theirs recorded. */
export interface ConflictEvent {
  revision: number;
  section: Section;
  key: string;
  field: string;
  kept: unknown;
  other: unknown;
  source: string;
}

/** A legacy file written in full. */
export interface ViewWrittenEvent {
  file: string;
  records: number;
  bytes: number;
  seconds: number;
}

export interface StoreEvents {
  /** An accepted change, once durable, in revision order. */
  commit: [delta: DeltaMessage];
  fsync: [FsyncEvent];
  problem: [StoreProblem];
  conflict: [ConflictEvent];
  view_written: [ViewWrittenEvent];
  /** The store cannot make changes durable any more and refuses writes. */
  fatal: [error: Error];
}

/** How parts of a store (the legacy views) emit on its behalf. */
export type StoreEmit = EventEmitter<StoreEvents>['emit'];
