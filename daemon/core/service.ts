// The coordination service: binds the pure rules (coordinator.ts) to a store, and keeps leases.
// Every operation is one store transaction; its outcome is reported to `observe` for metrics/traces.
import { isoSeconds } from '../../shared/ids.js';
import type { ChangeCause, JsonObject } from '../../shared/types.js';
import { ApiError } from '../errors.js';
import type { FileStore, Logger, ReadView } from '../store/file-store.js';
import * as rules from './coordinator.js';

export type Outcome = 'ok' | 'conflict' | 'error' | 'idempotent';

export interface ServiceOptions {
  leaseMs: number;
  logger: Logger;
  observe?: (operation: string, outcome: string, seconds: number, error?: string) => void;
  onLeaseExpired?: (agentId: string, workIds: string[]) => void;
}

export interface Trace {
  trace_id: string;
  span_id: string;
}

export class CoordinationService {
  /** Lease deadline per agent (ms). Not persisted: after a restart every holder gets a fresh period. */
  private deadlines = new Map<string, number>();
  private sweeper: NodeJS.Timeout | null = null;

  constructor(
    readonly store: FileStore,
    private opts: ServiceOptions,
  ) {}

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
    try {
      const out = await this.store.transact((view: ReadView) => fn({ view, now: isoSeconds(), trace }), { ...cause, op: operation, ...(trace ? { trace_id: trace.trace_id } : {}) });
      this.opts.observe?.(operation, out.revision === null ? 'idempotent' : 'ok', Number(process.hrtime.bigint() - started) / 1e9);
      return out;
    } catch (err) {
      const code = err instanceof ApiError ? err.code : 'internal_error';
      const outcome = err instanceof ApiError && err.status === 409 ? 'conflict' : 'error';
      this.opts.observe?.(operation, outcome, Number(process.hrtime.bigint() - started) / 1e9, code);
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
      try {
        const out = await this.store.transact((view) => rules.expireLease({ view, now: isoSeconds() }, agent), { op: 'lease_expired', source: 'lease', agent_id: agent });
        if (out.result.released.length > 0) {
          expired += out.result.released.length;
          this.opts.logger.warn({ agent_id: agent, work_ids: out.result.released, revision: out.revision }, 'lease expired: claims released');
          this.opts.onLeaseExpired?.(agent, out.result.released);
        }
      } catch (err) {
        this.opts.logger.error({ err: (err as Error).message }, 'lease sweep failed');
        return expired;
      }
    }
    return expired;
  }
}

export type { JsonObject };
