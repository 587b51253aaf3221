// The built-in priority analyzer: pure and deterministic (the clock is a parameter), so the
// analyze-priorities feature works without any external command, and so its output is the reference
// shape a real analyzer (a script, Claude) is asked to return.
import { isClaimable, isHeld, TERMINAL_WORK_STATUSES, type JsonObject, type Priority } from './types.js';
import { textOf } from './text.js';

export interface PriorityEntry {
  work_id: string;
  score: number;
  reason: string;
  priority: Priority;
  team: string | null;
  work_type: string | null;
  age_s: number | null;
}

export interface Assignment {
  work_id: string;
  agent_id: string;
  reason: string;
}

export interface TeamSummary {
  team: string;
  agents: number;
  free_slots: number;
  claimable: number;
  held: number;
  utilization: number | null;
}

export interface Analysis {
  summary: string;
  work: {
    total: number;
    claimable: number;
    held: number;
    finished: number;
    by_priority: Record<Priority, number>;
    oldest_claimable_age_s: number | null;
  };
  agents: { total: number; available: number; with_spare_capacity: number; capacity: number; load: number; utilization: number | null };
  teams: TeamSummary[];
  bottlenecks: Array<{ team: string; claimable: number; free_slots: number; reason: string }>;
  unassigned: Array<{ work_id: string; reason: string }>;
  recommendations: string[];
}

export interface AnalysisResult {
  analysis: Analysis;
  priorities: PriorityEntry[];
  assignments: Assignment[];
  source: 'builtin' | 'command' | 'claude';
  generated_at: string;
}

/** Records only: the `data` of each entry, whatever shape the caller sent. */
export interface PlainState {
  work: Array<{ id: string; data: JsonObject }>;
  agents: Array<{ id: string; data: JsonObject }>;
}

// Base points per priority class. Age and team load add at most AGE_MAX + LOAD_MAX = 25 points, less
// than the 30-point gap between classes: they reorder work within a class, never across classes.
export const PRIORITY_BASE: Record<Priority, number> = { critical: 100, high: 70, medium: 40, low: 10 };
const AGE_MAX = 15;
const LOAD_MAX = 10;
/** Capacity points one held work item takes. Legacy agents register with capacity 100, i.e. 4 items. */
export const ITEM_LOAD = 25;
const DEFAULT_CAPACITY = 100;
const UNAVAILABLE_AGENT_STATUSES = new Set(['offline', 'inactive', 'stopped', 'failed', 'error', 'dead', 'disabled', 'suspended']);
const NO_TEAM = '(none)';

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const round = (n: number, digits = 2): number => Math.round(n * 10 ** digits) / 10 ** digits;
const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function sectionRecords(section: unknown, idField: string): Array<{ id: string; data: JsonObject }> {
  const out: Array<{ id: string; data: JsonObject }> = [];
  const add = (key: string, value: unknown): void => {
    // A coordination-state entry is {v, rev, data}; anything else is taken as the legacy record itself.
    const data = isObject(value) && isObject(value.data) && typeof value.v === 'number' ? value.data : value;
    if (isObject(data)) out.push({ id: str(data[idField]) ?? key, data });
  };
  if (Array.isArray(section)) section.forEach((v, i) => add(String(i), v));
  else if (isObject(section)) for (const [k, v] of Object.entries(section)) add(k, v);
  return out;
}

/**
 * Accepts the coordination state ({work, agents, log} of entries), the same with plain records or
 * arrays, the legacy file names as keys (work_claims, agent_status), or a bare work_claims array.
 * Returns null for anything else.
 */
export function toPlainState(input: unknown): PlainState | null {
  if (Array.isArray(input)) return { work: sectionRecords(input, 'work_item_id'), agents: [] };
  if (!isObject(input)) return null;
  const work = input.work ?? input.work_claims;
  const agents = input.agents ?? input.agent_status;
  if (work === undefined && agents === undefined) return null;
  return { work: sectionRecords(work, 'work_item_id'), agents: sectionRecords(agents, 'agent_id') };
}

function priorityOf(v: unknown): { priority: Priority; known: boolean } {
  const p = typeof v === 'string' ? v.toLowerCase() : '';
  if (p in PRIORITY_BASE) return { priority: p as Priority, known: true };
  return { priority: 'medium', known: false }; // the legacy helper's default priority
}

/** When the item became open: created_at, else the nanosecond timestamp in a legacy `work_<ns>` id. */
function openedAtMs(id: string, data: JsonObject): number | null {
  for (const f of ['created_at', 'last_update', 'claimed_at']) {
    const t = Date.parse(str(data[f]) ?? '');
    if (Number.isFinite(t)) return t;
  }
  const m = /(\d{16,19})$/.exec(id);
  if (m) {
    const ms = Number(m[1]) / 1e6;
    if (ms > Date.UTC(2000, 0) && ms < Date.UTC(2100, 0)) return ms;
  }
  return null;
}

function formatAge(s: number): string {
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${round(s / 3600, 1)} h`;
  return `${round(s / 86400, 1)} days`;
}

interface AgentView {
  id: string;
  team: string;
  available: boolean;
  capacity: number;
  load: number;
}

export interface BuiltinOptions {
  /** Milliseconds since the epoch; the analysis is a pure function of (state, now). */
  now?: number;
  /** At most this many entries in `priorities` (the counts in `analysis` always cover everything). */
  limit?: number;
}

export function analyzeBuiltin(state: PlainState, opts: BuiltinOptions = {}): AnalysisResult {
  const now = opts.now ?? Date.now();
  const limit = opts.limit ?? 100;

  // Load per agent = max(declared current_workload, held items × ITEM_LOAD): the legacy helper never
  // updates current_workload, so the held claims are the better evidence.
  const heldBy = new Map<string, number>();
  const heldByTeam = new Map<string, number>();
  const work = { total: state.work.length, claimable: 0, held: 0, finished: 0 };
  const claimable: Array<{ id: string; data: JsonObject }> = [];
  for (const w of state.work) {
    if (isHeld(w.data)) {
      work.held++;
      const agent = w.data.agent_id as string;
      heldBy.set(agent, (heldBy.get(agent) ?? 0) + 1);
      const team = str(w.data.team) ?? NO_TEAM;
      heldByTeam.set(team, (heldByTeam.get(team) ?? 0) + 1);
    } else if (isClaimable(w.data)) {
      work.claimable++;
      claimable.push(w);
    } else if ((TERMINAL_WORK_STATUSES as readonly string[]).includes(textOf(w.data.status))) {
      work.finished++;
    }
  }

  const agents: AgentView[] = state.agents
    .map(({ id, data }) => {
      const status = (str(data.status) ?? 'active').toLowerCase();
      const capacity = num(data.capacity) ?? DEFAULT_CAPACITY;
      const load = Math.max(num(data.current_workload) ?? 0, (heldBy.get(id) ?? 0) * ITEM_LOAD);
      return { id, team: str(data.team) ?? NO_TEAM, available: !UNAVAILABLE_AGENT_STATUSES.has(status), capacity, load };
    })
    .sort((a, b) => cmp(a.id, b.id));
  const available = agents.filter((a) => a.available);
  const slots = (a: AgentView): number => Math.max(0, Math.floor((a.capacity - a.load) / ITEM_LOAD));

  // Team pressure: claimable items per free slot in the team. Work of a team that cannot absorb it
  // gets a bump, so it surfaces before it starves.
  const teams = new Map<string, TeamSummary & { capacity: number; load: number }>();
  const team = (name: string) => {
    let t = teams.get(name);
    if (!t)
      teams.set(name, (t = { team: name, agents: 0, free_slots: 0, claimable: 0, held: heldByTeam.get(name) ?? 0, utilization: null, capacity: 0, load: 0 }));
    return t;
  };
  for (const a of available) {
    const t = team(a.team);
    t.agents++;
    t.free_slots += slots(a);
    t.capacity += a.capacity;
    t.load += a.load;
  }
  for (const w of claimable) team(str(w.data.team) ?? NO_TEAM).claimable++;
  for (const name of heldByTeam.keys()) team(name);

  const byPriority: Record<Priority, number> = { critical: 0, high: 0, medium: 0, low: 0 };
  let oldest: number | null = null;
  const ranked = claimable.map(({ id, data }) => {
    const { priority, known } = priorityOf(data.priority);
    byPriority[priority]++;
    const opened = openedAtMs(id, data);
    const ageS = opened === null ? null : Math.max(0, Math.round((now - opened) / 1000));
    if (ageS !== null) oldest = Math.max(oldest ?? 0, ageS);
    const ageBonus = ageS === null ? 0 : Math.min(AGE_MAX, 3 * Math.log2(1 + ageS / 3600));
    const teamName = str(data.team);
    const t = team(teamName ?? NO_TEAM);
    const pressure = t.claimable / Math.max(1, t.free_slots);
    const loadBonus = Math.min(LOAD_MAX, 2 * pressure);
    const reasons = [known ? `${priority} priority` : `priority ${JSON.stringify(data.priority ?? null)} unknown, taken as medium`];
    reasons.push(ageS === null ? 'age unknown' : `waiting ${formatAge(ageS)}`);
    reasons.push(`team ${teamName ?? NO_TEAM}: ${t.claimable} claimable for ${t.free_slots} free slot${t.free_slots === 1 ? '' : 's'}`);
    return {
      entry: {
        work_id: id,
        score: round(PRIORITY_BASE[priority] + ageBonus + loadBonus),
        reason: reasons.join('; '),
        priority,
        team: teamName,
        work_type: str(data.work_type),
        age_s: ageS,
      } satisfies PriorityEntry,
      opened: opened ?? Infinity,
    };
  });
  ranked.sort((a, b) => b.entry.score - a.entry.score || a.opened - b.opened || cmp(a.entry.work_id, b.entry.work_id));

  // Greedy assignment in rank order: an agent of the item's team with the most spare capacity, else
  // one lent by another team, preferring teams with the least of their own work still waiting (an
  // idle team lends before a busy one). Each assignment uses up one slot.
  const spare = new Map(available.map((a) => [a.id, a.capacity - a.load]));
  const waiting = new Map([...teams.values()].map((t) => [t.team, t.claimable]));
  const bySpare = (x: AgentView, y: AgentView) => spare.get(y.id)! - spare.get(x.id)! || cmp(x.id, y.id);
  const byLender = (x: AgentView, y: AgentView) => waiting.get(x.team)! - waiting.get(y.team)! || bySpare(x, y);
  const assignments: Assignment[] = [];
  const unassigned: Analysis['unassigned'] = [];
  for (const { entry } of ranked) {
    const itemTeam = entry.team ?? NO_TEAM;
    waiting.set(itemTeam, waiting.get(itemTeam)! - 1);
    const free = available.filter((a) => spare.get(a.id)! >= ITEM_LOAD);
    const sameTeam = free.filter((a) => entry.team !== null && a.team === entry.team).sort(bySpare)[0];
    const pick = sameTeam ?? free.sort(byLender)[0];
    if (!pick) {
      unassigned.push({ work_id: entry.work_id, reason: 'no available agent has spare capacity' });
      continue;
    }
    const before = spare.get(pick.id)!;
    spare.set(pick.id, before - ITEM_LOAD);
    assignments.push({
      work_id: entry.work_id,
      agent_id: pick.id,
      reason: sameTeam
        ? `same team ${pick.team}, ${before} capacity points spare`
        : `${entry.team === null ? 'work has no team' : teams.get(entry.team)!.agents > 0 ? `no spare capacity in team ${entry.team}` : `no available agent in team ${entry.team}`}; ` +
          `agent of team ${pick.team} has ${before} capacity points spare`,
    });
  }

  const teamList: TeamSummary[] = [...teams.values()]
    .sort((a, b) => cmp(a.team, b.team))
    .map(({ capacity, load, ...t }) => ({ ...t, utilization: capacity > 0 ? round(load / capacity, 3) : null }));
  const bottlenecks = teamList
    .filter((t) => t.claimable > t.free_slots)
    .map((t) => ({
      team: t.team,
      claimable: t.claimable,
      free_slots: t.free_slots,
      reason: t.agents === 0 ? 'no available agent in this team' : `${t.claimable} claimable items for ${t.free_slots} free slots`,
    }));

  const capacity = available.reduce((s, a) => s + a.capacity, 0);
  const load = available.reduce((s, a) => s + a.load, 0);
  const withSpare = available.filter((a) => slots(a) > 0).length;

  const recommendations: string[] = [];
  if (byPriority.critical > 0)
    recommendations.push(
      `Claim the ${byPriority.critical} critical item${byPriority.critical === 1 ? '' : 's'} first: ${ranked
        .filter((r) => r.entry.priority === 'critical')
        .slice(0, 5)
        .map((r) => r.entry.work_id)
        .join(', ')}`,
    );
  if (unassigned.length > 0)
    recommendations.push(
      `Register or free up agents: ${unassigned.length} claimable item${unassigned.length === 1 ? ' has' : 's have'} no agent with spare capacity`,
    );
  for (const b of bottlenecks.slice(0, 5))
    recommendations.push(
      b.team === NO_TEAM ? `Give team-less work a team or spare agents (${b.claimable} items)` : `Add capacity to team ${b.team}: ${b.reason}`,
    );
  if (oldest !== null && oldest > 86400) recommendations.push(`The oldest claimable item has waited ${formatAge(oldest)}: check it is still wanted`);
  if (work.claimable === 0) recommendations.push('No claimable work: create or release work items to keep agents busy');

  const summary =
    `${work.claimable} claimable item${work.claimable === 1 ? '' : 's'} (${byPriority.critical} critical, ${byPriority.high} high), ` +
    `${work.held} held; ${withSpare} of ${agents.length} agents have spare capacity; ` +
    `${assignments.length} assignment${assignments.length === 1 ? '' : 's'} suggested, ${unassigned.length} unassigned`;

  return {
    analysis: {
      summary,
      work: { ...work, by_priority: byPriority, oldest_claimable_age_s: oldest },
      agents: {
        total: agents.length,
        available: available.length,
        with_spare_capacity: withSpare,
        capacity,
        load,
        utilization: capacity > 0 ? round(load / capacity, 3) : null,
      },
      teams: teamList,
      bottlenecks,
      unassigned,
      recommendations,
    },
    priorities: ranked.slice(0, limit).map((r) => r.entry),
    assignments: assignments.slice(0, limit),
    source: 'builtin',
    generated_at: new Date(now).toISOString(),
  };
}
