// What every store keeps in memory, whatever makes it durable: the tables, the revision, the
// holder index, counters, and the recent deltas for ?since= replays. FileStore (journal + legacy
// files) and PgStore (PostgreSQL) both extend it, so the coordination core does not know which
// one it talks to.
import { EventEmitter } from 'node:events';
import { formatRecord } from '../../shared/legacy-json.js';
import { nowNs } from '../../shared/ids.js';
import type { DeltaMessage } from '../../shared/protocol.js';
import type { ChangeCause, CoordinationState, Entry, JsonObject, RecordChange, Section } from '../../shared/types.js';
import { isHeld } from '../../shared/types.js';
import { maxLeaseToken } from '../../shared/path-leases.js';
import type { ProposedChange } from './ingest.js';
import { termHex } from '../../shared/checksum.js';
import type { StoreEvents, StoreProblem } from './store-events.js';
import { Tables, type Slot } from './tables.js';

/** Read access for the coordination core; writes go through transact(). */
export interface ReadView {
  get(section: Section, key: string): Entry | undefined;
  heldBy(agentId: string): Iterable<string>;
  nextFencingToken(): number;
  nextLogKey(): string;
}

export interface TransactResult<T> {
  result: T;
  /** The revision of the change, or null when nothing changed (idempotent requests). */
  revision: number | null;
  changes: RecordChange[];
}

/**
 * When a change may be answered: 'durable' (the default) once it is on disk; 'applied' once it is
 * applied in memory and queued for the disk, for a change whose loss in a crash costs nothing the
 * next one would not restore (a session's activity heartbeat). A store may always wait anyway.
 */
export type Ack = 'durable' | 'applied';

export type TransactFn<T> = (view: ReadView) => { changes: ProposedChange[]; result: T; ack?: Ack };

export interface Logger {
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  debug?(obj: object | string, msg?: string): void;
}

export type { StoreProblem } from './store-events.js';

/** A change ready to apply: the record changes with their versions, and the original file texts. */
export interface PreparedChange {
  revision: number;
  changes: RecordChange[];
  /** Original file text per change index, where it differs from the standard formatting (kept with the record). */
  texts: ReadonlyMap<number, string>;
}

/**
 * The contract both stores implement. Events: StoreEvents (store-events.ts).
 */
export interface CoordinationStore extends EventEmitter<StoreEvents> {
  readonly tables: Tables;
  readonly dataDir: string;
  /** Where the daemon keeps its own files (baseline, ...): <data-dir>/.ai-processor. */
  readonly metaDir: string;
  revision: number;
  ready: boolean;
  open(): Promise<void>;
  close(): Promise<void>;
  transact<T>(fn: TransactFn<T>, cause: ChangeCause): Promise<TransactResult<T>>;
  get(section: Section, key: string): Entry | undefined;
  state(): CoordinationState;
  checksum(): string;
  heldIndex(): ReadonlyMap<string, Set<string>>;
  replaySince(since: number): Promise<DeltaMessage[] | null>;
  problems(): StoreProblem[];
  durable(): Promise<void>;
}

/** What a change replaced, so it can be undone: the slot each of its records had before (undefined: none). */
export interface Undo {
  revision: number;
  changes: RecordChange[];
  before: Array<Slot | undefined>;
}

const NO_TEXTS: ReadonlyMap<number, string> = new Map();

export abstract class MemoryState extends EventEmitter<StoreEvents> {
  readonly tables = new Tables();
  revision = 0;
  protected fencing = 0;
  protected logSeq = 1;
  protected recent: DeltaMessage[] = [];
  protected readonly held = new Map<string, Set<string>>();

  // Older deltas are read back from the journal (file store) or the events table (PostgreSQL).
  // Few are kept: a delta held longer than two young-generation collections (~17 ms at 10,000
  // claims/s) is copied into the old generation, for the full collections to mark: measured at 50k
  // records, each claim promoted 1,150 B with 2,000 kept, 850 with 128, 685 with 100, and full
  // collections came a third less often. 100 cover seconds at a fleet's usual pace; a client
  // further behind is replayed from disk, as it was at 10,000 claims/s anyway.
  constructor(protected recentMax = 100) {
    super();
    this.tables.onApply((section, key, before, after) => this.index(section, key, before, after));
  }

  get(section: Section, key: string): Entry | undefined {
    return this.tables.get(section, key);
  }

  state(): CoordinationState {
    return this.tables.toState();
  }

  checksum(): string {
    return this.tables.digest.hex();
  }

  readView(): ReadView {
    return {
      get: (s, k) => this.tables.get(s, k),
      heldBy: (agent) => this.held.get(agent) ?? [],
      nextFencingToken: () => ++this.fencing,
      nextLogKey: () => String(this.logSeq++),
    };
  }

  /** Work ids held per agent (kept in step with every applied change). */
  heldIndex(): ReadonlyMap<string, Set<string>> {
    return this.held;
  }

  /** Deltas after `since`, if they are all still in memory; null means "send a snapshot". */
  deltasSince(since: number): DeltaMessage[] | null {
    if (since === this.revision) return [];
    if (since > this.revision || this.recent.length === 0) return null;
    const first = this.recent[0].revision;
    if (since < first - 1) return null;
    return this.recent.slice(since - first + 1);
  }

  protected remember(delta: DeltaMessage): void {
    this.recent.push(delta);
    if (this.recent.length > this.recentMax * 1.25) this.recent = this.recent.slice(-this.recentMax);
  }

  private index(section: Section, key: string, before: Entry | undefined, after: Entry | undefined): void {
    if (section === 'log') {
      const n = Number(key);
      if (Number.isInteger(n) && n >= this.logSeq) this.logSeq = n + 1;
      return;
    }
    if (section === 'agents') {
      // Path leases draw their fencing tokens from the same counter: a restart must not hand one out again.
      const leaseToken = maxLeaseToken(after?.data);
      if (leaseToken > this.fencing) this.fencing = leaseToken;
      return;
    }
    if (section !== 'work') return;
    const prevAgent = before && isHeld(before.data) ? (before.data.agent_id as string) : null;
    const nextAgent = after && isHeld(after.data) ? (after.data.agent_id as string) : null;
    if (prevAgent && prevAgent !== nextAgent) {
      const set = this.held.get(prevAgent);
      set?.delete(key);
      if (set && set.size === 0) this.held.delete(prevAgent);
    }
    if (nextAgent) {
      let set = this.held.get(nextAgent);
      if (!set) this.held.set(nextAgent, (set = new Set()));
      set.add(key);
    }
    const token = after?.data.fencing_token;
    if (typeof token === 'number' && token > this.fencing) this.fencing = token;
  }

  /** Versions the proposed changes against the current tables, without applying them. */
  protected prepare(proposed: ProposedChange[], revision = this.revision + 1): PreparedChange | null {
    const changes: RecordChange[] = [];
    let texts: Map<number, string> | null = null; // only file edits bring texts: none on the API's path
    for (const p of proposed) {
      const old = this.tables.get(p.section, p.key);
      if (p.op === 'del') {
        if (old) changes.push({ section: p.section, key: p.key, op: 'del' });
        continue;
      }
      const data = p.data as JsonObject;
      const i = changes.length;
      changes.push({ section: p.section, key: p.key, op: 'put', entry: { v: (old?.v ?? 0) + 1, rev: revision, data } });
      // Keep the original bytes only where they differ from how we would format the record.
      if (p.text !== undefined && p.text !== formatRecord(data)) (texts ??= new Map()).set(i, p.text);
    }
    return changes.length === 0 ? null : { revision, changes, texts: texts ?? NO_TEXTS };
  }

  /** What applying `p` now would replace (taken before applyPrepared). */
  protected undoFor(p: PreparedChange): Undo {
    return { revision: p.revision, changes: p.changes, before: p.changes.map((c) => this.tables.slot(c.section, c.key)) };
  }

  /**
   * Undoes changes that never became durable, newest first: the records, the revision and the
   * recent deltas go back. The fencing counter and the log sequence stay where they are (they only
   * ever grow), so a token or log key handed out by an undone change is not handed out again.
   */
  protected rollback(undos: Undo[]): void {
    for (let u = undos.length - 1; u >= 0; u--) {
      const { revision, changes, before } = undos[u];
      for (let i = changes.length - 1; i >= 0; i--) {
        const prev = before[i];
        this.tables.set(changes[i].section, changes[i].key, prev, prev?.t, prev ? termHex(prev) : undefined);
      }
      this.revision = revision - 1;
    }
    while (this.recent.length && this.recent[this.recent.length - 1].revision > this.revision) this.recent.pop();
  }

  /** Applies a prepared change to memory and returns its delta (checksum after the change). */
  protected applyPrepared(p: PreparedChange, cause: ChangeCause | undefined, timestampNs = nowNs().toString(), checksum?: string): DeltaMessage {
    p.changes.forEach((c, i) => this.tables.set(c.section, c.key, c.op === 'put' ? c.entry : undefined, p.texts.get(i)));
    this.revision = p.revision;
    const delta: DeltaMessage = {
      type: 'delta',
      revision: p.revision,
      changes: p.changes,
      timestamp_ns: timestampNs,
      checksum: checksum ?? this.tables.digest.hex(),
      cause,
    };
    this.remember(delta);
    return delta;
  }
}
