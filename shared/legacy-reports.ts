// The Scrum-at-Scale ceremony reports of the legacy helper (dashboard, pi-planning, scrum-of-scrums,
// ...), computed from the live coordination state instead of the legacy's fixed text. Pure: every
// figure is a function of (state, now), so the tests pin both and check exact numbers.
//
// Definitions (the README repeats them):
// - velocity: the sum of `velocity_points` over coordination-log entries (every entry counts, duplicate
//   work ids included: each is a completion record); a team's velocity is attributed through the work
//   item's team, else the completing agent's team.
// - throughput: completions (log entries) per UTC day, over a window of days ending today.
// - blocked: held claims whose status text says so (blocked, impeded, stuck, error, failed, on hold,
//   waiting...). stale: held claims with no activity (last_update, else claimed_at) for `staleAfterH`.
// - team load: held claims of the team against its capacity in items (agent capacity / 25 points per
//   item, the analyzer's rule: a legacy agent with capacity 100 holds 4 items).
// - critical path: the longest chain of unfinished work items linked by `depends_on`
//   (shared/work-graph.ts criticalPath), from the item to start with to the last dependent.
import { ITEM_LOAD } from './builtin-analysis.js';
import type { CoordinationState, JsonObject } from './types.js';
import { isClaimable, isHeld } from './types.js';
import { textOf } from './text.js';
import { criticalPath, readiness } from './work-graph.js';

export const REPORT_KINDS = [
  'dashboard',
  'pi-planning',
  'scrum-of-scrums',
  'innovation-planning',
  'system-demo',
  'inspect-adapt',
  'art-sync',
  'portfolio-kanban',
  'coach-training',
  'value-stream',
] as const;
export type ReportKind = (typeof REPORT_KINDS)[number];
export const REPORT_ALIASES: Record<string, ReportKind> = { ip: 'innovation-planning', ia: 'inspect-adapt', vsm: 'value-stream' };

export interface ReportOptions {
  /** Milliseconds since the epoch (default Date.now()). */
  now?: number;
  /** A held claim without activity for this many hours is stale (default 24). */
  staleAfterH?: number;
  /** Days of the throughput window, ending today (default 7). */
  windowDays?: number;
  /** Sprint length in days: the sprint is the rolling window of this many days ending now (default 14). */
  sprintDays?: number;
}

const DAY = 86_400_000;
const HOUR = 3_600_000;
const NO_TEAM = '(none)';
const UNAVAILABLE = new Set(['offline', 'inactive', 'stopped', 'terminated', 'failed', 'error', 'dead', 'disabled', 'suspended']);
const BLOCKED = /block|imped|stuck|error|fail|hold|waiting/i;
const INNOVATION = /debt|refactor|spike|research|poc|proof|explor|tool|infra|learn|innovat|cleanup|optimi/i;
const PRIORITY_ORDER = ['critical', 'high', 'medium', 'low'];

// ---- small helpers ---------------------------------------------------------------------------

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const round = (n: number, d = 2): number => Math.round(n * 10 ** d) / 10 ** d;
const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const day = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

function time(v: unknown): number | null {
  const s = str(v);
  if (!s) return null;
  const t = Date.parse(s);
  return Number.isFinite(t) ? t : null;
}

/** The nanosecond timestamp of a legacy `work_<ns>` / `agent_<ns>` id, in ms. */
function idTime(id: string): number | null {
  const m = /(\d{16,19})$/.exec(id);
  if (!m) return null;
  const ms = Number(m[1]) / 1e6;
  return ms > Date.UTC(2000, 0) && ms < Date.UTC(2100, 0) ? ms : null;
}

function points(v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : 0;
}

function count<K extends string>(into: Record<K, number>, key: K, by = 1): void {
  into[key] = (into[key] ?? 0) + by;
}

function sortedRecord(r: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(r)
      .sort(([a], [b]) => cmp(a, b))
      .map(([k, v]) => [k, round(v)]),
  );
}

export interface Stats {
  count: number;
  avg_h: number | null;
  median_h: number | null;
  p90_h: number | null;
}

/** Nearest-rank statistics of durations in hours. */
export function durationStats(hours: number[]): Stats {
  if (hours.length === 0) return { count: 0, avg_h: null, median_h: null, p90_h: null };
  const s = [...hours].sort((a, b) => a - b);
  const rank = (q: number) => s[Math.max(0, Math.ceil(q * s.length) - 1)];
  return { count: s.length, avg_h: round(s.reduce((a, b) => a + b, 0) / s.length), median_h: round(rank(0.5)), p90_h: round(rank(0.9)) };
}

function pct(n: number | null): string {
  return n === null ? 'n/a' : `${Math.round(n * 100)}%`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function hours(h: number | null): string {
  if (h === null) return 'n/a';
  if (h < 1) return `${Math.round(h * 60)} min`;
  return h < 48 ? `${round(h, 1)} h` : `${round(h / 24, 1)} days`;
}

// ---- figures ---------------------------------------------------------------------------------

export interface WorkItem {
  work_id: string;
  agent_id: string | null;
  team: string;
  status: string;
  priority: string;
  work_type: string | null;
  description: string | null;
  progress: number | null;
  claimed_at: string | null;
  /** ISO time of the last sign of life (last_update, else claimed_at); null when neither parses. */
  last_activity: string | null;
  /** Hours since last_activity; null when unknown. */
  idle_h: number | null;
}

export interface Completion {
  work_id: string;
  agent_id: string | null;
  team: string;
  completed_at: string | null;
  result: string | null;
  velocity_points: number;
  work_type: string | null;
}

export interface TeamLoad {
  team: string;
  agents: number;
  /** Items the team's available agents can hold: sum of capacity / 25. */
  capacity_items: number;
  held: number;
  open: number;
  /** held / capacity_items; null without capacity. */
  utilization: number | null;
  free_slots: number;
  velocity: number;
  sprint_velocity: number;
  completions: number;
  blocked: number;
  stale: number;
}

export interface Figures {
  generated_at: string;
  options: Required<Omit<ReportOptions, 'now'>>;
  work: {
    total: number;
    held: number;
    open: number;
    completed: number;
    failed: number;
    released: number;
    other: number;
    by_status: Record<string, number>;
    open_by_priority: Record<string, number>;
  };
  agents: { total: number; available: number; by_team: Record<string, number> };
  velocity: {
    total: number;
    completions: number;
    by_team: Record<string, number>;
    sprint: number;
    sprint_by_team: Record<string, number>;
    avg_points_per_completion: number | null;
  };
  throughput: { window_days: number; per_day: Array<{ date: string; completions: number; points: number }>; total: number; per_day_avg: number };
  held: WorkItem[];
  open: WorkItem[];
  blocked: WorkItem[];
  stale: WorkItem[];
  completions: Completion[];
  teams: TeamLoad[];
  lead_time: Stats;
  cycle_time: Stats;
  wait_time: Stats;
  critical_path: CriticalPath;
}

export interface CriticalPathStep {
  work_id: string;
  status: string;
  /** ready / waiting / blocked while open; held / failed / the status otherwise. */
  state: string;
  agent_id: string | null;
  team: string;
  priority: string;
}

/** The longest chain of unfinished dependencies; `length` 0 when no unfinished item waits for another. */
export interface CriticalPath {
  length: number;
  items: CriticalPathStep[];
}

function records(section: CoordinationState[keyof CoordinationState]): Array<{ key: string; data: JsonObject }> {
  return Object.entries(section ?? {}).map(([key, e]) => ({ key, data: e.data }));
}

/** Every figure the reports use, from the coordination state (GET /api/coordination/status `.state`). */
export function computeFigures(state: CoordinationState, opts: ReportOptions = {}): Figures {
  const now = opts.now ?? Date.now();
  const o = { staleAfterH: opts.staleAfterH ?? 24, windowDays: opts.windowDays ?? 7, sprintDays: opts.sprintDays ?? 14 };
  const sprintStart = now - o.sprintDays * DAY;

  const agents = records(state.agents).map(({ key, data }) => ({ id: str(data.agent_id) ?? key, data }));
  const agentTeam = new Map(agents.map((a) => [a.id, str(a.data.team) ?? NO_TEAM]));
  // Every record counts (a legacy file may repeat an id: the store keys the copies id#2, ...); the
  // lookup by id, for the log's work_item_id, takes the first.
  const workRecords = records(state.work).map(({ key, data }) => ({ id: str(data.work_item_id) ?? key, data }));
  const workById = new Map<string, JsonObject>();
  for (const { id, data } of workRecords) if (!workById.has(id)) workById.set(id, data);

  const work: Figures['work'] = {
    total: workRecords.length,
    held: 0,
    open: 0,
    completed: 0,
    failed: 0,
    released: 0,
    other: 0,
    by_status: {},
    open_by_priority: {},
  };
  const held: WorkItem[] = [];
  const open: WorkItem[] = [];
  const leads: number[] = [];
  const cycles: number[] = [];
  const waits: number[] = [];
  for (const { id, data: d } of workRecords) {
    const status = str(d.status) ?? 'pending';
    count(work.by_status, status);
    const claimedAt = time(d.claimed_at);
    const activity = time(d.last_update) ?? claimedAt;
    const item: WorkItem = {
      work_id: id,
      agent_id: str(d.agent_id),
      team: str(d.team) ?? NO_TEAM,
      status,
      priority: str(d.priority)?.toLowerCase() ?? 'medium',
      work_type: str(d.work_type),
      description: str(d.description),
      progress: typeof d.progress === 'number' ? d.progress : null,
      claimed_at: str(d.claimed_at),
      last_activity: activity === null ? null : new Date(activity).toISOString().replace(/\.000Z$/, 'Z'),
      idle_h: activity === null ? null : round(Math.max(0, now - activity) / HOUR),
    };
    if (isHeld(d)) {
      work.held++;
      held.push(item);
    } else if (isClaimable(d)) {
      work.open++;
      count(work.open_by_priority, item.priority);
      open.push(item);
      if (status === 'released') work.released++;
    } else if (status === 'completed' || status === 'done') work.completed++;
    else if (status === 'failed') work.failed++;
    else work.other++;
    // Flow times of finished items: lead = created → completed, cycle = claimed → completed.
    const completedAt = time(d.completed_at);
    if (completedAt !== null && (status === 'completed' || status === 'done')) {
      const created = time(d.created_at) ?? idTime(id);
      if (created !== null && completedAt >= created) leads.push((completedAt - created) / HOUR);
      if (claimedAt !== null && completedAt >= claimedAt) cycles.push((completedAt - claimedAt) / HOUR);
      if (created !== null && claimedAt !== null && claimedAt >= created) waits.push((claimedAt - created) / HOUR);
    }
  }
  const byWorkId = (a: WorkItem, b: WorkItem) => cmp(a.work_id, b.work_id);
  held.sort(byWorkId);
  open.sort((a, b) => PRIORITY_ORDER.indexOf(a.priority) - PRIORITY_ORDER.indexOf(b.priority) || byWorkId(a, b));
  const blocked = held.filter((w) => BLOCKED.test(w.status));
  const stale = held.filter((w) => w.idle_h === null || w.idle_h >= o.staleAfterH);

  // Velocity and throughput from the coordination log.
  const completions: Completion[] = records(state.log)
    .map(({ data }) => {
      const workId = str(data.work_item_id) ?? '';
      const w = workById.get(workId);
      const agentId = str(data.agent_id);
      return {
        work_id: workId,
        agent_id: agentId,
        team: str(w?.team) ?? (agentId ? agentTeam.get(agentId) : undefined) ?? NO_TEAM,
        completed_at: str(data.completed_at),
        result: str(data.result),
        velocity_points: points(data.velocity_points),
        work_type: str(w?.work_type),
      };
    })
    .sort((a, b) => cmp(a.completed_at ?? '', b.completed_at ?? '') || cmp(a.work_id, b.work_id));
  const velocity: Figures['velocity'] = {
    total: 0,
    completions: completions.length,
    by_team: {},
    sprint: 0,
    sprint_by_team: {},
    avg_points_per_completion: null,
  };
  const perDay = new Map<string, { completions: number; points: number }>();
  for (const c of completions) {
    velocity.total += c.velocity_points;
    count(velocity.by_team, c.team, c.velocity_points);
    const t = time(c.completed_at);
    if (t !== null && t > sprintStart && t <= now) {
      velocity.sprint += c.velocity_points;
      count(velocity.sprint_by_team, c.team, c.velocity_points);
    }
    if (t !== null) {
      const d = perDay.get(day(t)) ?? { completions: 0, points: 0 };
      d.completions++;
      d.points += c.velocity_points;
      perDay.set(day(t), d);
    }
  }
  velocity.total = round(velocity.total);
  velocity.sprint = round(velocity.sprint);
  velocity.by_team = sortedRecord(velocity.by_team);
  velocity.sprint_by_team = sortedRecord(velocity.sprint_by_team);
  velocity.avg_points_per_completion = completions.length ? round(velocity.total / completions.length) : null;
  const days: Figures['throughput']['per_day'] = [];
  for (let i = o.windowDays - 1; i >= 0; i--) {
    const date = day(now - i * DAY);
    const d = perDay.get(date);
    days.push({ date, completions: d?.completions ?? 0, points: round(d?.points ?? 0) });
  }
  const windowTotal = days.reduce((s, d) => s + d.completions, 0);

  // Team load: every team that has agents, held or open work, or completions.
  const teams = new Map<string, TeamLoad>();
  const team = (name: string): TeamLoad => {
    let t = teams.get(name);
    if (!t)
      teams.set(
        name,
        (t = {
          team: name,
          agents: 0,
          capacity_items: 0,
          held: 0,
          open: 0,
          utilization: null,
          free_slots: 0,
          velocity: 0,
          sprint_velocity: 0,
          completions: 0,
          blocked: 0,
          stale: 0,
        }),
      );
    return t;
  };
  const byTeam: Record<string, number> = {};
  let available = 0;
  for (const a of agents) {
    const name = str(a.data.team) ?? NO_TEAM;
    count(byTeam, name);
    const status = (str(a.data.status) ?? 'active').toLowerCase();
    if (UNAVAILABLE.has(status)) {
      team(name);
      continue;
    }
    available++;
    const t = team(name);
    t.agents++;
    const cap = typeof a.data.capacity === 'number' && Number.isFinite(a.data.capacity) ? a.data.capacity : 100;
    t.capacity_items += Math.max(0, cap) / ITEM_LOAD;
  }
  for (const w of held) team(w.team).held++;
  for (const w of open) team(w.team).open++;
  for (const w of blocked) team(w.team).blocked++;
  for (const w of stale) team(w.team).stale++;
  for (const c of completions) {
    const t = team(c.team);
    t.completions++;
    t.velocity += c.velocity_points;
  }
  for (const [name, v] of Object.entries(velocity.sprint_by_team)) team(name).sprint_velocity = v;
  const teamList = [...teams.values()]
    .map((t) => ({
      ...t,
      capacity_items: round(t.capacity_items),
      velocity: round(t.velocity),
      utilization: t.capacity_items > 0 ? round(t.held / t.capacity_items, 3) : null,
      free_slots: Math.max(0, Math.floor(t.capacity_items + 1e-9) - t.held),
    }))
    .sort((a, b) => cmp(a.team, b.team));

  return {
    generated_at: new Date(now).toISOString(),
    options: o,
    work: { ...work, by_status: sortedRecord(work.by_status), open_by_priority: sortedRecord(work.open_by_priority) },
    agents: { total: agents.length, available, by_team: sortedRecord(byTeam) },
    velocity,
    throughput: { window_days: o.windowDays, per_day: days, total: windowTotal, per_day_avg: round(windowTotal / o.windowDays) },
    held,
    open,
    blocked,
    stale,
    completions,
    teams: teamList,
    lead_time: durationStats(leads),
    cycle_time: durationStats(cycles),
    wait_time: durationStats(waits),
    critical_path: criticalPathOf(workById),
  };
}

function criticalPathOf(workById: ReadonlyMap<string, JsonObject>): CriticalPath {
  const items = criticalPath(workById).map((id): CriticalPathStep => {
    const d = workById.get(id)!;
    const status = str(d.status) ?? 'pending';
    const r = readiness(d, (x) => workById.get(x));
    return {
      work_id: id,
      status,
      state: r.state !== 'closed' ? r.state : isHeld(d) ? 'held' : status,
      agent_id: isHeld(d) ? str(d.agent_id) : null,
      team: str(d.team) ?? NO_TEAM,
      priority: str(d.priority)?.toLowerCase() ?? 'medium',
    };
  });
  return { length: items.length, items };
}

// ---- calendar --------------------------------------------------------------------------------

/** The program increment of a date: the calendar quarter (UTC), PI_<year>_Q<n>. */
export function programIncrement(now: number): { id: string; start: string; end: string } {
  const d = new Date(now);
  const q = Math.floor(d.getUTCMonth() / 3);
  const start = Date.UTC(d.getUTCFullYear(), q * 3, 1);
  const end = Date.UTC(d.getUTCFullYear(), q * 3 + 3, 1) - DAY;
  return { id: `PI_${d.getUTCFullYear()}_Q${q + 1}`, start: day(start), end: day(end) };
}

// ---- reports ---------------------------------------------------------------------------------

export interface Report {
  report: ReportKind;
  title: string;
  generated_at: string;
  [section: string]: unknown;
}

const brief = (w: WorkItem) => ({
  work_id: w.work_id,
  agent_id: w.agent_id,
  team: w.team,
  status: w.status,
  priority: w.priority,
  work_type: w.work_type,
  description: w.description,
  progress: w.progress,
  idle_h: w.idle_h,
});
const ids = (list: WorkItem[]) => list.map((w) => w.work_id);

function completionsBetween(f: Figures, from: number, to: number): Completion[] {
  return f.completions.filter((c) => {
    const t = time(c.completed_at);
    return t !== null && t > from && t <= to;
  });
}

function sum(list: Completion[]): number {
  return round(list.reduce((s, c) => s + c.velocity_points, 0));
}

/** What every report kind builds from: the figures and the calendar of `now`. */
interface BuildContext {
  state: CoordinationState;
  f: Figures;
  now: number;
  pi: ReturnType<typeof programIncrement>;
  sprintMs: number;
  base: { report: ReportKind; generated_at: string };
  overloaded: TeamLoad[];
  starved: TeamLoad[];
  donors: TeamLoad[];
}

type Lines = (...lines: string[]) => void;

interface ReportSpec {
  build(c: BuildContext): Report;
  /** `x`: the report as built (its sections read loosely). */
  render(r: Report, x: any, push: Lines): void; // eslint-disable-line @typescript-eslint/no-explicit-any -- each kind reads its own sections
}

/** Builds one ceremony report from the state. `kind` may be an alias (ip, ia, vsm). */
export function buildReport(kindOrAlias: string, state: CoordinationState, opts: ReportOptions = {}): Report {
  const kind = REPORT_ALIASES[kindOrAlias] ?? kindOrAlias;
  if (!(REPORT_KINDS as readonly string[]).includes(kind)) throw new Error(`unknown report ${JSON.stringify(kindOrAlias)}`);
  const now = opts.now ?? Date.now();
  const f = computeFigures(state, opts);
  const sprintMs = f.options.sprintDays * DAY;
  const pi = programIncrement(now);
  const base = { report: kind, generated_at: f.generated_at };
  const overloaded = f.teams.filter((t) => t.utilization !== null && t.utilization > 1);
  const starved = f.teams.filter((t) => t.open > 0 && t.free_slots === 0);
  const donors = f.teams.filter((t) => t.free_slots > 0 && t.open === 0);
  return REPORTS[kind].build({ state, f, now, pi, sprintMs, base, overloaded, starved, donors });
}

// ---- text ------------------------------------------------------------------------------------

const MAX_LINES = 20;

function header(icon: string, title: string): string[] {
  const line = `${icon} ${title}`;
  return [line, '='.repeat(Math.max(10, [...title].length + 3))];
}

function more<T>(list: T[], fmt: (x: T) => string, max = MAX_LINES): string[] {
  const out = list.slice(0, max).map(fmt);
  if (list.length > max) out.push(`  … and ${list.length - max} more`);
  return out;
}

const MAX_PATH_STEPS = 8;

function pathStep(s: CriticalPathStep): string {
  return `${s.work_id} (${s.state === 'held' ? `held by ${s.agent_id ?? '?'}` : s.state})`;
}

/** One line naming the critical path; a long one keeps its first steps and its end. */
function criticalPathLine(cp: CriticalPath): string {
  if (cp.length === 0) return '  🧭 Critical path: none (no unfinished item waits for another)';
  const steps =
    cp.length > MAX_PATH_STEPS
      ? [...cp.items.slice(0, MAX_PATH_STEPS - 1).map(pathStep), `… ${cp.length - MAX_PATH_STEPS} more`, pathStep(cp.items[cp.length - 1])]
      : cp.items.map(pathStep);
  return `  🧭 Critical path (${plural(cp.length, 'item')}): ${steps.join(' → ')}`;
}

/** What to do about the head of the critical path, for the action lists. */
export function criticalPathAction(cp: CriticalPath): string[] {
  if (cp.length === 0) return [];
  const h = cp.items[0];
  const tail = `it heads the critical path (${plural(cp.length, 'item')}, ending at ${cp.items[cp.length - 1].work_id})`;
  if (h.state === 'held') return [`Keep ${h.work_id} (held by ${h.agent_id ?? '?'}) moving: ${tail}`];
  if (h.state === 'ready') return [`Start ${h.work_id} (${h.team}, ${h.priority}): ${tail}`];
  if (h.state === 'blocked') return [`Unblock ${h.work_id} (a prerequisite is missing): ${tail}`];
  return [`Retry or replace ${h.work_id} (${h.status}): ${tail}`];
}

/** The readable text of a report (what the legacy helper printed, with live figures). */
export function renderReport(r: Report): string {
  const x = r as any; // eslint-disable-line @typescript-eslint/no-explicit-any -- each report kind's renderer reads its own fields of the report
  const out: string[] = [];
  const push = (...l: string[]) => out.push(...l);
  REPORTS[r.report].render(r, x, push);
  return out.join('\n') + '\n';
}

/** Every report kind: how it is built from the figures and how it reads as text (one entry each). */
const REPORTS: Record<ReportKind, ReportSpec> = {
  dashboard: {
    build({ f, pi, base }) {
      return {
        ...base,
        title: 'SCRUM AT SCALE DASHBOARD',
        pi,
        agents: f.agents,
        work: f.work,
        active_work: f.held.map(brief),
        velocity: { total: f.velocity.total, completions: f.velocity.completions, sprint: f.velocity.sprint, by_team: f.velocity.by_team },
        throughput: f.throughput,
        blocked: f.blocked.length,
        stale: f.stale.length,
        teams: f.teams,
        critical_path: f.critical_path,
      };
    },
    render(r, x, push) {
      push(...header('🚀', r.title), '', `🎯 CURRENT PROGRAM INCREMENT (PI): ${x.pi.id} (${x.pi.start} to ${x.pi.end})`, '');
      push('👥 AGENT TEAMS & STATUS:', `  📊 Active Agents: ${x.agents.available} of ${x.agents.total}`);
      push(
        ...more(
          x.teams as TeamLoad[],
          (t) => `  🤖 ${t.team}: ${plural(t.agents, 'agent')}, ${t.held} held / ${t.capacity_items} capacity (${pct(t.utilization)})`,
        ),
      );
      push('', '📋 ACTIVE WORK:', `  📊 Active Work Items: ${x.work.held} (open ${x.work.open}, completed ${x.work.completed})`);
      push(
        ...more(
          x.active_work as ReturnType<typeof brief>[],
          (w) =>
            `  🔧 ${w.work_id}: ${w.description ? `${w.description} ` : ''}(${w.work_type ?? 'n/a'}, ${w.priority}) ${w.agent_id ?? ''}${w.progress !== null ? ` ${w.progress}%` : ''} [${w.status}]`,
        ),
      );
      push(
        '',
        '📈 VELOCITY & METRICS:',
        `  📊 Total Velocity: ${x.velocity.total} story points (${x.velocity.completions} completions)`,
        `  📊 Sprint Velocity: ${x.velocity.sprint} story points`,
      );
      push(
        `  ⚡ Throughput: ${x.throughput.total} completions in ${x.throughput.window_days} days (${x.throughput.per_day_avg}/day)`,
        `  🚧 Blocked: ${x.blocked} | ⏳ Stale: ${x.stale}`,
        criticalPathLine(x.critical_path),
      );
    },
  },
  'pi-planning': {
    build({ f, pi, base }) {
      const sprints = 4;
      const avg = f.velocity.avg_points_per_completion ?? 5;
      const capacity = f.teams
        .filter((t) => t.agents > 0 || t.sprint_velocity > 0)
        .map((t) => ({
          team: t.team,
          agents: t.agents,
          sprint_velocity: t.sprint_velocity,
          pi_capacity_points: round(t.sprint_velocity * sprints),
          open_items: t.open,
        }));
      const capacityPoints = round(capacity.reduce((s, t) => s + t.pi_capacity_points, 0));
      const demandPoints = round(f.work.open * avg);
      return {
        ...base,
        title: 'PI PLANNING',
        pi: { ...pi, sprints, sprint_days: f.options.sprintDays },
        objectives: PRIORITY_ORDER.map((p) => ({ priority: p, items: f.open.filter((w) => w.priority === p).map((w) => w.work_id) })).filter(
          (o) => o.items.length > 0,
        ),
        critical_path: f.critical_path,
        capacity,
        totals: {
          capacity_points: capacityPoints,
          open_items: f.work.open,
          avg_points_per_item: avg,
          demand_points: demandPoints,
          fits: demandPoints <= capacityPoints,
        },
      };
    },
    render(r, x, push) {
      push(
        ...header('🎯', r.title),
        '',
        `📋 PI PLANNING FOR: ${x.pi.id} (${x.pi.start} to ${x.pi.end})`,
        `⏱️ Horizon: ${x.pi.sprints} sprints of ${x.pi.sprint_days} days`,
        '',
      );
      push('🏆 PI OBJECTIVES (open work by priority):');
      push(
        ...(x.objectives.length
          ? x.objectives.map(
              (o: { priority: string; items: string[] }) =>
                `  ${o.priority}: ${o.items.length} item${o.items.length === 1 ? '' : 's'} (${o.items.slice(0, 5).join(', ')}${o.items.length > 5 ? ', …' : ''})`,
            )
          : ['  (no open work)']),
        criticalPathLine(x.critical_path),
      );
      push('', '👥 TEAM CAPACITY PLANNING (sprint velocity × sprints):');
      push(
        ...more(
          x.capacity as Array<{ team: string; agents: number; sprint_velocity: number; pi_capacity_points: number }>,
          (t) => `  📋 ${t.team}: ${t.sprint_velocity} pts/sprint × ${x.pi.sprints} = ${t.pi_capacity_points} pts (${plural(t.agents, 'agent')})`,
        ),
      );
      push(
        `  📊 TOTAL ART CAPACITY: ${x.totals.capacity_points} story points`,
        `  📦 DEMAND: ${plural(x.totals.open_items, 'open item')} × ${x.totals.avg_points_per_item} pts = ${x.totals.demand_points} pts`,
        '',
      );
      push(
        x.totals.fits
          ? `🎯 PI PLANNING COMPLETE - the open work fits the capacity of ${x.pi.id}`
          : `⚠️ PI PLANNING: the open work exceeds the capacity of ${x.pi.id} by ${round(x.totals.demand_points - x.totals.capacity_points)} pts`,
      );
    },
  },
  'scrum-of-scrums': {
    build({ f, now, base, overloaded, starved, donors }) {
      const dayAgo = completionsBetween(f, now - DAY, now);
      const teams = f.teams
        .filter((t) => t.held > 0 || t.open > 0 || dayAgo.some((c) => c.team === t.team))
        .map((t) => ({
          team: t.team,
          done_last_24h: dayAgo.filter((c) => c.team === t.team).map((c) => c.work_id),
          in_progress: ids(f.held.filter((w) => w.team === t.team)),
          impediments: [
            ...f.blocked.filter((w) => w.team === t.team).map((w) => ({ work_id: w.work_id, reason: `status ${w.status}` })),
            ...f.stale
              .filter((w) => w.team === t.team && !BLOCKED.test(w.status))
              .map((w) => ({ work_id: w.work_id, reason: w.idle_h === null ? 'no activity recorded' : `no activity for ${hours(w.idle_h)}` })),
          ],
          load: { held: t.held, capacity_items: t.capacity_items, utilization: t.utilization },
        }));
      const actions = [
        ...overloaded.map((t) => `Team ${t.team} holds ${t.held} items for a capacity of ${t.capacity_items}: rebalance or add agents`),
        ...starved.map(
          (t) =>
            `Team ${t.team} has ${plural(t.open, 'open item')} and no free slot${donors.length ? `: borrow from ${donors.map((d) => d.team).join(', ')}` : ''}`,
        ),
        ...(f.blocked.length ? [`Unblock ${f.blocked.length} blocked item${f.blocked.length === 1 ? '' : 's'}: ${ids(f.blocked).slice(0, 5).join(', ')}`] : []),
        ...criticalPathAction(f.critical_path),
      ];
      return {
        ...base,
        title: 'SCRUM OF SCRUMS',
        date: day(now),
        teams,
        critical_path: f.critical_path,
        cross_team_actions: actions,
        figures: { held: f.work.held, open: f.work.open, done_last_24h: dayAgo.length, blocked: f.blocked.length, stale: f.stale.length },
      };
    },
    render(r, x, push) {
      push(...header('🤝', r.title), '', `📅 Date: ${x.date}`, '', '🔄 TEAM UPDATES:');
      for (const t of (
        x.teams as Array<{
          team: string;
          done_last_24h: string[];
          in_progress: string[];
          impediments: Array<{ work_id: string; reason: string }>;
          load: { utilization: number | null };
        }>
      ).slice(0, MAX_LINES)) {
        push(
          '',
          `📋 ${t.team} (${pct(t.load.utilization)} loaded):`,
          `  ✅ Done (24 h): ${t.done_last_24h.length ? t.done_last_24h.slice(0, 5).join(', ') : 'none'}`,
        );
        push(`  🎯 In progress: ${t.in_progress.length ? t.in_progress.slice(0, 5).join(', ') + (t.in_progress.length > 5 ? ', …' : '') : 'none'}`);
        push(
          `  ⚠️ Impediments: ${
            t.impediments.length
              ? t.impediments
                  .slice(0, 3)
                  .map((i) => `${i.work_id} (${i.reason})`)
                  .join('; ')
              : 'none'
          }`,
        );
      }
      push('', '🧭 CRITICAL PATH:', criticalPathLine(x.critical_path));
      push(
        '',
        '🎯 CROSS-TEAM COORDINATION ACTIONS:',
        ...(x.cross_team_actions.length ? x.cross_team_actions.map((a: string, i: number) => `  ${i + 1}. ${a}`) : ['  none needed']),
      );
    },
  },
  'innovation-planning': {
    build({ f, now, base }) {
      const totalCapacity = round(f.teams.reduce((s, t) => s + t.capacity_items, 0));
      const backlog = f.open.filter((w) => INNOVATION.test(`${w.work_type ?? ''} ${w.description ?? ''}`));
      return {
        ...base,
        title: 'INNOVATION AND PLANNING (IP) ITERATION',
        iteration: { start: day(now), end: day(now + 5 * DAY) },
        capacity: { total_items: totalCapacity, innovation_items: round(totalCapacity * 0.2), planning_items: round(totalCapacity * 0.8) },
        innovation_backlog: backlog.map(brief),
        next_pi_open_by_priority: f.work.open_by_priority,
      };
    },
    render(r, x, push) {
      push(...header('💡', r.title), '', `📅 IP Iteration: ${x.iteration.start} - ${x.iteration.end}`, '');
      push(
        `🔬 INNOVATION TIME (20%): ${x.capacity.innovation_items} of ${x.capacity.total_items} item slots`,
        `📋 PLANNING ACTIVITIES (80%): ${x.capacity.planning_items} item slots`,
        '',
      );
      push(
        '🚀 INNOVATION BACKLOG ITEMS:',
        ...(x.innovation_backlog.length
          ? more(
              x.innovation_backlog as ReturnType<typeof brief>[],
              (w) => `  • [${w.work_type ?? 'n/a'}] ${w.work_id}: ${w.description ? `${w.description} ` : ''}(${w.priority})`,
            )
          : ['  (none open)']),
      );
      push(
        '',
        `📊 Open work for the next PI: ${
          Object.entries(x.next_pi_open_by_priority)
            .map(([p, n]) => `${p} ${textOf(n)}`)
            .join(', ') || 'none'
        }`,
      );
    },
  },
  'system-demo': {
    build({ f, now, sprintMs, base }) {
      const delivered = completionsBetween(f, now - sprintMs, now);
      const byTeam: Record<string, { items: number; points: number }> = {};
      for (const c of delivered) {
        byTeam[c.team] ??= { items: 0, points: 0 };
        byTeam[c.team].items++;
        byTeam[c.team].points = round(byTeam[c.team].points + c.velocity_points);
      }
      const failedInSprint = delivered.filter((c) => /fail|error/i.test(c.result ?? '')).length;
      return {
        ...base,
        title: 'SYSTEM DEMO',
        date: day(now),
        window: { from: day(now - sprintMs), to: day(now), days: f.options.sprintDays },
        delivered,
        by_team: Object.fromEntries(Object.entries(byTeam).sort(([a], [b]) => cmp(a, b))),
        metrics: {
          pi_velocity: f.velocity.total,
          sprint_velocity: sum(delivered),
          items_delivered: delivered.length,
          success_rate: delivered.length ? round((delivered.length - failedInSprint) / delivered.length, 3) : null,
        },
      };
    },
    render(r, x, push) {
      push(...header('🎬', r.title), '', `📅 Demo Date: ${x.date} (delivered ${x.window.from} to ${x.window.to})`, '', '🚀 DELIVERED:');
      push(
        ...(x.delivered.length
          ? more(x.delivered as Completion[], (c) => `  ✅ ${c.work_id} (${c.team}, ${c.work_type ?? 'n/a'}): ${c.result ?? ''} - ${c.velocity_points} pts`)
          : ['  (nothing completed in this window)']),
      );
      push(
        '',
        '📊 ART METRICS SUMMARY:',
        `  📈 PI Velocity: ${x.metrics.pi_velocity} story points`,
        `  📈 Sprint Velocity: ${x.metrics.sprint_velocity} story points`,
        `  🎯 Items Delivered: ${x.metrics.items_delivered}`,
        `  ⚡ Success Rate: ${pct(x.metrics.success_rate)}`,
      );
    },
  },
  'inspect-adapt': {
    build({ f, now, pi, sprintMs, base, overloaded }) {
      const piStart = Date.parse(pi.start + 'T00:00:00Z');
      const inPi = completionsBetween(f, piStart - 1, now);
      const failed = inPi.filter((c) => /fail|error/i.test(c.result ?? '')).length;
      const trend = [3, 2, 1, 0].map((i) => {
        const to = now - i * sprintMs;
        const list = completionsBetween(f, to - sprintMs, to);
        return { from: day(to - sprintMs), to: day(to), items: list.length, points: sum(list) };
      });
      const byStatus: Record<string, number> = {};
      for (const w of f.blocked) count(byStatus, w.status);
      const improvements = [
        ...Object.entries(byStatus)
          .sort(([a, x], [b, y]) => y - x || cmp(a, b))
          .map(([s, n]) => `[Process] ${n} held item${n === 1 ? '' : 's'} in status "${s}": find the root cause`),
        ...(f.stale.length
          ? [`[Flow] ${f.stale.length} stale claim${f.stale.length === 1 ? '' : 's'} (no activity for ${f.options.staleAfterH} h): release or finish them`]
          : []),
        ...overloaded.map((t) => `[Team] ${t.team} is at ${pct(t.utilization)} of capacity`),
      ];
      return {
        ...base,
        title: 'INSPECT AND ADAPT (I&A)',
        pi,
        results: { completions: inPi.length, points: sum(inPi), failed, predictability: inPi.length ? round((inPi.length - failed) / inPi.length, 3) : null },
        velocity_trend: trend,
        problems: { blocked_by_status: sortedRecord(byStatus), stale: f.stale.length, overloaded_teams: overloaded.map((t) => t.team) },
        improvement_backlog: improvements,
      };
    },
    render(r, x, push) {
      push(...header('🔍', r.title), '', `📅 ${x.pi.id} (${x.pi.start} to ${x.pi.end})`, '', '📊 PI RESULTS AND METRICS:');
      push(
        `  🎯 Completions: ${x.results.completions} (${x.results.points} points, ${x.results.failed} failed)`,
        `  📈 Predictability: ${pct(x.results.predictability)}`,
        '',
        '📈 VELOCITY TREND (per sprint):',
      );
      push(
        ...x.velocity_trend.map(
          (s: { from: string; to: string; items: number; points: number }) => `  ${s.from} → ${s.to}: ${s.points} pts, ${plural(s.items, 'item')}`,
        ),
      );
      push(
        '',
        '🎯 IMPROVEMENT BACKLOG ITEMS:',
        ...(x.improvement_backlog.length
          ? x.improvement_backlog.map((s: string, i: number) => `  ${i + 1}. ${s}`)
          : ['  none: no blocked, stale or overloaded work']),
      );
    },
  },
  'art-sync': {
    build({ f, now, sprintMs, base, overloaded, starved, donors }) {
      const current = completionsBetween(f, now - sprintMs, now);
      const previous = completionsBetween(f, now - 2 * sprintMs, now - sprintMs);
      const cur = sum(current);
      const prev = sum(previous);
      return {
        ...base,
        title: 'ART SYNC',
        date: day(now),
        risks: [
          ...overloaded.map((t) => ({ level: 'high', risk: `team ${t.team} over capacity (${t.held} held / ${t.capacity_items})` })),
          ...f.blocked.map((w) => ({ level: 'high', risk: `${w.work_id} blocked (${w.status}), team ${w.team}` })),
          ...f.stale
            .filter((w) => !BLOCKED.test(w.status))
            .map((w) => ({
              level: 'medium',
              risk: `${w.work_id} stale (${w.idle_h === null ? 'no activity recorded' : hours(w.idle_h) + ' idle'}), team ${w.team}`,
            })),
        ],
        dependencies: starved.map((t) => ({ team: t.team, open: t.open, needs_capacity: true, can_help: donors.map((d) => d.team) })),
        critical_path: f.critical_path,
        health: {
          wip: f.work.held,
          throughput_per_day: f.throughput.per_day_avg,
          lead_time_median_h: f.lead_time.median_h,
          sprint_velocity: cur,
          previous_sprint_velocity: prev,
          velocity_change: prev > 0 ? round((cur - prev) / prev, 3) : null,
        },
      };
    },
    render(r, x, push) {
      push(...header('🔄', r.title), '', `📅 Date: ${x.date}`, '', '🎯 PROGRAM RISKS:');
      push(
        ...(x.risks.length
          ? more(x.risks as Array<{ level: string; risk: string }>, (k) => `  ${k.level === 'high' ? '🔴 HIGH' : '🟡 MEDIUM'}: ${k.risk}`)
          : ['  none']),
      );
      push(
        '',
        '🔗 CROSS-TEAM DEPENDENCIES:',
        ...(x.dependencies.length
          ? x.dependencies.map(
              (d: { team: string; open: number; can_help: string[] }) =>
                `  📋 ${d.team}: ${plural(d.open, 'open item')}, no free slot${d.can_help.length ? ` (spare capacity: ${d.can_help.join(', ')})` : ''}`,
            )
          : ['  none']),
        criticalPathLine(x.critical_path),
      );
      const h = x.health;
      push('', '📈 ART HEALTH METRICS:', `  📊 WIP: ${h.wip} | Throughput: ${h.throughput_per_day}/day | Lead time (median): ${hours(h.lead_time_median_h)}`);
      push(
        `  📊 Velocity: ${h.sprint_velocity} pts this sprint, ${h.previous_sprint_velocity} the sprint before${h.velocity_change === null ? '' : ` (${h.velocity_change >= 0 ? '+' : ''}${Math.round(h.velocity_change * 100)}%)`}`,
      );
    },
  },
  'portfolio-kanban': {
    build({ state, f, pi, base }) {
      const column = (list: Array<{ work_type: string | null }>) => {
        const byType: Record<string, number> = {};
        for (const w of list) count(byType, w.work_type ?? '(none)');
        return { count: list.length, by_work_type: sortedRecord(byType) };
      };
      const all = [...f.held, ...f.open];
      const done: Array<{ work_type: string | null }> = [];
      const failed: Array<{ work_type: string | null }> = [];
      for (const [, e] of Object.entries(state.work ?? {})) {
        const s = str(e.data.status);
        if (s === 'completed' || s === 'done') done.push({ work_type: str(e.data.work_type) });
        else if (s === 'failed') failed.push({ work_type: str(e.data.work_type) });
      }
      return {
        ...base,
        title: 'PORTFOLIO KANBAN',
        quarter: pi.id,
        columns: {
          funnel: column(f.open),
          implementing: column(f.held),
          done: column(done),
          failed: column(failed),
        },
        wip: all.length - f.open.length,
      };
    },
    render(r, x, push) {
      push(...header('📊', r.title), '', `📅 Quarter: ${x.quarter}`);
      const names: Array<[string, string]> = [
        ['funnel', '📋 FUNNEL (open)'],
        ['implementing', '🚀 IMPLEMENTING (held)'],
        ['done', '✅ DONE'],
        ['failed', '❌ FAILED'],
      ];
      for (const [key, label] of names) {
        const c = x.columns[key];
        push(
          '',
          `${label}: ${c.count}`,
          ...more(
            Object.entries(c.by_work_type as Record<string, number>).sort(([a, m], [b, n]) => n - m || cmp(a, b)),
            ([t, n]) => `  • ${t}: ${n}`,
            8,
          ),
        );
      }
    },
  },
  'coach-training': {
    build({ f, base, overloaded }) {
      const focus = f.teams
        .map((t) => {
          const areas: string[] = [];
          if (t.blocked > 0) areas.push(`impediment removal (${t.blocked} blocked)`);
          if (t.stale > 0) areas.push(`flow and WIP limits (${t.stale} stale)`);
          if (t.utilization !== null && t.utilization > 1) areas.push(`capacity planning (${pct(t.utilization)} loaded)`);
          if (t.agents === 0 && (t.open > 0 || t.held > 0)) areas.push('staffing (work but no available agent)');
          if (t.held > 0 && t.sprint_velocity === 0) areas.push('delivery (held work, nothing completed this sprint)');
          return { team: t.team, areas };
        })
        .filter((t) => t.areas.length > 0);
      return {
        ...base,
        title: 'SCRUM AT SCALE COACH TRAINING',
        coaching_focus: focus,
        signals: {
          blocked: f.blocked.length,
          stale: f.stale.length,
          overloaded_teams: overloaded.length,
          teams_without_agents: f.teams.filter((t) => t.agents === 0 && (t.open > 0 || t.held > 0)).length,
        },
      };
    },
    render(r, x, push) {
      push(...header('🎓', r.title), '', '🎯 COACHING FOCUS (from the live state):');
      push(
        ...(x.coaching_focus.length
          ? more(x.coaching_focus as Array<{ team: string; areas: string[] }>, (t) => `  • ${t.team}: ${t.areas.join('; ')}`)
          : ['  none: no team shows blocked, stale or overloaded work']),
      );
      push(
        '',
        `📈 SIGNALS: ${x.signals.blocked} blocked, ${x.signals.stale} stale, ${x.signals.overloaded_teams} overloaded teams, ${x.signals.teams_without_agents} teams without agents`,
      );
    },
  },
  'value-stream': {
    build({ state, f, now, base }) {
      const throughputPerDay = f.throughput.per_day_avg;
      const perType = new Map<string, { lead: number[]; cycle: number[] }>();
      for (const [, e] of Object.entries(state.work ?? {})) {
        const d = e.data;
        const s = str(d.status);
        const completed = time(d.completed_at);
        if (completed === null || (s !== 'completed' && s !== 'done')) continue;
        const t = perType.get(str(d.work_type) ?? '(none)') ?? { lead: [], cycle: [] };
        const created = time(d.created_at) ?? idTime(str(d.work_item_id) ?? '');
        const claimed = time(d.claimed_at);
        if (created !== null && completed >= created) t.lead.push((completed - created) / HOUR);
        if (claimed !== null && completed >= claimed) t.cycle.push((completed - claimed) / HOUR);
        perType.set(str(d.work_type) ?? '(none)', t);
      }
      const stages = [...perType.entries()]
        .map(([work_type, t]) => ({
          work_type,
          completed: Math.max(t.lead.length, t.cycle.length),
          lead_median_h: durationStats(t.lead).median_h,
          cycle_median_h: durationStats(t.cycle).median_h,
        }))
        .sort((a, b) => b.completed - a.completed || cmp(a.work_type, b.work_type))
        .slice(0, 10);
      const efficiency = f.lead_time.avg_h && f.cycle_time.avg_h !== null ? round(Math.min(1, f.cycle_time.avg_h / f.lead_time.avg_h), 3) : null;
      return {
        ...base,
        title: 'VALUE STREAM MAPPING',
        date: day(now),
        lead_time: f.lead_time,
        cycle_time: f.cycle_time,
        wait_time: f.wait_time,
        flow_efficiency: efficiency,
        wip: f.work.held,
        throughput_per_day: throughputPerDay,
        // Little's law: the lead time the current WIP implies at the current throughput.
        expected_lead_time_days: throughputPerDay > 0 ? round(f.work.held / throughputPerDay) : null,
        by_work_type: stages,
      };
    },
    render(r, x, push) {
      push(...header('🗺️', r.title), '', `📊 Mapping Session Date: ${x.date}`, '', '📊 CURRENT STATE METRICS:');
      push(
        `  ⏱️ Lead time (created → completed): median ${hours(x.lead_time.median_h)}, p90 ${hours(x.lead_time.p90_h)} (${plural(x.lead_time.count, 'item')})`,
      );
      push(
        `  🔧 Cycle time (claimed → completed): median ${hours(x.cycle_time.median_h)}, p90 ${hours(x.cycle_time.p90_h)} (${plural(x.cycle_time.count, 'item')})`,
      );
      push(`  ⏳ Wait time (created → claimed): median ${hours(x.wait_time.median_h)}`, `  📈 Flow efficiency: ${pct(x.flow_efficiency)}`);
      push(
        `  🔄 WIP ${x.wip}, throughput ${x.throughput_per_day}/day${x.expected_lead_time_days === null ? '' : ` → ${x.expected_lead_time_days} days expected lead time (Little's law)`}`,
      );
      push(
        '',
        '🔧 BY WORK TYPE:',
        ...(x.by_work_type.length
          ? x.by_work_type.map(
              (s: { work_type: string; completed: number; lead_median_h: number | null; cycle_median_h: number | null }) =>
                `  • ${s.work_type}: ${s.completed} done, lead ${hours(s.lead_median_h)}, cycle ${hours(s.cycle_median_h)}`,
            )
          : ['  (no completed work)']),
      );
    },
  },
};
