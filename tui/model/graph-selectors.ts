// The work graph in the console: each item's readiness (ready / waiting / blocked, and for what),
// the counts for the header, and an item's prerequisites and dependents as a bounded tree. Pure
// functions of the state the stream keeps; the rules themselves are shared/work-graph.ts's.
import type { CoordinationState, JsonObject } from '../../shared/types.js';
import { isClaimable, isHeld } from '../../shared/types.js';
import { DEPENDS_ON, dependsOn, prereqState, readiness, type PrereqState, type Readiness } from '../../shared/work-graph.js';

const READY: Readiness = Object.freeze({ state: 'ready', waiting_for: [], blocked_by: [] });
const CLOSED: Readiness = Object.freeze({ state: 'closed', waiting_for: [], blocked_by: [] });

/** Records are keyed by work id (the store's key), so a prerequisite is one lookup. */
const lookup =
  (state: CoordinationState) =>
  (id: string): JsonObject | undefined =>
    state.work[id]?.data;

/** An item's readiness; items without prerequisites (every legacy record) skip the graph. */
export function itemReadiness(state: CoordinationState, data: JsonObject): Readiness {
  if (!(DEPENDS_ON in data)) return isClaimable(data) ? READY : CLOSED;
  return readiness(data, lookup(state));
}

/** What an item waits for, short: "✗ a failed; b, c" (failed or missing first), "" when nothing. */
export function waitsForText(r: Readiness): string {
  const blocked = r.blocked_by.map((b) => `✗ ${b.work_id} ${b.status}`).join(', ');
  const waiting = r.waiting_for.join(', ');
  return blocked && waiting ? `${blocked}; ${waiting}` : blocked || waiting;
}

/** The state column: ready / waiting / blocked, "-" for held or finished items. */
export const readinessLabel = (r: Readiness): string => (r.state === 'closed' ? '-' : r.state);

export interface GraphCounts {
  ready: number;
  waiting: number;
  blocked: number;
  /** Items that have prerequisites (0 for a fleet of legacy records: no graph to show). */
  linked: number;
}

let counted: { state: CoordinationState; version: number; counts: GraphCounts } | null = null;

/** Ready, waiting and blocked items over the whole state, counted once per model version. */
export function graphCounts(state: CoordinationState, version: number): GraphCounts {
  if (counted && counted.state === state && counted.version === version) return counted.counts;
  const counts: GraphCounts = { ready: 0, waiting: 0, blocked: 0, linked: 0 };
  const work = state.work;
  for (const key in work) {
    const data = work[key].data;
    if (DEPENDS_ON in data) counts.linked++;
    const s = itemReadiness(state, data).state;
    if (s !== 'closed') counts[s]++;
  }
  counted = { state, version, counts };
  return counts;
}

let reverse: { state: CoordinationState; version: number; dependents: Map<string, string[]> } | null = null;

/** Prerequisite id -> the items that list it, built once per model version (only while a drill-down needs it). */
export function dependentsIndex(state: CoordinationState, version: number): ReadonlyMap<string, readonly string[]> {
  if (reverse && reverse.state === state && reverse.version === version) return reverse.dependents;
  const dependents = new Map<string, string[]>();
  const work = state.work;
  for (const key in work) {
    const data = work[key].data;
    if (!(DEPENDS_ON in data)) continue;
    for (const dep of dependsOn(data)) {
      const list = dependents.get(dep);
      if (list) list.push(key);
      else dependents.set(dep, [key]);
    }
  }
  for (const list of dependents.values()) list.sort();
  reverse = { state, version, dependents };
  return dependents;
}

export interface TreeLimits {
  /** Levels below the item. */
  depth: number;
  /** Children shown per node; the rest are counted. */
  width: number;
  /** Lines per tree, the cut said on the last one. */
  lines: number;
}

export const TREE_LIMITS: TreeLimits = { depth: 6, width: 10, lines: 60 };

export interface TreeLine {
  /** Tree drawing, e.g. "│  └─ ". */
  prefix: string;
  /** Work id; null on "… N more" lines. */
  id: string | null;
  text: string;
}

/** How a node reads in the tree: its status, and its readiness or holder. */
function nodeText(state: CoordinationState, id: string): string {
  const data = state.work[id]?.data;
  if (!data) return `${id}  (missing)`;
  const status = typeof data.status === 'string' && data.status ? data.status : 'pending';
  if (isHeld(data)) return `${id}  ${status} · ${typeof data.agent_id === 'string' ? data.agent_id : '?'}`;
  const r = itemReadiness(state, data);
  if (r.state === 'closed') return `${id}  ${status}`;
  const waits = waitsForText(r);
  return `${id}  ${status} · ${r.state}${waits ? ` (${waits})` : ''}`;
}

/**
 * `root`'s prerequisites (`children` = what a node depends on) or dependents (= who depends on it),
 * depth first, bounded by `limits`. A node already drawn is named again but not expanded (diamonds);
 * one on its own path is marked as a cycle (only an external file edit can write one).
 */
export function dependencyTree(
  state: CoordinationState,
  root: string,
  children: (id: string) => readonly string[],
  limits: TreeLimits = TREE_LIMITS,
): TreeLine[] {
  const out: TreeLine[] = [];
  const expanded = new Set<string>([root]);
  const path = new Set<string>([root]);
  let cut = false;
  const walk = (id: string, depth: number, lead: string): void => {
    const kids = children(id);
    const shown = kids.slice(0, limits.width);
    shown.forEach((kid, i) => {
      if (out.length >= limits.lines) return void (cut = true);
      const last = i === shown.length - 1 && kids.length <= limits.width;
      const prefix = lead + (last ? '└─ ' : '├─ ');
      if (path.has(kid)) return void out.push({ prefix, id: kid, text: `${kid}  (cycle)` });
      if (expanded.has(kid)) return void out.push({ prefix, id: kid, text: `${kid}  (shown above)` });
      out.push({ prefix, id: kid, text: nodeText(state, kid) });
      expanded.add(kid);
      const below = children(kid);
      if (below.length === 0) return;
      if (depth + 1 >= limits.depth) return void out.push({ prefix: lead + (last ? '   ' : '│  ') + '└─ ', id: null, text: `… ${below.length} more below` });
      path.add(kid);
      walk(kid, depth + 1, lead + (last ? '   ' : '│  '));
      path.delete(kid);
    });
    if (kids.length > limits.width && out.length < limits.lines) out.push({ prefix: lead + '└─ ', id: null, text: `… ${kids.length - limits.width} more` });
  };
  walk(root, 0, '');
  if (cut) out.push({ prefix: '', id: null, text: `… cut at ${limits.lines} lines` });
  return out;
}

/** The drill-down's graph section of one item: what it waits for, then both trees. */
export interface GraphDetail {
  status: string;
  /** The agent holding it, null when not held. */
  holder: string | null;
  /** What the item means for its dependents (done, failed, open). */
  outcome: PrereqState;
  readiness: Readiness;
  prerequisites: TreeLine[];
  dependents: TreeLine[];
}

export function graphDetail(state: CoordinationState, version: number, key: string, limits: TreeLimits = TREE_LIMITS): GraphDetail | null {
  const data = state.work[key]?.data;
  if (!data) return null;
  const prereqs = (id: string): readonly string[] => {
    const d = state.work[id]?.data;
    return d ? dependsOn(d) : [];
  };
  const index = dependentsIndex(state, version);
  return {
    status: typeof data.status === 'string' && data.status ? data.status : 'pending',
    holder: isHeld(data) && typeof data.agent_id === 'string' ? data.agent_id : null,
    outcome: prereqState(data),
    readiness: itemReadiness(state, data),
    prerequisites: dependencyTree(state, key, prereqs, limits),
    dependents: dependencyTree(state, key, (id) => index.get(id) ?? [], limits),
  };
}

/** Words the claims filter matches besides the row's own fields: "ready", "blocked", what it waits for. */
export function graphFilterText(state: CoordinationState, data: JsonObject): string {
  const r = itemReadiness(state, data);
  return r.state === 'closed' ? '' : `${r.state} ${waitsForText(r)}`;
}
