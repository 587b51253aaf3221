// The work graph's rules, pure: what an item depends on, whether it is ready, blocked or waiting,
// how ready items are ordered, and cycle detection over a set of new items. Used by the daemon
// (index, claims, routes) and by any client that shows the graph.
import type { Json, JsonObject } from './types.js';
import { PRIORITIES, isClaimable } from './types.js';

/** The record field holding an item's prerequisites (work ids). Legacy records have none. */
export const DEPENDS_ON = 'depends_on';

/** Highest first: the order claim-next hands items out in. */
export const PRIORITY_ORDER = [...PRIORITIES].reverse();

/** critical 3 > high 2 > medium 1 > low 0; free text from legacy files counts as medium. */
export function priorityRank(p: Json | undefined): number {
  const i = typeof p === 'string' ? (PRIORITIES as readonly string[]).indexOf(p) : -1;
  return i === -1 ? 1 : i;
}

/** The prerequisites of a record (ignores anything that is not a list of strings). */
export function dependsOn(data: JsonObject): string[] {
  const deps = data[DEPENDS_ON];
  if (!Array.isArray(deps)) return [];
  const out: string[] = [];
  for (const d of deps) if (typeof d === 'string' && !out.includes(d)) out.push(d);
  return out;
}

/** What a prerequisite means for its dependents. */
export type PrereqState = 'done' | 'failed' | 'open' | 'missing';

const DONE = new Set(['completed', 'done', 'success']);
const FAILED = new Set(['failed', 'cancelled', 'error']);

export function prereqState(data: JsonObject | undefined): PrereqState {
  if (!data) return 'missing';
  const s = typeof data.status === 'string' ? data.status : '';
  if (DONE.has(s)) return 'done';
  if (FAILED.has(s)) return 'failed';
  return 'open';
}

/**
 * ready: open and every prerequisite completed; waiting: some prerequisite not finished yet;
 * blocked: some prerequisite failed or is gone (until it is retried or the dependency removed);
 * closed: held or finished (not claimable whatever its prerequisites).
 */
export type ReadinessState = 'ready' | 'waiting' | 'blocked' | 'closed';

export interface Blocker {
  work_id: string;
  /** The prerequisite's status, or "missing" when no such item exists. */
  status: string;
}

export interface Readiness {
  state: ReadinessState;
  /** Prerequisites not finished yet. */
  waiting_for: string[];
  /** Prerequisites that failed or are missing. */
  blocked_by: Blocker[];
}

export function readiness(data: JsonObject, get: (workId: string) => JsonObject | undefined): Readiness {
  const waiting_for: string[] = [];
  const blocked_by: Blocker[] = [];
  for (const dep of dependsOn(data)) {
    const d = get(dep);
    const s = prereqState(d);
    if (s === 'open') waiting_for.push(dep);
    else if (s !== 'done') blocked_by.push({ work_id: dep, status: d ? (typeof d.status === 'string' ? d.status : 'unknown') : 'missing' });
  }
  const state: ReadinessState = !isClaimable(data) ? 'closed' : blocked_by.length ? 'blocked' : waiting_for.length ? 'waiting' : 'ready';
  return { state, waiting_for, blocked_by };
}

/** Age for ordering: milliseconds of created_at (legacy records may only have claimed_at); 0 when unknown. */
export function ageKey(data: JsonObject): number {
  const s = typeof data.created_at === 'string' ? data.created_at : typeof data.claimed_at === 'string' ? data.claimed_at : '';
  const t = s ? Date.parse(s) : NaN;
  return Number.isFinite(t) ? t : 0;
}

/**
 * A dependency cycle among `edges` (id -> prerequisites; prerequisites outside the map are
 * ignored), as the path that closes it ([a, b, a]), or null. Iterative: a long chain does not
 * overflow the stack.
 */
export function findCycle(edges: ReadonlyMap<string, readonly string[]>): string[] | null {
  const state = new Map<string, 1 | 2>(); // 1 on the current path, 2 finished
  for (const start of edges.keys()) {
    if (state.has(start)) continue;
    const path: string[] = [start];
    const next: number[] = [0];
    state.set(start, 1);
    while (path.length) {
      const id = path[path.length - 1];
      const deps = edges.get(id)!;
      const i = next[next.length - 1]++;
      if (i >= deps.length) {
        state.set(id, 2);
        path.pop();
        next.pop();
        continue;
      }
      const dep = deps[i];
      if (!edges.has(dep)) continue;
      const s = state.get(dep);
      if (s === 1) return [...path.slice(path.indexOf(dep)), dep];
      if (s === 2) continue;
      state.set(dep, 1);
      path.push(dep);
      next.push(0);
    }
  }
  return null;
}

/**
 * The critical path: the longest chain of unfinished items, each waiting for the one before it,
 * from the item to start with to the last dependent (work ids). `items`: work id -> record.
 * Unfinished is anything not completed (a failed item must be retried, so it stays on the path);
 * a finished or missing prerequisite ends a chain. Empty when no unfinished item waits for another.
 * Ties: the chain ending at the smaller work id, and at each step back the smaller prerequisite.
 * Iterative (a 50k-long chain does not overflow the stack); an edge closing a cycle (possible only
 * through an external file edit) is ignored.
 */
export function criticalPath(items: ReadonlyMap<string, JsonObject>): string[] {
  const open = (id: string): boolean => {
    const d = items.get(id);
    return d !== undefined && prereqState(d) !== 'done';
  };
  const openDeps = (id: string): string[] => dependsOn(items.get(id)!).filter(open).sort(byId);
  const len = new Map<string, number>(); // finished: longest chain ending here
  const prev = new Map<string, string>();
  const onPath = new Set<string>();
  for (const start of [...items.keys()].filter(open).sort(byId)) {
    if (len.has(start)) continue;
    const stack: Array<{ id: string; deps: string[]; i: number }> = [{ id: start, deps: openDeps(start), i: 0 }];
    onPath.add(start);
    while (stack.length) {
      const top = stack[stack.length - 1];
      if (top.i < top.deps.length) {
        const dep = top.deps[top.i++];
        if (len.has(dep) || onPath.has(dep)) continue;
        onPath.add(dep);
        stack.push({ id: dep, deps: openDeps(dep), i: 0 });
        continue;
      }
      let best = 0;
      for (const dep of top.deps) {
        const l = len.get(dep); // undefined: an ancestor on the path (a cycle)
        if (l !== undefined && l > best) {
          best = l;
          prev.set(top.id, dep);
        }
      }
      len.set(top.id, best + 1);
      onPath.delete(top.id);
      stack.pop();
    }
  }
  let end: string | null = null;
  for (const [id, l] of len) if (end === null || l > len.get(end)! || (l === len.get(end) && byId(id, end) < 0)) end = id;
  if (end === null || len.get(end)! < 2) return [];
  const path: string[] = [];
  for (let at: string | undefined = end; at !== undefined; at = prev.get(at)) path.push(at);
  return path.reverse();
}

const byId = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
