// The coordination service: binds the pure rules (coordinator.ts) to a store, and keeps leases.
// Every operation is one store transaction; its outcome is reported to `observe` for metrics/traces.
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { isoSeconds } from '../../shared/ids.js';
import type { ChangeCause } from '../../shared/types.js';
import { withFields, type JsonObject } from '../../shared/types.js';
import { isWaitingForInput } from '../../shared/agent-status.js';
import { ApiError } from '../errors.js';
import type { Ack, CoordinationStore, Logger, ReadView } from '../store/memory-state.js';
import type { ProposedChange } from '../store/ingest.js';
import * as rules from './coordinator.js';
import { claimLeaseMs, dueClaims, HolderLeases, type HolderLease, type LeaseLimits } from './leases.js';
import { claimWhenReady, createWorkItem, type GraphWorkInput } from './work-graph-ops.js';

export type Outcome = 'ok' | 'conflict' | 'error' | 'idempotent';

export interface ServiceOptions {
  /** Lease of a claim that names none (ms). */
  leaseMs: number;
  /** Longest lease a claim may ask for (ms). */
  maxLeaseMs: number;
  logger: Logger;
}

/** A claim's lease as the API reports it: its length and when it ends on the wall clock. */
export interface LeaseInfo {
  lease_ms: number;
  lease_expires_at: string;
}

/** Emitted as 'op' after every operation, accepted or refused (metrics and traces listen). */
export interface OpEvent {
  operation: string;
  outcome: Outcome | 'error';
  seconds: number;
  /** Error code for refused operations. */
  error?: string;
  revision: number | null;
  agent_id?: string;
  work_id?: string;
  trace?: Trace;
  started_ns: bigint;
}

/** Emitted as 'lease_expired'. */
export interface LeaseExpiredEvent {
  agent_id: string;
  work_ids: string[];
  revision: number | null;
}

/** The events the service emits, one declaration per payload. */
export interface ServiceEvents {
  op: [OpEvent];
  lease_expired: [LeaseExpiredEvent];
}

export interface Trace {
  trace_id: string;
  span_id: string;
}

/**
 * Something other than claims that agents hold and that ends with their lease (path leases): who
 * holds some, and the changes that end an agent's (made in the sweeper's transaction).
 */
export interface HeldExtra {
  holders(): Iterable<string>;
  holds(agentId: string): boolean;
  expire(view: ReadView, agentId: string, now: string): ProposedChange[];
}

/** The sweeper's stand-in for an agent's extras among its claims (no work id can contain a NUL). */
const EXTRAS_ID = '\0extras';

export class CoordinationService extends EventEmitter<ServiceEvents> {
  /**
   * Leases are measured on the monotonic clock and kept in memory only: after a restart every
   * holder gets a fresh period from the takeover. Record timestamps stay wall-clock.
   */
  private leases = new HolderLeases();
  private extras: HeldExtra[] = [];
  private sweeper: NodeJS.Timeout | null = null;
  private sweeping = false;
  /** Monotonic milliseconds: a wall-clock step does not move it. */
  private readonly mono = () => performance.now();

  constructor(
    readonly store: CoordinationStore,
    private opts: ServiceOptions,
  ) {
    super();
  }

  get leaseMs(): number {
    return this.opts.leaseMs;
  }

  set leaseMs(ms: number) {
    this.opts.leaseMs = ms;
  }

  get maxLeaseMs(): number {
    return this.opts.maxLeaseMs;
  }

  set maxLeaseMs(ms: number) {
    this.opts.maxLeaseMs = ms;
  }

  private get limits(): LeaseLimits {
    return { defaultMs: this.opts.leaseMs, maxMs: this.opts.maxLeaseMs };
  }

  /** The limits a holder's running period was given. */
  private holderLimits(h: HolderLease): LeaseLimits {
    return { defaultMs: h.defaultMs, maxMs: this.opts.maxLeaseMs };
  }

  /** Registers what else ends with an agent's lease (before start()). */
  addHeldExtra(extra: HeldExtra): void {
    this.extras.push(extra);
  }

  /** Agents that hold claims or extras. */
  private holders(): Set<string> {
    const out = new Set(this.store.heldIndex().keys());
    for (const x of this.extras) for (const agent of x.holders()) out.add(agent);
    return out;
  }

  private holdsExtras(agent: string): boolean {
    return this.extras.some((x) => x.holds(agent));
  }

  start(): void {
    // Takeover: claims that carry no lease of ours get a fresh one from now.
    const now = this.mono();
    for (const agent of this.holders()) this.leases.alive(agent, now, this.activity(agent), this.opts.leaseMs);
    const every = Math.max(50, Math.min(1000, Math.floor(this.opts.leaseMs / 4)));
    this.sweeper = setInterval(() => void this.sweep(), every);
    this.sweeper.unref();
  }

  stop(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
  }

  /** A call by the agent: proof of life for every claim it holds. */
  touch(agentId: string): void {
    this.leases.alive(agentId, this.mono(), this.store.revision, this.opts.leaseMs);
  }

  /** When the agent's default-length claims end (wall-clock ms), if it was seen alive. */
  leaseDeadline(agentId: string): number | undefined {
    const h = this.leases.get(agentId);
    return h ? this.wallOf(h.aliveAt + h.defaultMs) : undefined;
  }

  /** The lease of a held claim, or null when nobody holds it. */
  claimLease(workId: string): LeaseInfo | null {
    const data = this.store.get('work', workId)?.data;
    const agent = data?.agent_id;
    if (!data || typeof agent !== 'string' || !this.store.heldIndex().get(agent)?.has(workId)) return null;
    const h = this.leases.get(agent);
    const leaseMs = claimLeaseMs(data, h ? this.holderLimits(h) : this.limits);
    const end = h ? h.aliveAt + leaseMs : this.mono() + leaseMs;
    return { lease_ms: leaseMs, lease_expires_at: new Date(this.wallOf(end)).toISOString() };
  }

  /** A monotonic instant as wall-clock ms, for answers (never for deciding an expiry). */
  private wallOf(mono: number): number {
    return Date.now() + (mono - this.mono());
  }

  /** The highest revision among the agent's record and its held claims: it grows with any change to them. */
  private activity(agentId: string): number {
    let rev = this.store.get('agents', agentId)?.rev ?? 0;
    for (const workId of this.store.heldIndex().get(agentId) ?? []) rev = Math.max(rev, this.store.get('work', workId)?.rev ?? 0);
    return rev;
  }

  /** Runs one operation as a store transaction and reports it ('op'); public for feature modules (claim-next). */
  async run<T>(
    operation: string,
    cause: ChangeCause,
    fn: (ctx: rules.OpContext) => rules.OpResult<T> & { ack?: Ack },
    trace?: Trace,
  ): Promise<{ result: T; revision: number | null }> {
    const started = process.hrtime.bigint();
    const startedNs = BigInt(Date.now()) * 1_000_000n;
    // Objects built field by field, not spread: a spread copy gets a hidden class of its own in V8.
    const full: ChangeCause = withFields(cause, { op: operation });
    if (trace) full.trace_id = trace.trace_id;
    try {
      const out = await this.store.transact((view: ReadView) => fn({ view, now: isoSeconds(), trace }), full);
      const event: OpEvent = {
        operation,
        outcome: out.revision === null ? 'idempotent' : 'ok',
        seconds: Number(process.hrtime.bigint() - started) / 1e9,
        error: undefined,
        revision: out.revision,
        agent_id: cause.agent_id,
        work_id: cause.work_id,
        trace,
        started_ns: startedNs,
      };
      this.emit('op', event);
      return out;
    } catch (err) {
      const code = err instanceof ApiError ? err.code : 'internal_error';
      const outcome = err instanceof ApiError && err.status === 409 ? 'conflict' : 'error';
      const event: OpEvent = {
        operation,
        outcome,
        seconds: Number(process.hrtime.bigint() - started) / 1e9,
        error: code,
        revision: null,
        agent_id: cause.agent_id,
        work_id: cause.work_id,
        trace,
        started_ns: startedNs,
      };
      this.emit('op', event);
      throw err;
    }
  }

  register(input: rules.RegisterInput, trace?: Trace) {
    return this.run('register', { op: 'register', source: 'api', agent_id: input.agent_id }, (ctx) => rules.register(ctx, input), trace).then((r) => {
      this.touch(r.result.agent.agent_id as string);
      return r;
    });
  }

  heartbeat(agentId: string, input: { status?: string; current_workload?: number }, trace?: Trace) {
    return this.run('heartbeat', { op: 'heartbeat', source: 'api', agent_id: agentId }, (ctx) => rules.heartbeat(ctx, agentId, input), trace).then((r) => {
      this.touch(agentId);
      return r;
    });
  }

  createWork(input: GraphWorkInput, trace?: Trace) {
    return this.run('create_work', { op: 'create_work', source: 'api', work_id: input.work_id }, (ctx) => createWorkItem(ctx, input), trace);
  }

  claim(input: rules.ClaimInput, trace?: Trace) {
    // Refused with 409 dependencies_pending while the item waits for prerequisites (work-graph-ops.ts).
    return this.claimChosen('claim', input.agent_id, input.work_id, (ctx, limits) => claimWhenReady(ctx, input, limits), trace);
  }

  /** A claim decided inside the transaction (claim by id, claim-next): the same lease and bookkeeping whichever chose the item. */
  claimChosen<T extends { claim: JsonObject; idempotent: boolean } | null>(
    operation: string,
    agentId: string,
    workId: string | undefined,
    fn: (ctx: rules.OpContext, limits: LeaseLimits) => rules.OpResult<T>,
    trace?: Trace,
  ) {
    const limits = this.limits;
    this.touch(agentId); // proof of life even when the claim is refused
    return this.run(operation, { op: operation, source: 'api', agent_id: agentId, work_id: workId }, (ctx) => fn(ctx, limits), trace).then((r) => {
      // Any call by an agent is proof of life: the new claim starts a full lease of its own length.
      this.touch(agentId);
      if (r.result && !r.result.idempotent) this.leases.claimed(agentId, claimLeaseMs(r.result.claim, limits));
      return r;
    });
  }

  progress(input: rules.HolderInput & { progress: number; status?: string }, trace?: Trace) {
    return this.holderOp('progress', input, (ctx) => rules.progress(ctx, input), trace);
  }

  complete(input: rules.HolderInput & { result?: string; velocity_points?: number; status?: 'completed' | 'failed' }, trace?: Trace) {
    return this.holderOp('complete', input, (ctx) => rules.complete(ctx, input), trace);
  }

  release(input: rules.HolderInput & { reason?: string; force?: boolean }, trace?: Trace) {
    return this.holderOp('release', input, (ctx) => rules.release(ctx, input), trace);
  }

  /**
   * A feature's own operation on the records (Claude Code hooks): one transaction, reported like the
   * others; proof of life for the agent. `fn` may mark its change `ack: 'applied'` (memory-state.ts).
   */
  async apply<T>(operation: string, agentId: string, fn: (ctx: rules.OpContext) => rules.OpResult<T> & { ack?: Ack }, trace?: Trace) {
    const out = await this.run(operation, { op: operation, source: 'api', agent_id: agentId }, fn, trace);
    this.touch(agentId);
    return out;
  }

  private async holderOp<T>(op: string, input: rules.HolderInput, fn: (ctx: rules.OpContext) => rules.OpResult<T>, trace?: Trace) {
    const out = await this.run(op, { op, source: 'api', agent_id: input.agent_id, work_id: input.work_id }, fn, trace);
    this.touch(input.agent_id); // only a holder gets here: refresh its lease
    return out;
  }

  /** Releases the claims whose lease ran out. One revision per agent. */
  async sweep(): Promise<number> {
    if (this.sweeping) return 0;
    this.sweeping = true;
    try {
      return await this.sweepOnce();
    } finally {
      this.sweeping = false;
    }
  }

  private async sweepOnce(): Promise<number> {
    const held = this.store.heldIndex();
    const holders = this.holders();
    let now = this.mono();
    for (const [agent, h] of this.leases.entries()) if (now >= h.checkAt && !holders.has(agent)) this.leases.delete(agent);
    let expired = 0;
    for (const agent of holders) {
      now = this.mono();
      const h = this.leases.get(agent);
      if (!h) {
        // Held through an external edit or another daemon: give it a period from now.
        this.leases.alive(agent, now, this.activity(agent), this.opts.leaseMs);
        continue;
      }
      if (now < h.checkAt) continue;
      // Waiting for a human is shown, not punished: the lease runs again from the agent's next sign of life.
      if (isWaitingForInput(this.store.get('agents', agent)?.data)) {
        this.leases.alive(agent, now, this.activity(agent), this.opts.leaseMs);
        continue;
      }
      // A change to its records since (another daemon's API, a legacy script) shows the agent alive.
      const rev = this.activity(agent);
      if (rev > h.rev) {
        this.leases.alive(agent, now, rev, this.opts.leaseMs);
        continue;
      }
      // A reloaded default applies from the holder's next sign of life, not to periods running.
      const limits = this.holderLimits(h);
      const claims = [...(held.get(agent) ?? [])].map((id) => ({ id, leaseMs: this.leaseOf(id, limits) }));
      const extras = this.extras.length > 0 && this.holdsExtras(agent);
      if (extras) claims.push({ id: EXTRAS_ID, leaseMs: limits.defaultMs });
      const due = dueClaims(h, now, claims);
      h.shortestMs = due.shortestMs;
      h.checkAt = due.checkAt;
      if (due.expired.length === 0) continue;
      // Decided again inside the transaction: a call that arrived meanwhile renews the claims.
      const candidates = new Set(due.expired);
      const stillExpired = (workId: string, data: JsonObject) => {
        const current = this.leases.get(agent);
        return candidates.has(workId) && current !== undefined && current.aliveAt + claimLeaseMs(data, this.holderLimits(current)) <= this.mono();
      };
      const extrasExpired = () => {
        const current = this.leases.get(agent);
        return candidates.has(EXTRAS_ID) && current !== undefined && current.aliveAt + current.defaultMs <= this.mono();
      };
      let extrasEnded = false;
      try {
        const out = await this.store.transact(
          (view) => {
            const now = isoSeconds();
            const claims = rules.expireLease({ view, now }, agent, stillExpired);
            if (!extrasExpired()) return claims;
            for (const x of this.extras) {
              const changes = x.expire(view, agent, now);
              if (changes.length) extrasEnded = true;
              claims.changes.push(...changes);
            }
            return claims;
          },
          { op: 'lease_expired', source: 'lease', agent_id: agent },
        );
        if (out.revision !== null && extrasEnded) this.opts.logger.warn({ agent_id: agent, revision: out.revision }, 'lease expired: path leases ended');
        if (out.result.released.length > 0) {
          expired += out.result.released.length;
          this.opts.logger.warn({ agent_id: agent, work_ids: out.result.released, revision: out.revision }, 'lease expired: claims released');
          this.emit('lease_expired', { agent_id: agent, work_ids: out.result.released, revision: out.revision });
        }
        // Its own change is not a sign of life.
        const after = this.leases.get(agent);
        if (after && out.revision !== null) after.rev = Math.max(after.rev, out.revision);
      } catch (err) {
        this.opts.logger.error({ err: (err as Error).message }, 'lease sweep failed');
        return expired;
      }
    }
    return expired;
  }

  private leaseOf(workId: string, limits: LeaseLimits): number {
    const data = this.store.get('work', workId)?.data;
    return data ? claimLeaseMs(data, limits) : limits.defaultMs;
  }
}
