// The work graph's operations, pure like coordinator.ts: each reads through the ReadView of one
// transaction and returns the record changes to commit, or throws an ApiError (nothing changed).
import { ApiError } from '../errors.js';
import type { JsonObject } from '../../shared/types.js';
import { isClaimable, withFields } from '../../shared/types.js';
import { DEPENDS_ON, dependsOn, findCycle, priorityRank, readiness, type Readiness } from '../../shared/work-graph.js';
import { generateId } from '../../shared/ids.js';
import * as rules from './coordinator.js';
import type { ProposedChange } from '../store/ingest.js';
import type { LeaseLimits } from './leases.js';
import type { NextFilter, WorkIndex } from './work-index.js';

export type GraphWorkInput = rules.WorkInput & { depends_on?: string[] };

function readinessIn(ctx: rules.OpContext, data: JsonObject): Readiness {
  return readiness(data, (id) => ctx.view.get('work', id)?.data);
}

/**
 * Creates items, all or none: every prerequisite must exist already or be one of the items
 * (in any order), and the new items must not depend on each other in a cycle.
 */
export function createWorkItems(ctx: rules.OpContext, items: GraphWorkInput[]): rules.OpResult<{ work: JsonObject[] }> {
  const ids = items.map((it) => it.work_id ?? generateId('work'));
  const seen = new Set<string>();
  for (const id of ids) {
    if (seen.has(id)) throw new ApiError('work_already_exists', `work item ${id} appears twice in the batch`, { work_id: id });
    seen.add(id);
  }
  const edges = new Map<string, string[]>();
  const unknown: Array<{ work_id: string; depends_on: string }> = [];
  items.forEach((it, i) => {
    const deps = [...new Set(it.depends_on ?? [])];
    edges.set(ids[i], deps);
    for (const d of deps) if (!seen.has(d) && !ctx.view.get('work', d)) unknown.push({ work_id: ids[i], depends_on: d });
  });
  if (unknown.length)
    throw new ApiError(
      'unknown_dependency',
      `no work item ${unknown.map((u) => u.depends_on).join(', ')} (listed in depends_on of ${[...new Set(unknown.map((u) => u.work_id))].join(', ')})`,
      { unknown },
    );
  const cycle = findCycle(edges);
  if (cycle) throw new ApiError('dependency_cycle', `dependency cycle: ${cycle.join(' -> ')}`, { cycle });
  const changes: ProposedChange[] = [];
  const work: JsonObject[] = [];
  items.forEach((it, i) => {
    const { depends_on: _deps, ...input } = it;
    const out = rules.createWork(ctx, { ...input, work_id: ids[i] });
    const deps = edges.get(ids[i])!;
    for (const c of out.changes) {
      // Only items that have prerequisites carry the field: the others stay legacy records as they were.
      if (c.section === 'work' && c.key === ids[i] && deps.length) c.data = withFields(c.data!, { [DEPENDS_ON]: deps });
      changes.push(c);
      if (c.section === 'work' && c.key === ids[i]) work.push(c.data!);
    }
  });
  return { changes, result: { work } };
}

/** POST /api/work: one item, with optional prerequisites. */
export function createWorkItem(ctx: rules.OpContext, input: GraphWorkInput): rules.OpResult<{ work: JsonObject }> {
  const out = createWorkItems(ctx, [input]);
  return { changes: out.changes, result: { work: out.result.work[0] } };
}

/** claim by id, refused (409 dependencies_pending) while the item waits for or is blocked by prerequisites. */
export function claimWhenReady(ctx: rules.OpContext, input: rules.ClaimInput, limits: LeaseLimits): rules.OpResult<rules.ClaimResult> {
  const existing = ctx.view.get('work', input.work_id);
  if (existing && isClaimable(existing.data) && dependsOn(existing.data).length) {
    const r = readinessIn(ctx, existing.data);
    if (r.state !== 'ready') {
      throw new ApiError(
        'dependencies_pending',
        `work item ${input.work_id} is ${r.state}: waits for ${[...r.waiting_for, ...r.blocked_by.map((b) => `${b.work_id} (${b.status})`)].join(', ')}`,
        { state: r.state, waiting_for: r.waiting_for, blocked_by: r.blocked_by },
      );
    }
  }
  return rules.claim(ctx, input, limits);
}

export interface ClaimNextInput {
  agent_id: string;
  work_types?: string[];
  teams?: string[];
  min_priority?: string;
  /** The claim's lease, as for claim. */
  lease_ms?: number;
  lease_from_estimate?: boolean;
}

export function nextFilter(input: ClaimNextInput): NextFilter {
  return { work_types: input.work_types, teams: input.teams, min_rank: input.min_priority ? priorityRank(input.min_priority) : 0 };
}

/**
 * Claims the best ready item for the agent, with the claim operation itself (same record, fencing
 * token, lease). The index proposes candidates in order; each is checked against this
 * transaction's view (on PostgreSQL a batch's earlier changes are not in the index yet).
 */
export function claimNext(
  ctx: rules.OpContext,
  limits: LeaseLimits,
  index: WorkIndex,
  input: ClaimNextInput,
): rules.OpResult<(rules.ClaimResult & { work_id: string }) | null> {
  const workId = index.next(nextFilter(input), (id) => {
    const e = ctx.view.get('work', id);
    return e !== undefined && readinessIn(ctx, e.data).state === 'ready';
  });
  if (workId === undefined) return { changes: [], result: null };
  const out = rules.claim(ctx, { work_id: workId, agent_id: input.agent_id, lease_ms: input.lease_ms, lease_from_estimate: input.lease_from_estimate }, limits);
  return { changes: out.changes, result: { ...out.result, work_id: workId } };
}

/** An operator puts a failed item back to pending: its dependents are no longer blocked by it. */
export function retryWork(ctx: rules.OpContext, workId: string): rules.OpResult<{ work: JsonObject }> {
  const e = ctx.view.get('work', workId);
  if (!e) throw new ApiError('unknown_work', `no work item ${workId}`);
  if (e.data.status !== 'failed')
    throw new ApiError('not_retryable', `work item ${workId} is ${JSON.stringify(e.data.status ?? null)}, not failed`, { status: e.data.status ?? null });
  const data = withFields(e.data, { status: 'pending', agent_id: null, previous_agent_id: e.data.agent_id ?? null, retried_at: ctx.now });
  return { changes: [{ section: 'work', key: workId, op: 'put', data }], result: { work: data } };
}

/** An operator drops a prerequisite (e.g. one that failed for good). */
export function removeDependency(ctx: rules.OpContext, workId: string, dep: string): rules.OpResult<{ work: JsonObject }> {
  const e = ctx.view.get('work', workId);
  if (!e) throw new ApiError('unknown_work', `no work item ${workId}`);
  const deps = dependsOn(e.data);
  if (!deps.includes(dep)) throw new ApiError('not_a_dependency', `work item ${workId} does not depend on ${dep}`, { depends_on: deps });
  const data = withFields(e.data, { [DEPENDS_ON]: deps.filter((d) => d !== dep) });
  return { changes: [{ section: 'work', key: workId, op: 'put', data }], result: { work: data } };
}

export { readinessIn };
