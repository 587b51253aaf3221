// The coordination rules, pure: each operation reads the current records through a ReadView and
// returns the record changes to commit (or throws an ApiError). No I/O, no clock of its own.
import { ApiError } from '../errors.js';
import { generateId } from '../../shared/ids.js';
import type { Entry, Json, JsonObject } from '../../shared/types.js';
import { isClaimable, isHeld, withFields } from '../../shared/types.js';
import type { ReadView } from '../store/file-store.js';
import type { ProposedChange } from '../store/ingest.js';
import { estimateLeaseMs, type LeaseLimits } from './leases.js';
import { textOf } from '../../shared/text.js';

export interface OpContext {
  view: ReadView;
  /** ISO UTC seconds, the legacy timestamp format. */
  now: string;
  trace?: { trace_id: string; span_id: string };
}

export interface OpResult<T> {
  changes: ProposedChange[];
  result: T;
}

export interface RegisterInput {
  agent_id?: string;
  team?: string;
  specialization?: string;
  capacity?: number;
  status?: string;
}

export interface WorkInput {
  work_id?: string;
  work_type?: string;
  description?: string;
  priority?: string;
  team?: string;
  estimated_duration?: string;
  created_by?: string;
}

export interface HolderInput {
  work_id: string;
  agent_id: string;
  fencing_token?: number;
  expected_version?: number;
}

const DEFAULT_TEAM = 'autonomous_team';

function strip<T extends Record<string, unknown>>(obj: T): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(obj)) if (v !== undefined) out[k] = v as Json;
  return out;
}

function checkVersion(entry: Entry | undefined, expected: number | undefined): void {
  if (expected !== undefined && (entry?.v ?? 0) !== expected) {
    throw new ApiError('version_conflict', undefined, { current_version: entry?.v ?? 0 });
  }
}

export function newAgentData(input: RegisterInput, now: string, id: string): JsonObject {
  return strip({
    agent_id: id,
    team: input.team ?? DEFAULT_TEAM,
    status: input.status ?? 'active',
    capacity: input.capacity ?? 100,
    current_workload: 0,
    specialization: input.specialization ?? 'general_development',
    last_heartbeat: now,
    performance_metrics: { tasks_completed: 0, average_completion_time: '0m', success_rate: 100.0 },
  });
}

export function register(ctx: OpContext, input: RegisterInput): OpResult<{ agent: JsonObject; created: boolean }> {
  const id = input.agent_id ?? generateId('agent');
  const existing = ctx.view.get('agents', id);
  if (!existing) {
    const data = newAgentData(input, ctx.now, id);
    return { changes: [{ section: 'agents', key: id, op: 'put', data }], result: { agent: data, created: true } };
  }
  // Re-registering is idempotent; given fields that differ are updated.
  const updates = strip({ team: input.team, specialization: input.specialization, capacity: input.capacity, status: input.status });
  const changed = Object.entries(updates).some(([k, v]) => existing.data[k] !== v);
  if (!changed) return { changes: [], result: { agent: existing.data, created: false } };
  const data = withFields(existing.data, Object.assign(updates, { last_heartbeat: ctx.now }));
  return { changes: [{ section: 'agents', key: id, op: 'put', data }], result: { agent: data, created: false } };
}

export function heartbeat(ctx: OpContext, agentId: string, input: { status?: string; current_workload?: number }): OpResult<{ agent: JsonObject }> {
  const existing = ctx.view.get('agents', agentId);
  if (!existing) throw new ApiError('unknown_agent', `agent ${agentId} is not registered: POST /api/agents first`);
  const data = withFields(existing.data, Object.assign(strip(input), { last_heartbeat: ctx.now }));
  return { changes: [{ section: 'agents', key: agentId, op: 'put', data }], result: { agent: data } };
}

function newWorkData(ctx: OpContext, id: string, input: WorkInput): JsonObject {
  return strip({
    work_item_id: id,
    agent_id: null,
    claimed_at: null,
    estimated_duration: input.estimated_duration,
    work_type: input.work_type ?? 'general',
    priority: input.priority ?? 'medium',
    description: input.description ?? '',
    status: 'pending',
    team: input.team ?? DEFAULT_TEAM,
    created_at: ctx.now,
    created_by: input.created_by,
  });
}

export function createWork(ctx: OpContext, input: WorkInput): OpResult<{ work: JsonObject }> {
  const id = input.work_id ?? generateId('work');
  if (ctx.view.get('work', id)) throw new ApiError('work_already_exists', `work item ${id} exists already`);
  const data = newWorkData(ctx, id, input);
  return { changes: [{ section: 'work', key: id, op: 'put', data }], result: { work: data } };
}

export interface ClaimInput extends WorkInput {
  work_id: string;
  agent_id: string;
  expected_version?: number;
  /** This claim's lease (ms), instead of the default; at most limits.maxMs. */
  lease_ms?: number;
  /** Size the lease from the item's estimated_duration (claims of agents that do not heartbeat). */
  lease_from_estimate?: boolean;
}

export interface ClaimResult {
  claim: JsonObject;
  idempotent: boolean;
}

/** Compare-and-set: exactly one agent holds a work item. Unknown items are created and claimed at once. */
export function claim(ctx: OpContext, input: ClaimInput, limits: LeaseLimits): OpResult<ClaimResult> {
  if (input.lease_ms !== undefined && input.lease_from_estimate) throw new ApiError('invalid_request', 'give lease_ms or lease_from_estimate, not both');
  if (input.lease_ms !== undefined && input.lease_ms > limits.maxMs) {
    throw new ApiError('lease_too_long', `lease_ms ${input.lease_ms} is over the daemon's maximum of ${limits.maxMs} ms (--max-lease-ms)`, {
      max_lease_ms: limits.maxMs,
    });
  }
  const changes: ProposedChange[] = [];
  const existing = ctx.view.get('work', input.work_id);
  checkVersion(existing, input.expected_version);
  let base: JsonObject;
  if (existing) {
    const data = existing.data;
    if (isHeld(data)) {
      if (data.agent_id === input.agent_id) return { changes: [], result: { claim: data, idempotent: true } };
      throw new ApiError('work_already_claimed', `work item ${input.work_id} is held by another agent`, { holder: data.agent_id });
    }
    if (!isClaimable(data)) throw new ApiError('work_not_claimable', `work item ${input.work_id} is ${textOf(data.status)}`);
    base = data;
  } else {
    base = newWorkData(ctx, input.work_id, input);
  }
  if (!ctx.view.get('agents', input.agent_id)) {
    // The legacy helper registered unknown agents on their first claim; so do we.
    const agent = newAgentData({ team: input.team }, ctx.now, input.agent_id);
    changes.push({ section: 'agents', key: input.agent_id, op: 'put', data: agent });
  }
  const data: JsonObject = withFields(base, { agent_id: input.agent_id, claimed_at: ctx.now, status: 'claimed', fencing_token: ctx.view.nextFencingToken() });
  // The lease belongs to this claim: a previous holder's does not carry over.
  const leaseMs = input.lease_ms ?? (input.lease_from_estimate ? estimateLeaseMs(base.estimated_duration ?? input.estimated_duration, limits) : undefined);
  if (leaseMs !== undefined) data.lease_ms = leaseMs;
  else delete data.lease_ms;
  if (ctx.trace)
    data.telemetry = withFields(isObj(base.telemetry) ? base.telemetry : {}, {
      trace_id: ctx.trace.trace_id,
      span_id: ctx.trace.span_id,
      operation: 's2s.work.claim',
      service: 'ai-processor',
    });
  changes.push({ section: 'work', key: input.work_id, op: 'put', data });
  return { changes, result: { claim: data, idempotent: false } };
}

function isObj(v: Json | undefined): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The work item, if `agent_id` holds it under the given fencing token; 404/409 otherwise. */
function holderCheck(ctx: OpContext, input: HolderInput): Entry {
  const existing = ctx.view.get('work', input.work_id);
  if (!existing) throw new ApiError('unknown_work', `no work item ${input.work_id}`);
  checkVersion(existing, input.expected_version);
  const data = existing.data;
  if (!isHeld(data) || data.agent_id !== input.agent_id) {
    const extra: Record<string, unknown> = { holder: isHeld(data) ? data.agent_id : null, status: data.status };
    if (data.previous_agent_id === input.agent_id) extra.reason = data.release_reason ?? 'released';
    throw new ApiError('not_claim_holder', `agent ${input.agent_id} does not hold ${input.work_id}`, extra);
  }
  if (input.fencing_token !== undefined && data.fencing_token !== input.fencing_token) {
    throw new ApiError('stale_fencing_token', `fencing token ${input.fencing_token} is not the current one`, { current: data.fencing_token ?? null });
  }
  return existing;
}

export function progress(ctx: OpContext, input: HolderInput & { progress: number; status?: string }): OpResult<{ work: JsonObject }> {
  const existing = holderCheck(ctx, input);
  const data: JsonObject = withFields(existing.data, { progress: input.progress, status: input.status ?? 'in_progress', last_update: ctx.now });
  if (ctx.trace) data.telemetry = withFields(isObj(existing.data.telemetry) ? existing.data.telemetry : {}, { last_progress_trace_id: ctx.trace.trace_id });
  return { changes: [{ section: 'work', key: input.work_id, op: 'put', data }], result: { work: data } };
}

export function complete(
  ctx: OpContext,
  input: HolderInput & { result?: string; velocity_points?: number; status?: 'completed' | 'failed' },
): OpResult<{ work: JsonObject; log: JsonObject }> {
  const existing = holderCheck(ctx, input);
  const status = input.status ?? 'completed';
  const result = input.result ?? (status === 'completed' ? 'success' : 'failed');
  const work: JsonObject = withFields(existing.data, { status, completed_at: ctx.now, result, last_update: ctx.now });
  if (status === 'completed') work.progress = 100;
  const log: JsonObject = {
    work_item_id: input.work_id,
    completed_at: ctx.now,
    agent_id: input.agent_id,
    result,
    velocity_points: input.velocity_points ?? (status === 'completed' ? 5 : 0),
  };
  return {
    changes: [
      { section: 'work', key: input.work_id, op: 'put', data: work },
      { section: 'log', key: ctx.view.nextLogKey(), op: 'put', data: log },
    ],
    result: { work, log },
  };
}

function releasedData(data: JsonObject, now: string, reason: string): JsonObject {
  return withFields(data, { status: 'released', agent_id: null, previous_agent_id: data.agent_id ?? null, released_at: now, release_reason: reason });
}

export function release(ctx: OpContext, input: HolderInput & { reason?: string; force?: boolean }): OpResult<{ work: JsonObject }> {
  let existing: Entry;
  if (input.force) {
    const e = ctx.view.get('work', input.work_id);
    if (!e) throw new ApiError('unknown_work', `no work item ${input.work_id}`);
    if (!isHeld(e.data)) return { changes: [], result: { work: e.data } };
    existing = e;
  } else {
    existing = holderCheck(ctx, input);
  }
  const data = releasedData(existing.data, ctx.now, input.reason ?? (input.force ? 'released_by_operator' : 'released'));
  return { changes: [{ section: 'work', key: input.work_id, op: 'put', data }], result: { work: data } };
}

/**
 * Releases the claims of an agent whose lease ran out (`expired` decides, at the moment of the
 * change); its later calls get 409 not_claim_holder.
 */
export function expireLease(ctx: OpContext, agentId: string, expired: (workId: string, data: JsonObject) => boolean): OpResult<{ released: string[] }> {
  const changes: ProposedChange[] = [];
  const released: string[] = [];
  for (const workId of [...ctx.view.heldBy(agentId)]) {
    const e = ctx.view.get('work', workId);
    if (!e || !isHeld(e.data) || e.data.agent_id !== agentId || !expired(workId, e.data)) continue;
    changes.push({ section: 'work', key: workId, op: 'put', data: releasedData(e.data, ctx.now, 'lease_expired') });
    released.push(workId);
  }
  return { changes, result: { released } };
}
