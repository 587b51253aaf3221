// A Claude Code session's usage (tokens, cost, ...) from its OTLP data points, on its agent record
// (pure). Delta points add; a cumulative series counts its latest value. Each series keeps a cursor on
// the agent (start, time, value of the last point counted), so a retried export, or the first export
// after a daemon restart, is never counted twice.
import type { Json, JsonObject } from '../types.js';
import { withFields } from '../types.js';
import type { UsagePoint, UsageField } from './otlp-points.js';

export interface TokenUsage {
  input: number;
  output: number;
  cache_read: number;
  cache_creation: number;
}

export interface Usage {
  cost_usd: number;
  tokens: TokenUsage;
  active_s: number;
  lines_added: number;
  lines_removed: number;
  commits: number;
  pull_requests: number;
}

/** Series cursor: start and time of the last counted point (ns, decimal strings) and its value. */
export type Cursor = [start: string, time: string, value: number];

/** Series kept per agent; beyond it the least recently updated is dropped (a session has a few dozen). */
export const MAX_SERIES = 64;

export interface Budgets {
  /** USD per agent (session), 0 = none. */
  usd_per_agent: number;
}

export interface UsageStep {
  agent: JsonObject;
  /** What this step added, per figure (only figures that moved). */
  added: Partial<Record<UsageField, number>>;
  counted: number;
  /** Points already counted (a retried export, an older point of a series). */
  duplicates: number;
  /** The agent went over its budget with this step. */
  crossed_budget: boolean;
}

const TOKEN_FIELDS = new Set<UsageField>(['input', 'output', 'cache_read', 'cache_creation']);

export function emptyUsage(): Usage {
  return {
    cost_usd: 0,
    tokens: { input: 0, output: 0, cache_read: 0, cache_creation: 0 },
    active_s: 0,
    lines_added: 0,
    lines_removed: 0,
    commits: 0,
    pull_requests: 0,
  };
}

const num = (v: Json | undefined): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const isObj = (v: Json | undefined): v is JsonObject => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The usage an agent record carries (zeros for what it lacks). */
export function usageOf(agent: JsonObject | undefined): Usage {
  const u = agent && isObj(agent.usage) ? agent.usage : {};
  const t = isObj(u.tokens) ? u.tokens : {};
  return {
    cost_usd: num(u.cost_usd),
    tokens: { input: num(t.input), output: num(t.output), cache_read: num(t.cache_read), cache_creation: num(t.cache_creation) },
    active_s: num(u.active_s),
    lines_added: num(u.lines_added),
    lines_removed: num(u.lines_removed),
    commits: num(u.commits),
    pull_requests: num(u.pull_requests),
  };
}

/** Today's cost of an agent (UTC day `date`), 0 when its figure is from another day. */
export function costOnDay(agent: JsonObject | undefined, date: string): number {
  const d = agent && isObj(agent.usage_day) ? agent.usage_day : null;
  return d && d.date === date ? num(d.cost_usd) : 0;
}

function cursorsOf(agent: JsonObject): Record<string, Cursor> {
  const out: Record<string, Cursor> = {};
  const raw = agent.usage_series;
  if (!isObj(raw)) return out;
  for (const [k, v] of Object.entries(raw)) {
    if (Array.isArray(v) && v.length === 3 && typeof v[0] === 'string' && typeof v[1] === 'string' && typeof v[2] === 'number') out[k] = [v[0], v[1], v[2]];
  }
  return out;
}

/** How much a point adds given its series' cursor (0 and false when it was counted already). */
export function contribution(point: UsagePoint, cursor: Cursor | undefined): { add: number; fresh: boolean } {
  if (!cursor) return { add: point.value, fresh: true };
  const start = BigInt(cursor[0]);
  const time = BigInt(cursor[1]);
  if (point.temporality === 'delta') {
    // Delta intervals follow each other: one that ends no later than the last counted is a replay.
    return point.time <= time ? { add: 0, fresh: false } : { add: point.value, fresh: true };
  }
  if (point.start === start) {
    // The SDK stamps a collection with Date.now(): two collections in one millisecond share a time,
    // and the later one's higher value is new. A replay repeats the value.
    if (point.time < time || (point.time === time && point.value <= cursor[2])) return { add: 0, fresh: false };
    if (point.time === time) return { add: point.value - cursor[2], fresh: true };
    // A lower value without a new start time is a reset too: the series started over.
    return { add: point.value >= cursor[2] ? point.value - cursor[2] : point.value, fresh: true };
  }
  // A new start time: the series was reset (the process restarted); an older one is a late replay.
  return point.start > start ? { add: point.value, fresh: true } : { add: 0, fresh: false };
}

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;

function add(u: Usage, field: UsageField, n: number): void {
  if (TOKEN_FIELDS.has(field)) u.tokens[field as keyof TokenUsage] += n;
  else (u as unknown as Record<string, number>)[field] += n;
}

/**
 * The agent after its points of one export: usage, cursors, today's cost and the budget mark, in one
 * record (one store change per agent per export). `current` is the record as it is (the caller makes
 * one for a session no hook has announced: telemetry-only setups work).
 */
export function applyUsage(current: JsonObject, points: readonly UsagePoint[], ctx: { now: string; budgets: Budgets }): UsageStep {
  const usage = usageOf(current);
  const cursors = cursorsOf(current);
  const added: Partial<Record<UsageField, number>> = {};
  let counted = 0;
  let duplicates = 0;
  for (const p of points) {
    const { add: n, fresh } = contribution(p, cursors[p.series]);
    if (!fresh) {
      duplicates++;
      continue;
    }
    cursors[p.series] = [String(p.start), String(p.time), p.value];
    counted++;
    if (n > 0) {
      add(usage, p.field, n);
      added[p.field] = (added[p.field] ?? 0) + n;
    }
  }
  const keys = Object.keys(cursors);
  if (keys.length > MAX_SERIES) {
    keys.sort((a, b) => (BigInt(cursors[a][1]) < BigInt(cursors[b][1]) ? -1 : 1));
    for (const k of keys.slice(0, keys.length - MAX_SERIES)) delete cursors[k];
  }
  usage.cost_usd = round(usage.cost_usd, 10);
  usage.active_s = round(usage.active_s, 3);
  const date = ctx.now.slice(0, 10);
  const day = { date, cost_usd: round(costOnDay(current, date) + (added.cost_usd ?? 0), 10) };
  const wasOver = current.over_budget === true;
  const over = ctx.budgets.usd_per_agent > 0 && usage.cost_usd >= ctx.budgets.usd_per_agent;
  const agent = withFields(current, {
    usage: usage as unknown as JsonObject,
    usage_series: cursors as unknown as JsonObject,
    usage_day: day,
    telemetry_at: ctx.now,
  });
  if (over) agent.over_budget = true;
  else if ('over_budget' in agent) delete agent.over_budget;
  return { agent, added, counted, duplicates, crossed_budget: over && !wasOver };
}

export interface UsageTotals extends Usage {
  /** Agents (sessions) with usage. */
  sessions: number;
  /** Cost since 00:00 UTC. */
  cost_today_usd: number;
}

export interface UsageStats {
  fleet: UsageTotals;
  teams: Record<string, UsageTotals>;
  /** Agents marked over their budget. */
  over_budget: number;
}

function emptyTotals(): UsageTotals {
  return { ...emptyUsage(), sessions: 0, cost_today_usd: 0 };
}

function addTotals(t: UsageTotals, u: Usage, today: number): void {
  t.sessions++;
  t.cost_usd = round(t.cost_usd + u.cost_usd, 10);
  t.cost_today_usd = round(t.cost_today_usd + today, 10);
  for (const k of ['input', 'output', 'cache_read', 'cache_creation'] as const) t.tokens[k] += u.tokens[k];
  t.active_s = round(t.active_s + u.active_s, 3);
  t.lines_added += u.lines_added;
  t.lines_removed += u.lines_removed;
  t.commits += u.commits;
  t.pull_requests += u.pull_requests;
}

/** Usage totals for the fleet and per team, over the agents that carry usage. */
export function usageTotals(agents: Iterable<JsonObject>, now: string): UsageStats {
  const date = now.slice(0, 10);
  const out: UsageStats = { fleet: emptyTotals(), teams: {}, over_budget: 0 };
  for (const a of agents) {
    if (!isObj(a.usage)) continue;
    const u = usageOf(a);
    const today = costOnDay(a, date);
    const team = typeof a.team === 'string' ? a.team : 'unassigned';
    addTotals(out.fleet, u, today);
    addTotals((out.teams[team] ??= emptyTotals()), u, today);
    if (a.over_budget === true) out.over_budget++;
  }
  return out;
}

/** Today's cost of one team (for the per-team daily budget). */
export function teamCostOnDay(agents: Iterable<JsonObject>, team: string, date: string): number {
  let sum = 0;
  for (const a of agents) if (a.team === team) sum += costOnDay(a, date);
  return round(sum, 10);
}

/** Agents marked over their budget, and teams whose cost today reached `perTeamDay` (0 = no budget). */
export function overBudgetCounts(agents: Iterable<JsonObject>, now: string, perTeamDay: number): { agent: number; team_day: number } {
  const stats = usageTotals(agents, now);
  const team_day = perTeamDay > 0 ? Object.values(stats.teams).filter((t) => t.cost_today_usd >= perTeamDay).length : 0;
  return { agent: stats.over_budget, team_day };
}
