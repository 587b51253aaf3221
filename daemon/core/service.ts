// The coordination service: binds the pure rules (coordinator.ts) to a store, and keeps leases.
// Every operation is one store transaction; its outcome is reported to `observe` for metrics/traces.
import { EventEmitter } from 'node:events';
import { isoSeconds } from '../../shared/ids.js';
import type { ChangeCause } from '../../shared/types.js';
import { withFields } from '../../shared/types.js';
import { ApiError } from '../errors.js';
import type { CoordinationStore, Logger, ReadView } from '../store/memory-state.js';
import * as rules from './coordinator.js';

export type Outcome = 'ok' | 'conflict' | 'error' | 'idempotent';

export interface ServiceOptions {
  leaseMs: number;
  logger: Logger;
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

export class CoordinationService extends EventEmitter<ServiceEvents> {
  /** Lease deadline per agent (ms). Not persisted: after a restart every holder gets a fresh period. */
  private deadlines = new Map<string, number>();
  private sweeper: NodeJS.Timeout | null = null;

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

  start(): void {
    // Takeover: claims that carry no lease of ours get a fresh one from now.
    const now = Date.now();
    for (const agent of this.store.heldIndex().keys()) this.deadlines.set(agent, now + this.opts.leaseMs);
    const every = Math.max(50, Math.min(1000, Math.floor(this.opts.leaseMs / 4)));
    this.sweeper = setInterval(() => void this.sweep(), every);
    this.sweeper.unref();
  }

  stop(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
  }

  touch(agentId: string): void {
    this.deadlines.set(agentId, Date.now() + this.opts.leaseMs);
  }

  leaseDeadline(agentId: string): number | undefined {
    return this.deadlines.get(agentId);
  }

  private async run<T>(operation: string, cause: ChangeCause, fn: (ctx: rules.OpContext) => rules.OpResult<T>, trace?: Trace): Promise<{ result: T; revision: number | null }> {
    const started = process.hrtime.bigint();
    const startedNs = BigInt(Date.now()) * 1_000_000n;
    // Objects built field by field, not spread: a spread copy gets a hidden class of its own in V8.
    const full: ChangeCause = withFields(cause, { op: operation });
    if (trace) full.trace_id = trace.trace_id;
    try {
      const out = await this.store.transact((view: ReadView) => fn({ view, now: isoSeconds(), trace }), full);
      const event: OpEvent = { operation, outcome: out.revision === null ? 'idempotent' : 'ok', seconds: Number(process.hrtime.bigint() - started) / 1e9, error: undefined, revision: out.revision, agent_id: cause.agent_id, work_id: cause.work_id, trace, started_ns: startedNs };
      this.emit('op', event);
      return out;
    } catch (err) {
      const code = err instanceof ApiError ? err.code : 'internal_error';
      const outcome = err instanceof ApiError && err.status === 409 ? 'conflict' : 'error';
      const event: OpEvent = { operation, outcome, seconds: Number(process.hrtime.bigint() - started) / 1e9, error: code, revision: null, agent_id: cause.agent_id, work_id: cause.work_id, trace, started_ns: startedNs };
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

  createWork(input: rules.WorkInput, trace?: Trace) {
    return this.run('create_work', { op: 'create_work', source: 'api', work_id: input.work_id }, (ctx) => rules.createWork(ctx, input), trace);
  }

  claim(input: rules.WorkInput & { work_id: string; agent_id: string; expected_version?: number }, trace?: Trace) {
    // Any call by an agent is proof of life; refresh before the claim so a new claim has a full lease.
    this.touch(input.agent_id);
    return this.run('claim', { op: 'claim', source: 'api', agent_id: input.agent_id, work_id: input.work_id }, (ctx) => rules.claim(ctx, input), trace);
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

  private async holderOp<T>(op: string, input: rules.HolderInput, fn: (ctx: rules.OpContext) => rules.OpResult<T>, trace?: Trace) {
    const out = await this.run(op, { op, source: 'api', agent_id: input.agent_id, work_id: input.work_id }, fn, trace);
    this.touch(input.agent_id); // only a holder gets here: refresh its lease
    return out;
  }

  /** The latest time the records show the agent alive: heartbeat, claim or progress (ms; 0 if none). */
  private lastSignOfLife(agentId: string): number {
    const stamps: unknown[] = [this.store.get('agents', agentId)?.data.last_heartbeat];
    for (const workId of this.store.heldIndex().get(agentId) ?? []) {
      const data = this.store.get('work', workId)?.data;
      stamps.push(data?.claimed_at, data?.last_update);
    }
    let latest = 0;
    for (const s of stamps) {
      const t = typeof s === 'string' ? Date.parse(s) : NaN;
      if (Number.isFinite(t) && t > latest) latest = t;
    }
    return latest;
  }

  /** Releases the claims of agents whose lease ran out. One revision per agent. */
  async sweep(): Promise<number> {
    const now = Date.now();
    let expired = 0;
    for (const agent of [...this.store.heldIndex().keys()]) {
      const deadline = this.deadlines.get(agent);
      if (deadline === undefined) {
        this.deadlines.set(agent, now + this.opts.leaseMs); // held via an external edit: give it a period
        continue;
      }
      if (deadline > now) continue;
      // Another daemon (shared store) may have seen this agent alive: its records say so.
      const seen = this.lastSignOfLife(agent);
      if (seen + this.opts.leaseMs > now) {
        this.deadlines.set(agent, seen + this.opts.leaseMs);
        continue;
      }
      try {
        const out = await this.store.transact((view) => rules.expireLease({ view, now: isoSeconds() }, agent), { op: 'lease_expired', source: 'lease', agent_id: agent });
        if (out.result.released.length > 0) {
          expired += out.result.released.length;
          this.opts.logger.warn({ agent_id: agent, work_ids: out.result.released, revision: out.revision }, 'lease expired: claims released');
          this.emit('lease_expired', { agent_id: agent, work_ids: out.result.released, revision: out.revision });
        }
      } catch (err) {
        this.opts.logger.error({ err: (err as Error).message }, 'lease sweep failed');
        return expired;
      }
    }
    return expired;
  }
}
