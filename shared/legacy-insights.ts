// What the legacy Claude helpers print, derived from an analysis (the daemon's analyzer answer: the
// builtin shape {analysis, priorities, assignments}, or whatever an external analyzer returned) and
// the report figures. Pure, like reports.ts.
import type { Figures } from './legacy-reports.js';
import { criticalPathAction } from './legacy-reports.js';
import { textOf } from './text.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const strings = (v: unknown): string[] => arr(v).filter((s): s is string => typeof s === 'string');
const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/** The builtin analysis object inside a result, when the analyzer answered in that shape. */
export function analysisOf(result: unknown): Obj | null {
  return isObj(result) && isObj(result.analysis) ? result.analysis : null;
}

/**
 * The recommendations of a result, as plain sentences: the builtin's `analysis.recommendations`
 * (strings), the legacy schema's `recommendations.immediate`, or a top-level string list.
 */
export function recommendationsOf(result: unknown): string[] {
  if (!isObj(result)) return [];
  const a = analysisOf(result);
  if (a && Array.isArray(a.recommendations)) return strings(a.recommendations);
  if (isObj(result.recommendations))
    return [...strings(result.recommendations.immediate), ...strings(result.recommendations.short_term), ...strings(result.recommendations.long_term)];
  return strings(result.recommendations);
}

/** Immediate actions (the legacy printed `recommendations.immediate`). */
export function immediateActionsOf(result: unknown): string[] {
  if (isObj(result) && isObj(result.recommendations)) return strings(result.recommendations.immediate);
  return recommendationsOf(result).slice(0, 3);
}

/** optimal | warning | critical, the legacy stream's system_status, from a builtin analysis. */
export function systemStatusOf(result: unknown): string {
  if (isObj(result) && typeof result.system_status === 'string') return result.system_status;
  const a = analysisOf(result);
  if (!a) return 'unknown';
  const unassigned = arr(a.unassigned).length;
  const critical = isObj(a.work) && isObj(a.work.by_priority) && typeof a.work.by_priority.critical === 'number' ? a.work.by_priority.critical : 0;
  if (unassigned > 0 && critical > 0) return 'critical';
  if (unassigned > 0 || arr(a.bottlenecks).length > 0) return 'warning';
  return 'optimal';
}

export interface StreamInsight {
  timestamp: string;
  focus_area: string;
  system_status: string;
  urgent_actions: string[];
  next_recommendation: string;
}

/** One line of `claude-stream`: the legacy stream's fields, taken from the answer or derived. */
export function streamInsight(result: unknown, focus: string, now: number = Date.now()): StreamInsight {
  const r = isObj(result) ? result : {};
  const recs = recommendationsOf(result);
  return {
    timestamp: str(r.timestamp) ?? str(r.generated_at) ?? new Date(now).toISOString(),
    focus_area: str(r.focus_area) ?? focus,
    system_status: systemStatusOf(result),
    urgent_actions: Array.isArray(r.urgent_actions) ? strings(r.urgent_actions).slice(0, 3) : recs.slice(0, 3),
    next_recommendation: str(r.next_recommendation) ?? recs[0] ?? 'continue monitoring',
  };
}

export const PIPE_TYPES = ['priorities', 'bottlenecks', 'recommendations', 'general'] as const;
export type PipeType = (typeof PIPE_TYPES)[number];

/** `claude-pipe <type>`: the part of the analysis each legacy prompt asked for. */
export function pipeView(type: PipeType, result: unknown): Obj {
  const a = analysisOf(result);
  const meta = isObj(result) ? { source: result.source ?? null, generated_at: result.generated_at ?? null } : {};
  if (!a) return { type, ...meta, result }; // an analyzer of another shape: its answer as it is
  const recs = recommendationsOf(result);
  const bottlenecks = arr(a.bottlenecks)
    .filter(isObj)
    .map((b) => ({
      type: 'resource',
      team: b.team ?? null,
      severity: typeof b.free_slots === 'number' && b.free_slots === 0 ? 'high' : 'medium',
      description: b.reason ?? null,
    }));
  const unassigned = arr(a.unassigned)
    .filter(isObj)
    .map((u) => ({ type: 'coordination', work_id: u.work_id ?? null, severity: 'medium', description: u.reason ?? null }));
  switch (type) {
    case 'priorities': {
      const priorities = isObj(result) ? arr(result.priorities).filter(isObj) : [];
      return { type, ...meta, actions: priorities.slice(0, 3).map((p) => `Claim ${textOf(p.work_id)} (${textOf(p.reason ?? p.priority ?? '')})`), priorities };
    }
    case 'bottlenecks':
      return { type, ...meta, bottlenecks: [...bottlenecks, ...unassigned] };
    case 'recommendations':
      return { type, ...meta, immediate: recs.slice(0, 2), short_term: recs.slice(2, 4), long_term: recs.slice(4) };
    case 'general':
      return {
        type,
        ...meta,
        status: systemStatusOf(result),
        issues: [...bottlenecks, ...unassigned].map((i) => i.description).filter((d) => d !== null),
        recommendations: recs,
        summary: a.summary ?? null,
      };
  }
}

export interface ServiceHealth {
  name: string;
  status: string;
  last_error?: string | null;
}

export interface HealthAnalysis {
  analysis_timestamp: string;
  system_health: 'healthy' | 'degraded' | 'critical';
  reasons: string[];
  figures: {
    held: number;
    open: number;
    blocked: number;
    stale: number;
    overloaded_teams: string[];
    velocity_total: number;
    sprint_velocity: number;
    throughput_per_day: number;
    lead_time_median_h: number | null;
    /** Items on the critical path (0: no unfinished item waits for another). */
    critical_path_length: number;
  };
  services: ServiceHealth[];
  recommendations: { immediate: string[]; short_term: string[] };
}

/**
 * `claude-health`: critical when a probed service is down or at least half of the held claims are
 * blocked or stale; degraded when anything is blocked, stale, over capacity, slow or not yet probed;
 * healthy otherwise.
 */
export function healthAnalysis(f: Figures, services: ServiceHealth[], analysis: unknown): HealthAnalysis {
  const overloaded = f.teams.filter((t) => t.utilization !== null && t.utilization > 1).map((t) => t.team);
  const stuck = new Set([...f.blocked, ...f.stale].map((w) => w.work_id)).size;
  const down = services.filter((s) => s.status === 'down');
  const shaky = services.filter((s) => s.status === 'slow' || s.status === 'unknown');
  const reasons: string[] = [];
  for (const s of down) reasons.push(`service ${s.name} is down${s.last_error ? `: ${s.last_error}` : ''}`);
  if (f.work.held > 0 && stuck * 2 >= f.work.held) reasons.push(`${stuck} of ${f.work.held} held claims are blocked or stale`);
  const critical = reasons.length > 0;
  if (f.blocked.length) reasons.push(`${f.blocked.length} blocked claim${f.blocked.length === 1 ? '' : 's'}`);
  if (f.stale.length) reasons.push(`${f.stale.length} stale claim${f.stale.length === 1 ? '' : 's'} (no activity for ${f.options.staleAfterH} h)`);
  for (const t of overloaded) reasons.push(`team ${t} is over capacity`);
  for (const s of shaky) reasons.push(`service ${s.name} is ${s.status}`);
  // The head of the critical path failed (or lost a prerequisite): everything behind it waits.
  const head = f.critical_path.items[0];
  const stalled = head !== undefined && head.state !== 'held' && head.state !== 'ready';
  if (stalled) reasons.push(`the critical path (${f.critical_path.length} items) is stalled at ${head.work_id} (${head.state})`);
  const pathAction = criticalPathAction(f.critical_path);
  const immediate = [
    ...down.map((s) => `Restore service ${s.name}`),
    ...(f.blocked.length
      ? [
          `Unblock ${f.blocked
            .slice(0, 5)
            .map((w) => w.work_id)
            .join(', ')}`,
        ]
      : []),
    ...(f.stale.length ? [`Release or finish ${f.stale.length} stale claim${f.stale.length === 1 ? '' : 's'}`] : []),
    ...overloaded.map((t) => `Rebalance team ${t}`),
    ...(stalled ? pathAction : []),
  ];
  return {
    analysis_timestamp: f.generated_at,
    system_health: critical ? 'critical' : reasons.length ? 'degraded' : 'healthy',
    reasons,
    figures: {
      held: f.work.held,
      open: f.work.open,
      blocked: f.blocked.length,
      stale: f.stale.length,
      overloaded_teams: overloaded,
      velocity_total: f.velocity.total,
      sprint_velocity: f.velocity.sprint,
      throughput_per_day: f.throughput.per_day_avg,
      lead_time_median_h: f.lead_time.median_h,
      critical_path_length: f.critical_path.length,
    },
    services: services.map((s) => ({ name: s.name, status: s.status, last_error: s.last_error ?? null })),
    recommendations: {
      immediate,
      short_term: [...(stalled ? [] : pathAction), ...recommendationsOf(analysis).filter((r) => !immediate.includes(r))],
    },
  };
}

export interface Assignment {
  work_id: string;
  agent_id: string;
  reason?: string;
}

/** `claude-optimize-assignments [team]`: the suggested assignments touching a team (its work or its agents). */
export function assignmentsFor(result: unknown, team: string | null, agentTeams: Map<string, string>): { assignments: Assignment[]; unassigned: unknown[] } {
  const r = isObj(result) ? result : {};
  const workTeam = new Map(
    arr(r.priorities)
      .filter(isObj)
      .map((p) => [String(p.work_id), str(p.team)]),
  );
  const all = arr(r.assignments).filter(
    (a): a is Obj => isObj(a) && typeof a.work_id === 'string' && typeof a.agent_id === 'string',
  ) as unknown as Assignment[];
  const a = analysisOf(result);
  const unassigned = arr(a?.unassigned);
  if (team === null) return { assignments: all, unassigned };
  return {
    assignments: all.filter((x) => workTeam.get(x.work_id) === team || agentTeams.get(x.agent_id) === team),
    unassigned: unassigned.filter((u) => isObj(u) && workTeam.get(String(u.work_id)) === team),
  };
}
