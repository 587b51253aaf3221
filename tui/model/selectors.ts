// Derived views of the state cache: rows for the panels, with sorting and filtering, the trace tree,
// latency and entropy summaries. Pure functions of their inputs; panels only format what they return.
import type { StatsResponse } from '../../shared/protocol.js';
import type { ShownSpan } from './shown-span.js';
import type { CoordinationState, Entry, Json, JsonObject, RecordChange } from '../../shared/types.js';
import { isHeld, PRIORITIES } from '../../shared/types.js';
import { activityText, costOf, isSession, NEEDS_INPUT, waitingSince } from './sessions.js';

/**
 * What the sparklines need of one /api/stats answer, and when it came. The model keeps a ring of
 * them: the figures only, not the whole answer (services, usage, ...), which the ring would keep
 * a hundred and fifty times over.
 */
export interface StatsSample {
  at: number;
  revision: number;
  /** p99 per operation (ms). */
  p99: Record<string, number>;
  entropyTotal: number | null;
}

export function statsSample(at: number, stats: StatsResponse): StatsSample {
  const p99: Record<string, number> = {};
  for (const [op, l] of Object.entries(stats.latency ?? {})) p99[op] = l.p99_ms;
  return { at, revision: stats.revision, p99, entropyTotal: stats.entropy?.total ?? null };
}

export const LATENCY_TARGET_MS = 100;
import { CONSERVED_MAX, CONSERVED_MIN } from '../../shared/entropy.js';
export { CONSERVED_MAX, CONSERVED_MIN };

export interface ListQuery {
  filter?: string;
  /** Index into the panel's sort list. */
  sort?: number;
  /** Reverse the sort's natural order. */
  desc?: boolean;
}

export interface SortSpec<R> {
  key: string;
  cmp: (a: R, b: R) => number;
}

const str = (v: Json | undefined): string | null => (typeof v === 'string' && v !== '' ? v : null);
const num = (v: Json | undefined): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const byStr = (a: string | null, b: string | null): number => (a === b ? 0 : a === null ? 1 : b === null ? -1 : a < b ? -1 : 1);
/** Nulls last whatever the direction. */
const byNum = (a: number | null, b: number | null): number => (a === b ? 0 : a === null ? 1 : b === null ? -1 : a - b);

/** Legacy timestamps are sometimes malformed (`...33.3NZ`); repair the known form, else null. */
export function parseTime(v: Json | undefined): number | null {
  if (typeof v !== 'string' || v === '') return null;
  const t = Date.parse(v.replace(/(\.\d+)N(Z)$/, '$1$2'));
  return Number.isNaN(t) ? null : t;
}

/** Filter (whitespace-separated terms, all must occur, case-insensitive) then sort. */
export function query<R>(rows: R[], text: (r: R) => string, sorts: readonly SortSpec<R>[], q: ListQuery): R[] {
  const terms = (q.filter ?? '').toLowerCase().split(/\s+/).filter(Boolean);
  const out = terms.length
    ? rows.filter((r) => {
        const t = text(r).toLowerCase();
        return terms.every((x) => t.includes(x));
      })
    : rows.slice();
  const spec = sorts[(q.sort ?? 0) % sorts.length];
  if (spec) out.sort(q.desc ? (a, b) => spec.cmp(b, a) : spec.cmp);
  return out;
}

// ---- agents

export interface AgentRow {
  /** Record key in state.agents. */
  key: string;
  id: string;
  team: string | null;
  status: string | null;
  workload: number | null;
  capacity: number | null;
  heartbeatAt: number | null;
  heartbeatAgeMs: number | null;
  /** Heartbeat older than the lease (and the agent not offline): its claims are about to expire. */
  stale: boolean;
  /** Work records held by this agent (isHeld). */
  claims: number;
  /** A Claude Code session (source "claude-code"). */
  session: boolean;
  project: string | null;
  /** Last tool and its target, e.g. "Edit src/db.ts". */
  activity: string | null;
  costUsd: number | null;
  overBudget: boolean;
  /** When the current wait for a human began; null unless status is needs_input. */
  waitingSince: number | null;
  waitMs: number | null;
  data: JsonObject;
}

export const AGENT_SORTS: readonly SortSpec<AgentRow>[] = [
  { key: 'id', cmp: (a, b) => byStr(a.id, b.id) },
  { key: 'team', cmp: (a, b) => byStr(a.team, b.team) || byStr(a.id, b.id) },
  { key: 'status', cmp: (a, b) => byStr(a.status, b.status) || byStr(a.id, b.id) },
  { key: 'load', cmp: (a, b) => byNum(load(b), load(a)) || byStr(a.id, b.id) },
  // Oldest heartbeat first: stale agents on top.
  { key: 'heartbeat', cmp: (a, b) => byNum(a.heartbeatAt, b.heartbeatAt) || byStr(a.id, b.id) },
  { key: 'claims', cmp: (a, b) => b.claims - a.claims || byStr(a.id, b.id) },
];

const load = (r: AgentRow): number | null => (r.workload !== null && r.capacity ? r.workload / r.capacity : null);

/** Held claims per agent id, one pass over the work section. */
export function heldByAgent(state: CoordinationState): Map<string, number> {
  const held = new Map<string, number>();
  for (const e of Object.values(state.work)) {
    if (!isHeld(e.data)) continue;
    const a = e.data.agent_id as string;
    held.set(a, (held.get(a) ?? 0) + 1);
  }
  return held;
}

/**
 * Held claims per agent, kept up to date from the deltas instead of re-counted over every work record
 * each frame (10,000 records at several frames a second was the console's largest CPU cost).
 */
export class HeldIndex {
  /** Agent id -> claims held. */
  readonly counts = new Map<string, number>();
  private holders = new Map<string, string>();

  rebuild(state: CoordinationState): void {
    this.counts.clear();
    this.holders.clear();
    const work = state.work;
    for (const key in work) this.set(key, work[key]);
  }

  /** Call with each delta's changes (after or before they are applied: only the new entries are read). */
  apply(changes: readonly RecordChange[]): void {
    for (const ch of changes) if (ch.section === 'work') this.set(ch.key, ch.op === 'del' ? undefined : ch.entry);
  }

  private set(key: string, e: Entry | undefined): void {
    const next = e && isHeld(e.data) ? (e.data.agent_id as string) : undefined;
    const prev = this.holders.get(key);
    if (prev === next) return;
    if (prev !== undefined) {
      const n = (this.counts.get(prev) ?? 1) - 1;
      if (n > 0) this.counts.set(prev, n);
      else this.counts.delete(prev);
      this.holders.delete(key);
    }
    if (next !== undefined) {
      this.counts.set(next, (this.counts.get(next) ?? 0) + 1);
      this.holders.set(key, next);
    }
  }
}

/**
 * Rows are cached per record entry (the stream replaces an entry object when the record changes) and
 * per (now, lease, claims): with `now` rounded to the second, a frame re-uses the rows of unchanged
 * records instead of parsing timestamps and allocating a thousand objects again.
 */
const agentCache = new WeakMap<Entry, { row: AgentRow; now: number; staleMs: number }>();

function agentRow(key: string, e: Entry, now: number, staleMs: number, claims: number): AgentRow {
  const hit = agentCache.get(e);
  if (hit && hit.now === now && hit.staleMs === staleMs && hit.row.claims === claims && hit.row.key === key) return hit.row;
  const d = e.data;
  const id = hit?.row.id ?? str(d.agent_id) ?? key;
  const status = str(d.status);
  const heartbeatAt = hit ? hit.row.heartbeatAt : parseTime(d.last_heartbeat);
  const age = heartbeatAt === null ? null : Math.max(0, now - heartbeatAt);
  const since = hit ? hit.row.waitingSince : waitingSince(d);
  const row: AgentRow = {
    key,
    id,
    team: str(d.team),
    status,
    workload: num(d.current_workload),
    capacity: num(d.capacity),
    heartbeatAt,
    heartbeatAgeMs: age,
    // A session waiting for a human keeps its claims however long it waits: not stale.
    stale: age !== null && age > staleMs && status !== 'offline' && status !== NEEDS_INPUT,
    claims,
    session: hit ? hit.row.session : isSession(d),
    project: str(d.project),
    activity: hit ? hit.row.activity : activityText(d),
    costUsd: costOf(d),
    overBudget: d.over_budget === true,
    waitingSince: since,
    waitMs: since === null ? null : Math.max(0, now - since),
    data: d,
  };
  agentCache.set(e, { row, now, staleMs });
  return row;
}

/** `held`: claims per agent when already known (HeldIndex); otherwise counted here. */
export function agentRows(
  state: CoordinationState,
  opts: ListQuery & { now: number; staleMs: number },
  held: ReadonlyMap<string, number> = heldByAgent(state),
): AgentRow[] {
  const rows: AgentRow[] = [];
  for (const key in state.agents) {
    const e = state.agents[key];
    rows.push(agentRow(key, e, opts.now, opts.staleMs, held.get(str(e.data.agent_id) ?? key) ?? 0));
  }
  const text = (r: AgentRow): string =>
    `${r.id} ${r.team ?? ''} ${r.status ?? ''}${r.stale ? ' stale' : ''}${r.status === NEEDS_INPUT ? ' needs input' : ''} ${r.project ?? ''} ${r.activity ?? ''}`;
  return attentionFirst(query(rows, text, AGENT_SORTS, opts));
}

/**
 * Whatever the sort: agents waiting for a human first (longest wait on top), then working ones, then
 * the rest, each group in the chosen order. A stable partition, one pass.
 */
export function attentionFirst(rows: AgentRow[]): AgentRow[] {
  const waiting: AgentRow[] = [];
  const working: AgentRow[] = [];
  const rest: AgentRow[] = [];
  for (const r of rows) (r.status === NEEDS_INPUT ? waiting : r.status === 'working' ? working : rest).push(r);
  if (waiting.length === 0 && working.length === 0) return rows;
  waiting.sort((a, b) => byNum(a.waitingSince, b.waitingSince));
  return waiting.concat(working, rest);
}

// ---- work / claims

export interface WorkRow {
  /** Record key in state.work. */
  key: string;
  id: string;
  type: string | null;
  priority: string | null;
  holder: string | null;
  status: string | null;
  progress: number | null;
  team: string | null;
  /** claimed_at, else created_at. The age is drawn from it at render time (rows outlive a second). */
  since: number | null;
  held: boolean;
  data: JsonObject;
}

const prioRank = (p: string | null): number => {
  const i = PRIORITIES.indexOf(p as never);
  return i < 0 ? -1 : i;
};
const STATUS_ORDER = ['in_progress', 'claimed', 'active', 'pending', 'released'];
const statusRank = (s: string | null): number => {
  const i = STATUS_ORDER.indexOf(s ?? '');
  return i < 0 ? STATUS_ORDER.length : i;
};

export const WORK_SORTS: readonly SortSpec<WorkRow>[] = [
  // Newest first, like k9s' age column.
  { key: 'age', cmp: (a, b) => byNum(b.since, a.since) || byStr(a.id, b.id) },
  { key: 'priority', cmp: (a, b) => prioRank(b.priority) - prioRank(a.priority) || byNum(b.since, a.since) },
  { key: 'status', cmp: (a, b) => statusRank(a.status) - statusRank(b.status) || byStr(a.status, b.status) || byStr(a.id, b.id) },
  { key: 'holder', cmp: (a, b) => byStr(a.holder, b.holder) || byStr(a.id, b.id) },
  { key: 'type', cmp: (a, b) => byStr(a.type, b.type) || byStr(a.id, b.id) },
  { key: 'progress', cmp: (a, b) => byNum(b.progress, a.progress) || byStr(a.id, b.id) },
  { key: 'id', cmp: (a, b) => byStr(a.id, b.id) },
];

/** One row per record entry, re-made only when the record changes (10,000 rows, several frames a second). */
const workCache = new WeakMap<Entry, WorkRow>();

function workRow(key: string, e: Entry): WorkRow {
  const hit = workCache.get(e);
  if (hit && hit.key === key) return hit;
  const d = e.data;
  const row: WorkRow = {
    key,
    id: str(d.work_item_id) ?? key,
    type: str(d.work_type),
    priority: str(d.priority),
    holder: str(d.agent_id),
    status: str(d.status),
    progress: num(d.progress),
    team: str(d.team),
    since: parseTime(d.claimed_at) ?? parseTime(d.created_at),
    held: isHeld(d),
    data: d,
  };
  workCache.set(e, row);
  return row;
}

/** Milliseconds since the row's claim (or creation), null when unknown. */
export function workAge(row: WorkRow, now: number): number | null {
  return row.since === null ? null : Math.max(0, now - row.since);
}

/** `extraText`: more words the filter matches (the work graph's readiness, tui/model/graph-selectors.ts). */
export function workRows(state: CoordinationState, opts: ListQuery, extraText?: (r: WorkRow) => string): WorkRow[] {
  const rows: WorkRow[] = [];
  const work = state.work;
  for (const key in work) rows.push(workRow(key, work[key]));
  const text = (r: WorkRow): string => [r.id, r.type, r.priority, r.holder, r.status, r.team].join(' ');
  return query(rows, extraText ? (r) => `${text(r)} ${extraText(r)}` : text, WORK_SORTS, opts);
}

/** Work records an agent holds, for the agent drill-down. */
export function claimsOf(state: CoordinationState, agentId: string): string[] {
  return Object.entries(state.work)
    .filter(([, e]) => e.data.agent_id === agentId && isHeld(e.data))
    .map(([k, e]) => str(e.data.work_item_id) ?? k);
}

// ---- spans and traces

export interface SpanRow {
  span: ShownSpan;
  /** Arrival order: the stable notion of "recent" (start_time may be malformed). */
  seq: number;
}

export const SPAN_SORTS: readonly SortSpec<SpanRow>[] = [
  { key: 'recent', cmp: (a, b) => b.seq - a.seq },
  { key: 'duration', cmp: (a, b) => b.span.duration_ms - a.span.duration_ms || b.seq - a.seq },
  { key: 'operation', cmp: (a, b) => byStr(a.span.operation_name, b.span.operation_name) || b.seq - a.seq },
  { key: 'status', cmp: (a, b) => byStr(a.span.status, b.span.status) || b.seq - a.seq },
];

export function spanRows(spans: ShownSpan[], q: ListQuery): SpanRow[] {
  const rows = spans.map((span, seq) => ({ span, seq }));
  return query(rows, (r) => `${r.span.operation_name} ${r.span.status} ${r.span.trace_id} ${r.span.service?.name ?? ''}`, SPAN_SORTS, q);
}

export interface TraceNode {
  span: ShownSpan;
  depth: number;
  /** Tree drawing for the name column, e.g. "│  └─ ". */
  prefix: string;
  /** Start relative to the trace's first span, when timestamps parse. */
  offsetMs: number | null;
}

/** One trace's spans as a depth-first tree (parent_span_id links; orphans become roots). */
export function traceTree(spans: ShownSpan[], traceId: string): TraceNode[] {
  const mine = spans.filter((s) => s.trace_id === traceId);
  const ids = new Set(mine.map((s) => s.span_id).filter(Boolean));
  const children = new Map<string, ShownSpan[]>();
  const roots: ShownSpan[] = [];
  for (const s of mine) {
    const p = s.parent_span_id;
    if (p && ids.has(p) && p !== s.span_id) {
      const list = children.get(p) ?? [];
      list.push(s);
      children.set(p, list);
    } else roots.push(s);
  }
  const starts = mine.map((s) => parseTime(s.start_time)).filter((t): t is number => t !== null);
  const t0 = starts.length ? Math.min(...starts) : null;
  const byStart = (a: ShownSpan, b: ShownSpan): number => byNum(parseTime(a.start_time), parseTime(b.start_time));
  const out: TraceNode[] = [];
  const seen = new Set<ShownSpan>();
  const walk = (s: ShownSpan, depth: number, lead: string, last: boolean): void => {
    if (seen.has(s)) return; // guard against parent cycles in hand-edited data
    seen.add(s);
    const t = parseTime(s.start_time);
    out.push({ span: s, depth, prefix: depth === 0 ? '' : lead + (last ? '└─ ' : '├─ '), offsetMs: t !== null && t0 !== null ? t - t0 : null });
    const kids = (children.get(s.span_id) ?? []).sort(byStart);
    kids.forEach((k, i) => walk(k, depth + 1, depth === 0 ? '' : lead + (last ? '   ' : '│  '), i === kids.length - 1));
  };
  for (const r of roots.sort(byStart)) walk(r, 0, '', true);
  return out;
}

// ---- latency

export interface LatencyRow {
  op: string;
  count: number;
  p50: number;
  p95: number;
  p99: number;
  /** p99 per stats sample, oldest first (NaN where the op was absent). */
  history: number[];
  over: boolean;
}

export function latencyRows(stats: StatsResponse | null, samples: StatsSample[]): { rows: LatencyRow[]; worst: number[] } {
  const latency = stats?.latency ?? {};
  const rows = Object.entries(latency)
    .map(([op, l]): LatencyRow => ({
      op,
      count: l.count,
      p50: l.p50_ms,
      p95: l.p95_ms,
      p99: l.p99_ms,
      history: samples.map((s) => s.p99[op] ?? NaN),
      over: l.p99_ms > LATENCY_TARGET_MS,
    }))
    .sort((a, b) => byStr(a.op, b.op));
  const worst = samples.map((s) => Math.max(0, ...Object.values(s.p99)));
  return { rows, worst };
}

// ---- entropy

export interface EntropyRow {
  name: string;
  bits: number | null;
  baseline: number | null;
  delta: number | null;
  ratio: number | null;
}

export interface EntropyView {
  rows: EntropyRow[];
  total: number | null;
  baselineTotal: number | null;
  ratio: number | null;
  /** null when there is no baseline to compare with. */
  conserved: boolean | null;
  history: number[];
}

export function entropyView(stats: StatsResponse | null, samples: StatsSample[] = []): EntropyView {
  const e = stats?.entropy;
  const base = e?.baseline ?? null;
  const names = [...new Set([...Object.keys(e?.components ?? {}), ...Object.keys(base?.components ?? {})])].sort();
  const rows = names.map((name): EntropyRow => {
    const bits = e?.components[name] ?? null;
    const b = base?.components[name] ?? null;
    return { name, bits, baseline: b, delta: bits !== null && b !== null ? bits - b : null, ratio: bits !== null && b ? bits / b : null };
  });
  const total = e?.total ?? null;
  const ratio = e?.ratio ?? (total !== null && base?.total ? total / base.total : null);
  return {
    rows,
    total,
    baselineTotal: base?.total ?? null,
    ratio,
    conserved: ratio === null ? null : ratio >= CONSERVED_MIN && ratio <= CONSERVED_MAX,
    history: samples.map((s) => s.entropyTotal ?? NaN),
  };
}
