// The Scrum-at-Scale reports and the Claude-helper views, pure: a known state at a pinned clock,
// exact figures.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyzeBuiltin, toPlainState } from '../shared/builtin-analysis.js';
import { assignmentsFor, healthAnalysis, pipeView, recommendationsOf, streamInsight, systemStatusOf } from '../shared/legacy-insights.js';
import { buildReport, computeFigures, durationStats, programIncrement, renderReport, REPORT_ALIASES, REPORT_KINDS } from '../shared/legacy-reports.js';
import type { CoordinationState, JsonObject } from '../shared/types.js';
import { REFERENCE } from './helpers/daemon.js';
import { textOf } from '../shared/text.js';

const NOW = Date.UTC(2026, 10, 24, 12, 0, 0); // 2026-11-24T12:00:00Z
const H = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.000Z$/, 'Z');

function section(records: JsonObject[], idField: string | null): Record<string, { v: number; rev: number; data: JsonObject }> {
  return Object.fromEntries(records.map((data, i) => [idField && typeof data[idField] === 'string' ? data[idField] : String(i + 1), { v: 1, rev: 1, data }]));
}

/** A small fleet: three teams (gamma's only agent is offline), held, blocked, stale, open and finished work. */
function knownState(): CoordinationState {
  const agents: JsonObject[] = [
    { agent_id: 'a1', team: 'alpha', capacity: 100, status: 'active' },
    { agent_id: 'a2', team: 'alpha', capacity: 50, status: 'active' },
    { agent_id: 'b1', team: 'beta', capacity: 100, status: 'active' },
    { agent_id: 'c1', team: 'gamma', capacity: 100, status: 'offline' },
  ];
  const work: JsonObject[] = [
    {
      work_item_id: 'w1',
      agent_id: 'a1',
      team: 'alpha',
      status: 'in_progress',
      priority: 'high',
      work_type: 'feature',
      claimed_at: iso(NOW - 2 * H),
      last_update: iso(NOW - H),
      progress: 40,
    },
    { work_item_id: 'w2', agent_id: 'a2', team: 'alpha', status: 'blocked_on_review', priority: 'medium', work_type: 'feature', claimed_at: iso(NOW - 3 * H) },
    { work_item_id: 'w3', agent_id: 'b1', team: 'beta', status: 'active', priority: 'medium', work_type: 'bugfix', claimed_at: iso(NOW - 30 * H) },
    { work_item_id: 'w4', agent_id: null, team: 'beta', status: 'pending', priority: 'critical', work_type: 'bugfix', created_at: iso(NOW - 5 * H) },
    {
      work_item_id: 'w5',
      agent_id: null,
      team: 'gamma',
      status: 'pending',
      priority: 'low',
      work_type: 'refactor',
      description: 'tech debt cleanup',
      created_at: iso(NOW - 6 * H),
    },
    {
      work_item_id: 'w6',
      agent_id: 'a1',
      team: 'alpha',
      status: 'completed',
      priority: 'high',
      work_type: 'feature',
      created_at: iso(NOW - 50 * H),
      claimed_at: iso(NOW - 48 * H),
      completed_at: iso(NOW - 36 * H),
    },
    {
      work_item_id: 'w7',
      agent_id: 'b1',
      team: 'beta',
      status: 'completed',
      priority: 'medium',
      work_type: 'bugfix',
      created_at: iso(NOW - 10 * H),
      claimed_at: iso(NOW - 8 * H),
      completed_at: iso(NOW - 2 * H),
    },
    {
      work_item_id: 'w8',
      agent_id: 'b1',
      team: 'beta',
      status: 'failed',
      priority: 'low',
      work_type: 'bugfix',
      claimed_at: iso(NOW - 100 * H),
      completed_at: iso(NOW - 96 * H),
    },
    {
      work_item_id: 'w9',
      agent_id: null,
      team: 'alpha',
      status: 'released',
      priority: 'medium',
      work_type: 'docs',
      description: 'write docs',
      previous_agent_id: 'a2',
    },
  ];
  const log: JsonObject[] = [
    { work_item_id: 'w6', agent_id: 'a1', completed_at: iso(NOW - 36 * H), result: 'success', velocity_points: 5 },
    { work_item_id: 'w7', agent_id: 'b1', completed_at: iso(NOW - 2 * H), result: 'success', velocity_points: 8 },
    // The legacy log repeats work ids; each entry is a completion record and counts. "3" as text, too.
    { work_item_id: 'w7', agent_id: 'b1', completed_at: '2026-11-24T10:00:05Z', result: 'success', velocity_points: '3' },
    // A work item that no longer exists: attributed through its agent's team.
    { work_item_id: 'w_gone', agent_id: 'a2', completed_at: iso(NOW - 20 * 24 * H), result: 'success', velocity_points: 2 },
    { work_item_id: 'w8', agent_id: 'b1', completed_at: iso(NOW - 96 * H), result: 'failed', velocity_points: 0 },
  ];
  return { agents: section(agents, 'agent_id'), work: section(work, 'work_item_id'), log: section(log, null) };
}

describe('report figures', () => {
  const f = computeFigures(knownState(), { now: NOW });

  it('velocity: the sum of log points, per team through the work item (else the agent), and in the sprint', () => {
    expect(f.velocity).toEqual({
      total: 18,
      completions: 5,
      by_team: { alpha: 7, beta: 11 },
      sprint: 16,
      sprint_by_team: { alpha: 5, beta: 11 },
      avg_points_per_completion: 3.6,
    });
  });

  it('throughput: completions per UTC day over the window, zeros included', () => {
    expect(f.throughput).toEqual({
      window_days: 7,
      per_day: [
        { date: '2026-11-18', completions: 0, points: 0 },
        { date: '2026-11-19', completions: 0, points: 0 },
        { date: '2026-11-20', completions: 1, points: 0 },
        { date: '2026-11-21', completions: 0, points: 0 },
        { date: '2026-11-22', completions: 0, points: 0 },
        { date: '2026-11-23', completions: 1, points: 5 },
        { date: '2026-11-24', completions: 2, points: 11 },
      ],
      total: 4,
      per_day_avg: 0.57,
    });
  });

  it('work counts, blocked and stale claims', () => {
    expect(f.work).toEqual({
      total: 9,
      held: 3,
      open: 3,
      completed: 2,
      failed: 1,
      released: 1,
      other: 0,
      by_status: { active: 1, blocked_on_review: 1, completed: 2, failed: 1, in_progress: 1, pending: 2, released: 1 },
      open_by_priority: { critical: 1, low: 1, medium: 1 },
    });
    expect(f.blocked.map((w) => w.work_id)).toEqual(['w2']);
    expect(f.stale.map((w) => [w.work_id, w.idle_h])).toEqual([['w3', 30]]);
    expect(f.held.find((w) => w.work_id === 'w1')!.idle_h).toBe(1);
    expect(f.open.map((w) => w.work_id)).toEqual(['w4', 'w9', 'w5']); // by priority
    // A shorter stale threshold makes w2 (3 h idle) stale too; w1 (1 h) stays fresh.
    expect(computeFigures(knownState(), { now: NOW, staleAfterH: 2 }).stale.map((w) => w.work_id)).toEqual(['w2', 'w3']);
  });

  it('team load: held claims against capacity (25 points an item), offline agents excluded', () => {
    expect(f.teams).toEqual([
      {
        team: 'alpha',
        agents: 2,
        capacity_items: 6,
        held: 2,
        open: 1,
        utilization: 0.333,
        free_slots: 4,
        velocity: 7,
        sprint_velocity: 5,
        completions: 2,
        blocked: 1,
        stale: 0,
      },
      {
        team: 'beta',
        agents: 1,
        capacity_items: 4,
        held: 1,
        open: 1,
        utilization: 0.25,
        free_slots: 3,
        velocity: 11,
        sprint_velocity: 11,
        completions: 3,
        blocked: 0,
        stale: 1,
      },
      {
        team: 'gamma',
        agents: 0,
        capacity_items: 0,
        held: 0,
        open: 1,
        utilization: null,
        free_slots: 0,
        velocity: 0,
        sprint_velocity: 0,
        completions: 0,
        blocked: 0,
        stale: 0,
      },
    ]);
    expect(f.agents).toEqual({ total: 4, available: 3, by_team: { alpha: 2, beta: 1, gamma: 1 } });
  });

  it('flow times: lead (created → completed), cycle (claimed → completed), wait (created → claimed)', () => {
    expect(f.lead_time).toEqual({ count: 2, avg_h: 11, median_h: 8, p90_h: 14 });
    expect(f.cycle_time).toEqual({ count: 2, avg_h: 9, median_h: 6, p90_h: 12 });
    expect(f.wait_time).toEqual({ count: 2, avg_h: 2, median_h: 2, p90_h: 2 });
    expect(durationStats([])).toEqual({ count: 0, avg_h: null, median_h: null, p90_h: null });
  });

  it('program increments are calendar quarters (the legacy computed a wrong PI id)', () => {
    expect(programIncrement(NOW)).toEqual({ id: 'PI_2026_Q4', start: '2026-10-01', end: '2026-12-31' });
    expect(programIncrement(Date.UTC(2025, 5, 15))).toEqual({ id: 'PI_2025_Q2', start: '2025-04-01', end: '2025-06-30' });
    expect(programIncrement(Date.UTC(2025, 0, 1))).toEqual({ id: 'PI_2025_Q1', start: '2025-01-01', end: '2025-03-31' });
  });

  it('on the real legacy files: every record counts, velocity is the plain sum of the log', () => {
    const dir = path.join(REFERENCE, 'legacy');
    const load = (f: string) => JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as JsonObject[];
    const log = load('coordination_log.json');
    const state = { work: section(load('work_claims.json'), 'work_item_id'), agents: section(load('agent_status.json'), 'agent_id'), log: section(log, null) };
    const g = computeFigures(state, { now: Date.UTC(2025, 5, 16, 12) });
    expect(g.velocity.completions).toBe(156);
    expect(g.velocity.total).toBe(1966);
    expect(g.velocity.total).toBe(log.reduce((s, e) => s + Number(e.velocity_points), 0));
    expect(g.work).toMatchObject({ total: 141, held: 57, open: 4, completed: 80 });
    expect(g.agents.total).toBe(44);
    expect(g.throughput.per_day.map((d) => d.date)).toEqual(['2025-06-10', '2025-06-11', '2025-06-12', '2025-06-13', '2025-06-14', '2025-06-15', '2025-06-16']);
    expect(g.throughput.total).toBe(log.filter((e) => textOf(e.completed_at) >= '2025-06-10').length);
  });
});

describe('ceremony reports', () => {
  const state = knownState();
  const report = (kind: string) => buildReport(kind, state, { now: NOW }) as any; // eslint-disable-line @typescript-eslint/no-explicit-any -- each test reads its report kind's own fields

  it('every kind and alias builds, renders text with its title, and serializes to JSON', () => {
    for (const kind of [...REPORT_KINDS, ...Object.keys(REPORT_ALIASES)]) {
      const r = buildReport(kind, state, { now: NOW });
      expect(REPORT_KINDS).toContain(r.report);
      const text = renderReport(r);
      expect(text.split('\n')[0]).toContain(r.title);
      expect(JSON.parse(JSON.stringify(r))).toEqual(r);
    }
    expect(buildReport('ip', state, { now: NOW }).report).toBe('innovation-planning');
    expect(() => buildReport('retro', state)).toThrow(/unknown report/);
  });

  it('dashboard: agents, active work, velocity, throughput, blocked and stale', () => {
    const r = report('dashboard');
    expect(r.active_work.map((w: { work_id: string }) => w.work_id)).toEqual(['w1', 'w2', 'w3']);
    expect(r.velocity).toEqual({ total: 18, completions: 5, sprint: 16, by_team: { alpha: 7, beta: 11 } });
    expect([r.blocked, r.stale]).toEqual([1, 1]);
    const text = renderReport(r);
    expect(text).toContain('📊 Active Agents: 3 of 4');
    expect(text).toContain('📊 Total Velocity: 18 story points (5 completions)');
    expect(text).toContain('⚡ Throughput: 4 completions in 7 days (0.57/day)');
    expect(text).toContain('🔧 w1: (feature, high) a1 40% [in_progress]');
    expect(text).toContain('🎯 CURRENT PROGRAM INCREMENT (PI): PI_2026_Q4 (2026-10-01 to 2026-12-31)');
  });

  it('pi-planning: objectives by priority, capacity from sprint velocity, demand from open work', () => {
    const r = report('pi-planning');
    expect(r.objectives).toEqual([
      { priority: 'critical', items: ['w4'] },
      { priority: 'medium', items: ['w9'] },
      { priority: 'low', items: ['w5'] },
    ]);
    expect(r.capacity).toEqual([
      { team: 'alpha', agents: 2, sprint_velocity: 5, pi_capacity_points: 20, open_items: 1 },
      { team: 'beta', agents: 1, sprint_velocity: 11, pi_capacity_points: 44, open_items: 1 },
    ]);
    expect(r.totals).toEqual({ capacity_points: 64, open_items: 3, avg_points_per_item: 3.6, demand_points: 10.8, fits: true });
    expect(renderReport(r)).toContain('📊 TOTAL ART CAPACITY: 64 story points');
  });

  it('scrum-of-scrums: done in 24 h, in progress, impediments per team; cross-team actions', () => {
    const r = report('scrum-of-scrums');
    const byTeam = Object.fromEntries(r.teams.map((t: { team: string }) => [t.team, t]));
    expect(byTeam.beta.done_last_24h).toEqual(['w7', 'w7']);
    expect(byTeam.alpha.done_last_24h).toEqual([]); // w6 finished 36 h ago
    expect(byTeam.alpha.in_progress).toEqual(['w1', 'w2']);
    expect(byTeam.alpha.impediments).toEqual([{ work_id: 'w2', reason: 'status blocked_on_review' }]);
    expect(byTeam.beta.impediments).toEqual([{ work_id: 'w3', reason: 'no activity for 30 h' }]);
    expect(r.cross_team_actions).toEqual(['Team gamma has 1 open item and no free slot', 'Unblock 1 blocked item: w2']);
    expect(r.figures).toEqual({ held: 3, open: 3, done_last_24h: 2, blocked: 1, stale: 1 });
  });

  it('innovation-planning: 20% of the capacity, innovation-like open work', () => {
    const r = report('ip');
    expect(r.capacity).toEqual({ total_items: 10, innovation_items: 2, planning_items: 8 });
    expect(r.innovation_backlog.map((w: { work_id: string }) => w.work_id)).toEqual(['w5']);
    expect(r.iteration).toEqual({ start: '2026-11-24', end: '2026-11-29' });
  });

  it('system-demo: what the sprint delivered, velocity, success rate', () => {
    const r = report('system-demo');
    expect(r.delivered.map((c: { work_id: string }) => c.work_id)).toEqual(['w8', 'w6', 'w7', 'w7']);
    expect(r.by_team).toEqual({ alpha: { items: 1, points: 5 }, beta: { items: 3, points: 11 } });
    expect(r.metrics).toEqual({ pi_velocity: 18, sprint_velocity: 16, items_delivered: 4, success_rate: 0.75 });
    expect(renderReport(r)).toContain('📈 PI Velocity: 18 story points');
  });

  it('inspect-adapt: PI results, velocity per sprint, problems, improvements', () => {
    const r = report('ia');
    expect(r.results).toEqual({ completions: 5, points: 18, failed: 1, predictability: 0.8 });
    expect(r.velocity_trend.map((s: { items: number; points: number }) => [s.items, s.points])).toEqual([
      [0, 0],
      [0, 0],
      [1, 2],
      [4, 16],
    ]);
    expect(r.problems).toEqual({ blocked_by_status: { blocked_on_review: 1 }, stale: 1, overloaded_teams: [] });
    expect(r.improvement_backlog).toEqual([
      '[Process] 1 held item in status "blocked_on_review": find the root cause',
      '[Flow] 1 stale claim (no activity for 24 h): release or finish them',
    ]);
  });

  it('art-sync: risks, dependencies, health with the velocity change between sprints', () => {
    const r = report('art-sync');
    expect(r.risks).toEqual([
      { level: 'high', risk: 'w2 blocked (blocked_on_review), team alpha' },
      { level: 'medium', risk: 'w3 stale (30 h idle), team beta' },
    ]);
    expect(r.dependencies).toEqual([{ team: 'gamma', open: 1, needs_capacity: true, can_help: [] }]);
    expect(r.health).toEqual({ wip: 3, throughput_per_day: 0.57, lead_time_median_h: 8, sprint_velocity: 16, previous_sprint_velocity: 2, velocity_change: 7 });
  });

  it('portfolio-kanban: columns by work type', () => {
    const r = report('portfolio-kanban');
    expect(r.columns).toEqual({
      funnel: { count: 3, by_work_type: { bugfix: 1, docs: 1, refactor: 1 } },
      implementing: { count: 3, by_work_type: { bugfix: 1, feature: 2 } },
      done: { count: 2, by_work_type: { bugfix: 1, feature: 1 } },
      failed: { count: 1, by_work_type: { bugfix: 1 } },
    });
  });

  it('coach-training: coaching focus from the signals of each team', () => {
    const r = report('coach-training');
    expect(r.coaching_focus).toEqual([
      { team: 'alpha', areas: ['impediment removal (1 blocked)'] },
      { team: 'beta', areas: ['flow and WIP limits (1 stale)'] },
      { team: 'gamma', areas: ['staffing (work but no available agent)'] },
    ]);
    expect(r.signals).toEqual({ blocked: 1, stale: 1, overloaded_teams: 0, teams_without_agents: 1 });
  });

  it("value-stream: flow times, efficiency, Little's law, per work type", () => {
    const r = report('vsm');
    expect(r.flow_efficiency).toBe(0.818);
    expect(r.expected_lead_time_days).toBe(5.26);
    expect(r.by_work_type).toEqual([
      { work_type: 'bugfix', completed: 1, lead_median_h: 8, cycle_median_h: 6 },
      { work_type: 'feature', completed: 1, lead_median_h: 14, cycle_median_h: 12 },
    ]);
    expect(renderReport(r)).toContain('⏱️ Lead time (created → completed): median 8 h, p90 14 h (2 items)');
  });
});

describe('Claude helper views', () => {
  const state = knownState();
  const analysis = analyzeBuiltin(toPlainState(state)!, { now: NOW });

  it('health: critical when half the held claims are stuck or a service is down, healthy when nothing is wrong', () => {
    const f = computeFigures(state, { now: NOW });
    const h = healthAnalysis(f, [], analysis);
    expect(h.system_health).toBe('critical'); // w2 blocked + w3 stale = 2 of 3 held
    expect(h.reasons).toEqual(['2 of 3 held claims are blocked or stale', '1 blocked claim', '1 stale claim (no activity for 24 h)']);
    expect(h.recommendations.immediate).toEqual(['Unblock w2', 'Release or finish 1 stale claim']);
    expect(h.figures).toMatchObject({ held: 3, blocked: 1, stale: 1, velocity_total: 18, sprint_velocity: 16 });

    const calm: CoordinationState = { agents: state.agents, work: { w1: state.work.w1 }, log: {} };
    const cf = computeFigures(calm, { now: NOW });
    expect(healthAnalysis(cf, [{ name: 'xavos', status: 'up' }], null).system_health).toBe('healthy');
    expect(healthAnalysis(cf, [{ name: 'xavos', status: 'slow' }], null)).toMatchObject({ system_health: 'degraded', reasons: ['service xavos is slow'] });
    const down = healthAnalysis(cf, [{ name: 'xavos', status: 'down', last_error: 'ECONNREFUSED' }], null);
    expect(down).toMatchObject({ system_health: 'critical', reasons: ['service xavos is down: ECONNREFUSED'] });
    expect(down.recommendations.immediate).toEqual(['Restore service xavos']);
  });

  it('pipe views: priorities, bottlenecks, recommendations, general; another shape passes through', () => {
    expect(pipeView('priorities', analysis).actions).toHaveLength(3);
    expect((pipeView('priorities', analysis).actions as string[])[0]).toMatch(/^Claim w4 \(critical priority/);
    expect(pipeView('bottlenecks', analysis).bottlenecks).toEqual([
      { type: 'resource', team: 'gamma', severity: 'high', description: 'no available agent in this team' },
    ]);
    const recs = recommendationsOf(analysis);
    expect(recs.length).toBeGreaterThan(0);
    expect(pipeView('recommendations', analysis)).toMatchObject({ immediate: recs.slice(0, 2), short_term: recs.slice(2, 4) });
    expect(pipeView('general', analysis)).toMatchObject({ status: systemStatusOf(analysis), issues: ['no available agent in this team'] });
    expect(pipeView('general', { verdict: 'fine' })).toEqual({ type: 'general', source: null, generated_at: null, result: { verdict: 'fine' } });
  });

  it('stream insights: legacy fields from the answer, else derived from the analysis', () => {
    expect(streamInsight({ timestamp: 't', system_status: 'optimal', urgent_actions: ['x'], next_recommendation: 'y' }, 'perf')).toEqual({
      timestamp: 't',
      focus_area: 'perf',
      system_status: 'optimal',
      urgent_actions: ['x'],
      next_recommendation: 'y',
    });
    const s = streamInsight(analysis, 'perf', NOW);
    expect(s.system_status).toBe('warning'); // the gamma bottleneck, nothing unassigned
    expect(s.next_recommendation).toBe(recommendationsOf(analysis)[0]);
    expect(streamInsight(null, 'x', NOW)).toEqual({
      timestamp: new Date(NOW).toISOString(),
      focus_area: 'x',
      system_status: 'unknown',
      urgent_actions: [],
      next_recommendation: 'continue monitoring',
    });
  });

  it('assignments for a team: its work or its agents', () => {
    const teams = new Map([
      ['a1', 'alpha'],
      ['a2', 'alpha'],
      ['b1', 'beta'],
    ]);
    const all = assignmentsFor(analysis, null, teams).assignments;
    expect(all.length).toBe(analysis.assignments.length);
    const gamma = assignmentsFor(analysis, 'gamma', teams).assignments;
    expect(gamma.map((a) => a.work_id)).toEqual(['w5']); // gamma's work, lent to another team
    for (const a of assignmentsFor(analysis, 'beta', teams).assignments) expect(a.work_id === 'w4' || teams.get(a.agent_id) === 'beta').toBe(true);
  });
});
