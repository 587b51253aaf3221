// The events a store emits, one declaration per payload. Stores are EventEmitter<StoreEvents>, so a
// listener gets its payload's type from here and an emit with a wrong payload does not compile.
import type { EventEmitter } from 'node:events';
import type { DeltaMessage } from '../../shared/protocol.js';
import type { Section } from '../../shared/types.js';
import type { InformationLoss } from './losses.js';

/**
 * What is wrong with a legacy file. `unparseable`, `too_large` and `too_deep` are about the file's
 * content: it is not read again until it changes. Never carries the file's text.
 */
export type ViewProblemKind = 'unparseable' | 'too_large' | 'too_deep' | 'unreadable' | 'locked' | 'write_failed';

/** A legacy file (or the database) the store cannot read or write; cleared when it can again. */
export interface StoreProblem {
  file: string;
  /** What is wrong (legacy files); absent for the database. */
  kind?: ViewProblemKind;
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

/** The journal's state: degraded while a batch could not be made durable, ok again once it can. */
export interface StorageEvent {
  state: 'degraded' | 'ok';
  reason?: 'storage_full' | 'write_failed';
  error?: string;
  /** Changes undone by this failure (they were answered with the error, never acknowledged). */
  rolled_back?: number;
}

export interface StoreEvents {
  /** An accepted change, once durable, in revision order. */
  commit: [delta: DeltaMessage];
  fsync: [FsyncEvent];
  problem: [StoreProblem];
  conflict: [ConflictEvent];
  view_written: [ViewWrittenEvent];
  /** The journal could not be written (writes refused, 507/503), or can be again. */
  storage: [StorageEvent];
  /** Records or fields that vanished in an external edit without a deliberate change (losses.ts). */
  loss: [InformationLoss & { revision: number | null }];
}

/** How parts of a store (the legacy views) emit on its behalf. */
export type StoreEmit = EventEmitter<StoreEvents>['emit'];
