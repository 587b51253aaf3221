// The console's state cache. Pure (no I/O, no drawing): the network layer feeds it, the React tree
// reads it. In the console the coordination state comes from the shared stream client, which keeps
// and verifies its own copy (adopt / markSync); applySnapshot / applyDelta verify here instead, for
// feeds that do not (tests, generators). Changes are coalesced: listeners hear about them at most once per `throttleMs`, so a
// burst of deltas costs one redraw, not one per message.
import type { DeltaMessage, EventMessage, LegacySpan, PathConflictDetail, SnapshotMessage, StatsResponse } from '../../shared/protocol.js';
import { parsePathConflict } from '../../shared/protocol.js';
import type { CoordinationState, RecordChange } from '../../shared/types.js';
import { emptyState } from '../../shared/types.js';
import { StateReplica, type DeltaOutcome } from '../../shared/replica.js';
import { Ring } from './ring.js';
import { HeldIndex, statsSample, type StatsSample } from './selectors.js';
import { SpanSlimmer, type ShownSpan } from './shown-span.js';
import { StatusIndex } from './sessions.js';

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'unauthorized';
/** gap / checksum: found here or by the stream client; slow: the daemon dropped us (close 4001). */
export type ResyncReason = 'gap' | 'checksum' | 'slow' | 'manual';

/** What a self-verifying stream client (client/stream-client.ts) exposes after each change. */
export interface VerifiedCopy {
  state: CoordinationState;
  revision: number;
  checksum: string;
  verified: boolean;
}

export interface ConnectionInfo {
  state: ConnectionState;
  /** When the link was lost (ms since epoch); the last state shown is "stale since" then. */
  since: number | null;
  attempt: number;
  error: string | null;
}

export type { StatsSample };

export interface ModelOptions {
  /** Minimum interval between listener notifications. */
  throttleMs?: number;
  spanCapacity?: number;
  /** Stats samples kept for sparklines (at one per 2 s, 150 = 5 minutes). */
  sampleCapacity?: number;
  /** Verify delta checksums here; off when fed by a client that already verifies. */
  verify?: boolean;
  /** How long a resync request may go unanswered before another is sent. */
  resyncRetryMs?: number;
  requestResync?: (reason: ResyncReason, revision: number) => void;
  now?: () => number;
}

export type { DeltaOutcome };

export class ConsoleModel {
  state: CoordinationState = emptyState();
  revision = 0;
  /** Checksum the daemon last sent (of the state after `revision`). */
  checksum = '';
  /** True when our own digest equals the daemon's checksum at `revision`. */
  verified = false;
  hasSnapshot = false;
  /** Resyncs asked for (gap or checksum mismatch) since start. */
  resyncCount = 0;
  resyncPending: ResyncReason | null = null;
  connection: ConnectionInfo = { state: 'connecting', since: null, attempt: 0, error: null };
  stats: StatsResponse | null = null;
  statsAt: number | null = null;
  statsError: string | null = null;
  lastMessageAt: number | null = null;
  readonly samples: Ring<StatsSample>;
  /** The newest spans, each cut to what the traces panel and the trace view show. */
  readonly spans: Ring<ShownSpan>;
  readonly events = new Ring<EventMessage>(50);
  /** Path lease conflicts as they happen (the Files panel); kept apart so they never push the health events out. */
  readonly pathConflicts = new Ring<PathConflictDetail>(200);
  /** Bumped on every change; a cheap memo key for derived rows. */
  version = 0;
  /** Claims held per agent, maintained from the changes (not re-counted per frame). */
  readonly held = new HeldIndex();
  /** Agents per status and the transitions into needs_input (the header's fleet line, --bell). */
  readonly statuses = new StatusIndex();
  requestResync: ((reason: ResyncReason, revision: number) => void) | undefined;

  /** The copy applySnapshot / applyDelta keep (the stream client keeps its own: adopt). */
  private replica = new StateReplica();
  private spanKeys = new Set<string>();
  private readonly slim = new SpanSlimmer();
  private resyncAskedAt = 0;
  private listeners = new Set<() => void>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private lastNotify = -Infinity;
  private readonly throttleMs: number;
  private readonly verify: boolean;
  private readonly resyncRetryMs: number;
  private readonly now: () => number;

  constructor(opts: ModelOptions = {}) {
    this.throttleMs = opts.throttleMs ?? 150;
    this.spans = new Ring(opts.spanCapacity ?? 2000);
    this.samples = new Ring(opts.sampleCapacity ?? 150);
    this.verify = opts.verify ?? true;
    this.resyncRetryMs = opts.resyncRetryMs ?? 5000;
    this.requestResync = opts.requestResync;
    this.now = opts.now ?? Date.now;
  }

  /** Dispatches any stream message (coordination or telemetry); unknown types are ignored. */
  applyMessage(msg: unknown): void {
    if (!msg || typeof msg !== 'object') return;
    const m = msg as { type?: unknown };
    switch (m.type) {
      case 'snapshot':
        return this.applySnapshot(msg as SnapshotMessage);
      case 'delta':
        this.applyDelta(msg as DeltaMessage);
        return;
      case 'event':
        return this.addEvent(msg as EventMessage);
      case 'span':
        return this.addSpans([(msg as { span: LegacySpan }).span]);
      default:
        this.lastMessageAt = this.now(); // replayed, or types newer than us
    }
  }

  /** Takes ownership of `msg.state` (it is mutated by later deltas). */
  applySnapshot(msg: SnapshotMessage): void {
    this.lastMessageAt = this.now();
    this.replica = new StateReplica();
    const matches = this.replica.snapshot(msg);
    this.state = this.replica.state;
    this.revision = msg.revision;
    this.checksum = msg.checksum;
    this.held.rebuild(msg.state);
    this.statuses.rebuild(msg.state);
    // A mismatching snapshot is shown as unverified but not re-requested: asking again would loop.
    this.verified = !this.verify || matches;
    this.hasSnapshot = true;
    this.resyncPending = null;
    this.touch();
  }

  applyDelta(msg: DeltaMessage): DeltaOutcome {
    this.lastMessageAt = this.now();
    // Applied even after a gap: the view stays live (marked unverified) until the snapshot arrives.
    const outcome = this.replica.delta(msg, { verify: this.verify, applyAfterGap: true });
    if (outcome === 'duplicate') return outcome;
    this.state = this.replica.state;
    this.held.apply(msg.changes);
    this.statuses.apply(msg.changes);
    this.revision = msg.revision;
    this.checksum = msg.checksum;
    // A matching checksum proves we hold the daemon's state, whatever happened before.
    this.verified = outcome === 'applied';
    if (outcome !== 'applied') this.askResync(outcome === 'gap' ? 'gap' : 'checksum');
    this.touch();
    return outcome;
  }

  /**
   * For a client that keeps and verifies the state itself (the shared stream client): show its copy.
   * The state object is shared, not cloned: the client mutates it in place on later deltas and calls
   * this again, which bumps `version` (the memo key of every derived row). Nothing here writes to it.
   * `changes`: the delta just applied; absent after a snapshot (the derived indexes are rebuilt).
   */
  adopt(copy: VerifiedCopy, changes?: readonly RecordChange[]): void {
    this.lastMessageAt = this.now();
    if (changes && copy.state === this.state) {
      this.held.apply(changes);
      this.statuses.apply(changes);
    } else {
      this.held.rebuild(copy.state);
      this.statuses.rebuild(copy.state);
    }
    this.state = copy.state;
    this.revision = copy.revision;
    this.checksum = copy.checksum;
    this.verified = copy.verified;
    this.hasSnapshot = true;
    if (copy.verified) this.resyncPending = null;
    this.touch();
  }

  /** For a client that verifies by itself: record its verdict and the resyncs it asked for. */
  markSync(s: { verified?: boolean; resynced?: ResyncReason }): void {
    if (s.verified !== undefined) this.verified = s.verified;
    if (s.resynced) {
      this.resyncCount++;
      this.resyncPending = s.resynced;
    }
    this.touch();
  }

  setConnection(state: ConnectionState, since?: number | null, extra: { attempt?: number; error?: string | null } = {}): void {
    const prev = this.connection;
    const lost = state === 'connected' ? null : (since ?? prev.since ?? this.now());
    this.connection = { state, since: lost, attempt: extra.attempt ?? (state === 'connected' ? 0 : prev.attempt), error: extra.error ?? null };
    // A request made on a dead socket is lost; the reconnect asks for what it needs by itself.
    if (state !== 'connected') this.resyncPending = null;
    this.touch();
  }

  setStats(stats: StatsResponse): void {
    this.stats = stats;
    this.statsAt = this.now();
    this.statsError = null;
    this.samples.push(statsSample(this.statsAt, stats));
    this.touch();
  }

  setStatsError(error: string): void {
    this.statsError = error;
    this.touch();
  }

  /** Adds spans in arrival order; repeats (initial fill overlapping the stream) are dropped. */
  addSpans(spans: LegacySpan[]): void {
    let added = false;
    for (const s of spans) {
      if (!s || typeof s !== 'object') continue;
      const key = spanKey(s);
      if (this.spanKeys.has(key)) continue;
      this.spanKeys.add(key);
      const evicted = this.spans.push(this.slim.shown(s));
      if (evicted) this.spanKeys.delete(spanKey(evicted));
      added = true;
    }
    if (added) this.touch();
  }

  addEvent(ev: EventMessage): void {
    this.lastMessageAt = this.now();
    const conflict = parsePathConflict(ev);
    if (conflict) this.pathConflicts.push(conflict);
    else this.events.push(ev);
    this.touch();
  }

  /** Listener runs at most once per throttleMs, after a change; never synchronously. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.timer) {
        clearTimeout(this.timer);
        this.timer = null;
      }
    };
  }

  /** Delivers a pending notification now (e.g. before a one-shot render). */
  flush(): void {
    if (!this.timer) return;
    clearTimeout(this.timer);
    this.notify();
  }

  private askResync(reason: ResyncReason): void {
    const now = this.now();
    if (this.resyncPending && now - this.resyncAskedAt < this.resyncRetryMs) return;
    this.resyncPending = reason;
    this.resyncAskedAt = now;
    this.resyncCount++;
    this.requestResync?.(reason, this.revision);
  }

  private touch(): void {
    this.version++;
    if (this.timer || this.listeners.size === 0) return;
    const wait = Math.max(0, this.lastNotify + this.throttleMs - this.now());
    this.timer = setTimeout(() => this.notify(), wait);
  }

  private notify(): void {
    this.timer = null;
    this.lastNotify = this.now();
    for (const l of [...this.listeners]) l();
  }
}

function spanKey(s: ShownSpan): string {
  return `${s.trace_id}/${s.span_id}/${s.span_id ? '' : s.start_time}`;
}
