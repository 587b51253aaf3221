// `ai-processor legacy <subcommand> ...`: the legacy coordination_helper.sh, same arguments, same
// environment, same key output lines, talking to the daemon instead of editing the JSON files.
// bin/coordination_helper.sh is a drop-in wrapper around it.
//
// Differences from the legacy helper, on purpose:
// - exit codes: 0 done, 1 refused by the daemon (a claim held by another agent, not the holder,
//   unknown id), 2 usage error, 3 daemon unreachable; the legacy helper exited 0 whatever happened.
// - `progress` / `complete` without AGENT_ID act for the item's current holder (the legacy helper
//   edited the record whoever asked; its AGENT_ID never survived the process anyway). With AGENT_ID
//   set, only the holder is accepted.
// - legacy agents never heartbeat: `claim` asks for a lease sized from the item's estimate (30m ->
//   90 min) and `progress` renews it (docs/legacy-compatibility.md).
// - AGENT_TEAM is the default team of `claim` and `register` (the legacy only used it for the
//   velocity line), AGENT_ROLE the default specialization of `register`.
// - the Claude helpers print their JSON on stdout and their progress lines on stderr, so
//   `coordination_helper.sh claude-priorities | jq .analysis` works.
import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { ApiClient, DaemonUnreachableError, type ApiResponse } from '../client/api.js';
import { EXIT } from '../shared/exit-codes.js';
import { request } from './client-io.js';
import { generateId } from '../shared/ids.js';
import { processEnv, resolveToken, resolveUrl } from '../client/config.js';
import { PRIORITIES, type CoordinationState } from '../shared/types.js';
import { analyzeBuiltin, toPlainState, type Analysis, type AnalysisResult } from '../shared/builtin-analysis.js';
import type { ErrorBody } from '../shared/protocol.js';
import {
  assignmentsFor,
  healthAnalysis,
  immediateActionsOf,
  PIPE_TYPES,
  pipeView,
  recommendationsOf,
  streamInsight,
  type PipeType,
  type ServiceHealth,
} from '../shared/legacy-insights.js';
import { claimNextCommand } from './legacy-claim-next.js';
import { buildReport, computeFigures, renderReport, REPORT_ALIASES, REPORT_KINDS } from '../shared/legacy-reports.js';
import { LEGACY_ESTIMATED_DURATION } from '../shared/duration.js';

/** An analyzer's answer as read here: the builtin analysis's shape, any part possibly missing (a command or Claude may leave it out). */
type AnalyzerAnswer = Partial<Omit<AnalysisResult, 'analysis'>> & { analysis?: Partial<Analysis>; fallback_reason?: string };

/** Thrown to end the command with an exit code after its lines were printed. */
export class LegacyExit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

export interface LegacyOptions {
  json: boolean;
  url?: string;
  token?: string;
  workId?: string;
  staleHours?: number;
  days?: number;
}

export interface Io {
  env: NodeJS.ProcessEnv;
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  readStdin: () => Promise<string>;
  now: () => number;
}

const VALUE_OPTIONS: Record<string, 'url' | 'token' | 'workId' | 'staleHours' | 'days'> = {
  '--url': 'url',
  '--token': 'token',
  '--work-id': 'workId',
  '--stale-hours': 'staleHours',
  '--days': 'days',
};

/**
 * Splits the legacy arguments from our few options (--json, --url, --token, --work-id,
 * --stale-hours, --days; `--` ends them). Anything else, dashes included, is a positional argument
 * as in the legacy helper.
 */
export function parseLegacyArgs(raw: string[]): { sub: string | undefined; args: string[]; opts: LegacyOptions; error?: string } {
  const opts: LegacyOptions = { json: false };
  const positional: string[] = [];
  let error: string | undefined;
  for (let i = 0; i < raw.length; i++) {
    const a = raw[i];
    if (a === '--') {
      positional.push(...raw.slice(i + 1));
      break;
    }
    if (a === '--json') {
      opts.json = true;
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(0, eq) : a;
    const key = VALUE_OPTIONS[name];
    if (!key) {
      positional.push(a);
      continue;
    }
    const value = eq > 0 ? a.slice(eq + 1) : raw[++i];
    if (value === undefined) {
      error = `${name} needs a value`;
      break;
    }
    if (key === 'staleHours' || key === 'days') {
      const n = Number(value);
      if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || (key === 'days' && !Number.isInteger(n))) {
        error = `${name} must be a positive ${key === 'days' ? 'integer' : 'number'}, got "${value}"`;
        break;
      }
      opts[key] = n;
    } else opts[key] = value;
  }
  return { sub: positional[0], args: positional.slice(1), opts, error };
}

// ---- the session: output and daemon calls -----------------------------------------------------

class Session {
  readonly api: ApiClient;
  private readonly token: string | null;

  constructor(
    readonly opts: LegacyOptions,
    readonly io: Io,
  ) {
    this.token = resolveToken(opts.token, io.env);
    this.api = new ApiClient({ url: resolveUrl(opts.url, io.env), token: this.token, timeoutMs: 60_000 });
  }

  /** A legacy status line: stdout, or stderr when stdout carries JSON (--json). */
  say(line: string): void {
    (this.opts.json ? this.io.stderr : this.io.stdout)(line + '\n');
  }

  /** A progress line that never mixes with a command's JSON output. */
  note(line: string): void {
    this.io.stderr(line + '\n');
  }

  json(value: unknown, pretty = !this.opts.json): void {
    this.io.stdout(JSON.stringify(value, null, pretty ? 2 : undefined) + '\n');
  }

  fail(line: string, code: number): never {
    this.io.stderr(line + '\n');
    throw new LegacyExit(code);
  }

  usage(text: string): never {
    return this.fail(`❌ ERROR: ${text}`, EXIT.usage);
  }

  /** One request to the daemon over node:http (not fetch: loading undici costs more than the claim). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the legacy commands read the daemon's answers loosely, as the legacy helper did
  async call<T = any>(method: string, p: string, body?: unknown, headers?: Record<string, string>): Promise<ApiResponse<T>> {
    return request<T>(
      { url: this.api.url, token: this.token, timeoutMs: 60_000 },
      method,
      p,
      body,
      (message) => this.fail(`❌ ERROR: ${message}`, EXIT.unavailable),
      headers,
    );
  }

  /** Ends the command for a refused or failed daemon answer, in the legacy line style. */
  refused(res: ApiResponse<unknown>, what: string): never {
    const b = (res.body ?? {}) as Partial<ErrorBody>;
    const code = res.status >= 500 ? EXIT.unavailable : res.status === 400 ? EXIT.usage : EXIT.refused;
    if (this.opts.json) this.json(b);
    const prefix = res.status === 409 ? '⚠️ CONFLICT' : '❌ ERROR';
    return this.fail(`${prefix}: ${what}: ${b.message ?? b.error ?? `HTTP ${res.status}`}${b.error && b.message ? ` (${b.error})` : ''}`, code);
  }

  async state(): Promise<CoordinationState> {
    const res = await this.call<{ state: CoordinationState }>('GET', '/api/coordination/status');
    if (res.status !== 200) this.refused(res, 'cannot read the coordination state');
    return res.body.state;
  }

  /**
   * The analyzer's answer for `systemState` (the daemon's current state when undefined). When the
   * analyzer fails, is busy or times out, the builtin analysis of the same state is used instead,
   * as the legacy helper fell back to a fixed analysis when Claude was unavailable.
   */
  async analyze(systemState?: unknown): Promise<{ result: AnalyzerAnswer; fallback: string | null }> {
    const res = await this.call<AnalyzerAnswer & Partial<ErrorBody>>(
      'POST',
      '/api/claude/analyze-priorities',
      systemState === undefined ? {} : { system_state: systemState },
    );
    if (res.status === 200) return { result: res.body, fallback: null };
    if (res.status !== 429 && res.status < 500) this.refused(res, 'the analyzer refused the request');
    const reason = `${res.body?.error ?? `HTTP ${res.status}`}: ${res.body?.message ?? ''}`.trim();
    const plain = toPlainState(systemState === undefined ? await this.state() : systemState);
    if (!plain) this.fail(`❌ ERROR: analyzer unavailable (${reason}) and the input is not a coordination state`, EXIT.refused);
    return { result: { ...analyzeBuiltin(plain, { now: this.io.now() }), fallback_reason: reason }, fallback: reason };
  }

  /** Saves an analysis as the legacy did, in $COORDINATION_DIR (nothing is saved when it is unset). */
  save(file: string, value: unknown): void {
    const dir = this.io.env.COORDINATION_DIR;
    if (!dir) return;
    const target = path.join(dir, file);
    try {
      mkdirSync(dir, { recursive: true });
      const tmp = `${target}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n');
      renameSync(tmp, target);
      this.note(`💾 Saved ${target}`);
    } catch (err) {
      this.note(`⚠️ WARNING: could not save ${target}: ${(err as Error).message}`);
    }
  }
}

function newTrace(): { traceId: string; header: string } {
  const traceId = randomBytes(16).toString('hex');
  return { traceId, header: `00-${traceId}-${randomBytes(8).toString('hex')}-01` };
}

function checkPriority(s: Session, p: string): string {
  const priority = p.toLowerCase();
  if (!(PRIORITIES as readonly string[]).includes(priority)) s.usage(`priority must be one of ${PRIORITIES.join(', ')}, got "${p}"`);
  return priority;
}

function checkNumber(s: Session, name: string, v: string, min: number, max: number, integer = false): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n)))
    s.usage(`${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got "${v}"`);
  return n;
}

// ---- work commands ----------------------------------------------------------------------------

async function claim(s: Session, args: string[], intelligent: boolean): Promise<void> {
  const [workType, description = '', priorityArg = 'medium', teamArg] = args;
  if (!workType) s.usage(`usage: ${intelligent ? 'claim-intelligent' : 'claim'} <work_type> <description> [priority=medium] [team=autonomous_team]`);
  const priority = checkPriority(s, priorityArg);
  const team = teamArg || s.io.env.AGENT_TEAM || 'autonomous_team';
  const agentId = s.io.env.AGENT_ID || generateId('agent');
  const workId = s.opts.workId ?? generateId('work');

  if (intelligent) await adviseClaim(s, agentId, workType);

  const trace = newTrace();
  s.say(`🔍 Trace ID: ${trace.traceId}`);
  s.say(`🤖 Agent ${agentId} claiming work: ${workId}`);
  // Legacy agents never heartbeat: the claim's lease is sized from its estimate, as the legacy
  // helper wrote it on every claim (docs/legacy-compatibility.md), and each `progress` renews it.
  const claimBody = {
    work_id: workId,
    agent_id: agentId,
    work_type: workType,
    description,
    priority,
    team,
    estimated_duration: LEGACY_ESTIMATED_DURATION,
    lease_from_estimate: true,
  };
  const res = await s.call('POST', '/api/coordination/claim', claimBody, { traceparent: trace.header });
  if (res.status !== 200) {
    const b = res.body ?? {};
    if (s.opts.json) s.json(b);
    if (b.error === 'work_already_claimed') s.fail(`⚠️ CONFLICT: Work item ${workId} is already claimed by ${b.holder ?? 'another agent'}`, EXIT.refused);
    if (b.error === 'work_not_claimable') s.fail(`⚠️ CONFLICT: Work item ${workId} cannot be claimed: ${b.message}`, EXIT.refused);
    s.refused(res, `claim of ${workId} failed`);
  }
  const claimed = res.body.claim ?? {};
  const claimTeam = claimed.team ?? team;
  s.say(`✅ SUCCESS: Claimed work item ${workId} for team ${claimTeam}${res.body.idempotent ? ' (already held by this agent)' : ''}`);
  // The legacy helper (re)registered the agent in the claim's team after every claim.
  const reg = await s.call('POST', '/api/agents', { agent_id: agentId, team: claimTeam });
  if (reg.status === 200 || reg.status === 201)
    s.say(`🔧 REGISTERED: Agent ${agentId} in team ${reg.body.agent?.team ?? claimTeam} with ${reg.body.agent?.capacity ?? 100}% capacity`);
  else s.note(`⚠️ WARNING: could not register ${agentId}: ${reg.body?.message ?? reg.status}`);
  if (s.opts.json) s.json(res.body);
}

async function adviseClaim(s: Session, agentId: string, workType: string): Promise<void> {
  s.say(`🎯 Claude Intelligence: Analyzing optimal work claim for agent ${agentId}...`);
  let advice: { result: AnalyzerAnswer; fallback: string | null };
  try {
    const res = await s.call<AnalyzerAnswer & Partial<ErrorBody>>('POST', '/api/claude/analyze-priorities', {});
    if (res.status !== 200) throw new Error(`${res.body?.error ?? res.status}: ${res.body?.message ?? ''}`);
    advice = { result: res.body, fallback: null };
  } catch (err) {
    if (err instanceof LegacyExit) throw err;
    s.say(`⚠️ Claude work recommendation unavailable - proceeding with requested work (${(err as Error).message})`);
    return;
  }
  const recommendation = {
    requesting_agent: agentId,
    requested_work_type: workType,
    recommendation: recommendClaim(advice.result, agentId, workType),
    analysis: advice.result,
  };
  s.say('✅ Claude Work Recommendation Available');
  s.save(`claude_work_recommendation_${agentId}.json`, recommendation);
  s.say(`💡 Recommendation: ${recommendation.recommendation.action}`);
  s.say('🤖 Proceeding with intelligent work claiming...');
}

/** What the analysis suggests to an agent about to claim new work of `workType`. */
export function recommendClaim(
  result: AnalyzerAnswer | null | undefined,
  agentId: string,
  workType: string,
): { action: string; work_id: string | null; reason: string | null } {
  const assignment = Array.isArray(result?.assignments) ? result.assignments.find((a) => a?.agent_id === agentId) : undefined;
  if (assignment)
    return {
      action: `claim ${assignment.work_id} first (suggested for you: ${assignment.reason ?? 'best fit'})`,
      work_id: assignment.work_id,
      reason: assignment.reason ?? null,
    };
  const top = Array.isArray(result?.priorities) ? result.priorities.find((p) => p?.priority === 'critical') : undefined;
  if (top) return { action: `consider critical item ${top.work_id} before new ${workType} work`, work_id: top.work_id, reason: top.reason ?? null };
  return { action: `proceed with requested ${workType} work`, work_id: null, reason: recommendationsOf(result)[0] ?? null };
}

/** The agent acting on a held item: AGENT_ID, else the item's current holder. */
async function actingAgent(s: Session, workId: string): Promise<string> {
  if (s.io.env.AGENT_ID) return s.io.env.AGENT_ID;
  const res = await s.call('GET', `/api/work/${encodeURIComponent(workId)}`);
  if (res.status === 404 || res.status === 400) s.fail(`❌ ERROR: Work item ${workId} not found`, EXIT.refused);
  if (res.status !== 200) s.refused(res, `cannot read ${workId}`);
  const holder = res.body.work?.agent_id;
  if (typeof holder !== 'string' || !holder)
    s.fail(`❌ ERROR: Work item ${workId} is not claimed (status ${res.body.work?.status ?? 'unknown'})`, EXIT.refused);
  return holder;
}

async function progress(s: Session, args: string[]): Promise<void> {
  const [workId = s.io.env.CURRENT_WORK_ITEM, percentArg, status = 'in_progress'] = args;
  if (!workId) s.usage('No work item ID specified');
  if (percentArg === undefined) s.usage('usage: progress <work_id> <percent> [status=in_progress]');
  const percent = checkNumber(s, 'percent', percentArg, 0, 100);
  const agentId = await actingAgent(s, workId);
  const trace = newTrace();
  s.say(`🔍 Trace ID: ${trace.traceId}`);
  const res = await s.call(
    'POST',
    '/api/coordination/progress',
    { work_id: workId, agent_id: agentId, progress: percent, status },
    { traceparent: trace.header },
  );
  if (res.status !== 200) s.refused(res, `progress on ${workId} refused`);
  s.say(`📈 PROGRESS: Updated ${workId} to ${percent}% (${status})`);
  if (s.opts.json) s.json(res.body);
}

async function complete(s: Session, args: string[]): Promise<void> {
  const [workId = s.io.env.CURRENT_WORK_ITEM, result = 'success', pointsArg = '5'] = args;
  if (!workId) s.usage('No work item ID specified');
  const points = checkNumber(s, 'velocity_points', pointsArg, 0, 10000);
  const agentId = await actingAgent(s, workId);
  const trace = newTrace();
  const res = await s.call(
    'POST',
    '/api/coordination/complete',
    { work_id: workId, agent_id: agentId, result, velocity_points: points },
    { traceparent: trace.header },
  );
  if (res.status !== 200) s.refused(res, `completion of ${workId} refused`);
  s.say(`✅ COMPLETED: Released claim for ${workId} (${result}) - ${points} velocity points`);
  // The daemon appends the velocity line (velocity_log.txt) for the work item's team.
  s.say(`📊 VELOCITY: Added ${points} points to team ${res.body.work?.team ?? s.io.env.AGENT_TEAM ?? 'autonomous_team'} velocity`);
  if (s.opts.json) s.json(res.body);
}

async function register(s: Session, args: string[]): Promise<void> {
  const [
    agentId = s.io.env.AGENT_ID,
    team = s.io.env.AGENT_TEAM || 'autonomous_team',
    capacityArg = '100',
    specialization = s.io.env.AGENT_ROLE || 'general_development',
  ] = args;
  if (!agentId) s.usage('usage: register <agent_id> [team] [capacity=100] [specialization] (or set AGENT_ID)');
  const capacity = checkNumber(s, 'capacity', capacityArg, 0, 100000, true);
  const res = await s.call('POST', '/api/agents', { agent_id: agentId, team, capacity, specialization });
  if (res.status !== 200 && res.status !== 201) s.refused(res, `registration of ${agentId} refused`);
  s.say(`🔧 REGISTERED: Agent ${agentId} in team ${res.body.agent?.team ?? team} with ${res.body.agent?.capacity ?? capacity}% capacity`);
  if (s.opts.json) s.json(res.body);
}

// ---- Claude helpers ---------------------------------------------------------------------------

async function claudePriorities(s: Session): Promise<void> {
  s.note('🧠 Claude Intelligence: Analyzing work priorities with structured output...');
  const { result, fallback } = await s.analyze();
  if (fallback) s.note(`⚠️ Claude analysis unavailable - using fallback prioritization (${fallback})`);
  else s.note('✅ Claude Priority Analysis Complete with validated JSON');
  s.save('claude_priority_analysis.json', result);
  s.json(result);
  const actions = immediateActionsOf(result);
  if (actions.length) s.note(['⚡ IMMEDIATE ACTIONS RECOMMENDED:', ...actions.map((a) => `  • ${a}`)].join('\n'));
}

async function agentTeams(s: Session): Promise<Map<string, string>> {
  const res = await s.call<{ agents: Array<{ agent_id: string; team?: string }> }>('GET', '/api/agents');
  return new Map((res.status === 200 ? res.body.agents : []).map((a) => [a.agent_id, a.team ?? '']));
}

async function claudeOptimize(s: Session, args: string[]): Promise<void> {
  const team = args[0] && args[0] !== '--all-teams' ? args[0] : null;
  s.note(`🎯 Claude Intelligence: Optimizing work assignments${team ? ` for team ${team}` : ''}...`);
  const { result, fallback } = await s.analyze();
  if (fallback) s.note(`⚠️ Claude analysis unavailable - using fallback optimization (${fallback})`);
  const { assignments, unassigned } = assignmentsFor(result, team, await agentTeams(s));
  const out = {
    analysis_timestamp: new Date(s.io.now()).toISOString(),
    team,
    assignments,
    unassigned,
    source: result?.source ?? null,
    fallback_reason: fallback,
  };
  s.note(
    `✅ Assignment optimization complete: ${assignments.length} assignment${assignments.length === 1 ? '' : 's'} suggested, ${unassigned.length} unassigned`,
  );
  for (const a of assignments.slice(0, 20)) s.note(`  👉 ${a.work_id} → ${a.agent_id}${a.reason ? ` (${a.reason})` : ''}`);
  s.save('claude_assignment_optimization.json', out);
  s.json(out);
}

async function services(s: Session): Promise<ServiceHealth[]> {
  const res = await s.call<{ services: ServiceHealth[] }>('GET', '/api/services');
  return res.status === 200 && Array.isArray(res.body.services) ? res.body.services : [];
}

async function claudeHealth(s: Session): Promise<void> {
  s.note('🔍 Claude Intelligence: Analyzing system health and coordination patterns...');
  const figures = computeFigures(await s.state(), { now: s.io.now(), staleAfterH: s.opts.staleHours, windowDays: s.opts.days });
  const { result, fallback } = await s.analyze();
  const health = { ...healthAnalysis(figures, await services(s), result), analysis: result, fallback_reason: fallback };
  s.note(`✅ Claude System Health Analysis Complete: ${health.system_health}`);
  if (health.recommendations.immediate.length)
    s.note(['🚨 CRITICAL RECOMMENDATIONS:', ...health.recommendations.immediate.slice(0, 3).map((r) => `  ⚡ ${r}`)].join('\n'));
  s.save('claude_health_analysis.json', health);
  s.json(health);
}

async function claudeTeams(s: Session, args: string[]): Promise<void> {
  const team = args[0] || null;
  s.note(`👥 Claude Intelligence: Analyzing ${team ? `team ${team}` : 'team formation'}...`);
  const figures = computeFigures(await s.state(), { now: s.io.now(), staleAfterH: s.opts.staleHours, windowDays: s.opts.days });
  const teams = figures.teams.filter((t) => team === null || t.team === team);
  if (team !== null && teams.length === 0) s.fail(`❌ ERROR: no team ${team} (teams: ${figures.teams.map((t) => t.team).join(', ') || 'none'})`, EXIT.refused);
  const { result, fallback } = await s.analyze();
  const analyzerTeams = Array.isArray(result?.analysis?.teams) ? result.analysis.teams : [];
  const out = {
    analysis_timestamp: figures.generated_at,
    team,
    teams: teams.map((t) => ({ ...t, analyzer: analyzerTeams.find((a: { team?: string }) => a?.team === t.team) ?? null })),
    bottlenecks: (Array.isArray(result?.analysis?.bottlenecks) ? result.analysis.bottlenecks : []).filter(
      (b: { team?: string }) => team === null || b?.team === team,
    ),
    recommendations: recommendationsOf(result).filter((r) => team === null || r.includes(team)),
    source: result?.source ?? null,
    fallback_reason: fallback,
  };
  s.note('✅ Claude Team Analysis Complete');
  for (const t of out.teams.slice(0, 20))
    s.note(`  👥 ${t.team}: ${t.agents} agents, ${t.held} held / ${t.capacity_items} capacity, velocity ${t.velocity} (${t.sprint_velocity} this sprint)`);
  s.save('claude_team_analysis.json', out);
  s.json(out);
}

const REPORT_FILES: Array<[string, string]> = [
  ['claude_priority_analysis.json', '🎯 Work Priority Analysis'],
  ['claude_assignment_optimization.json', '👉 Assignment Optimization'],
  ['claude_team_analysis.json', '👥 Team Analysis'],
  ['claude_health_analysis.json', '🔍 System Health Analysis'],
];

async function claudeDashboard(s: Session): Promise<void> {
  const status = await s.call('GET', '/api/claude/status');
  const analyzer = status.status === 200 ? status.body : null;
  const { result, fallback } = await s.analyze();
  const dir = s.io.env.COORDINATION_DIR;
  const reports = dir ? REPORT_FILES.filter(([f]) => existsSync(path.join(dir, f))).map(([f]) => f) : [];
  const priorities = Array.isArray(result?.priorities) ? result.priorities.slice(0, 5) : [];
  const summary = result?.analysis?.summary ?? null;
  if (s.opts.json) return s.json({ analyzer, summary, priorities, recommendations: recommendationsOf(result), reports, fallback_reason: fallback });
  const lines = ['', '🧠 CLAUDE INTELLIGENCE COORDINATION DASHBOARD', '=============================================='];
  lines.push(
    '',
    analyzer
      ? `🤖 ANALYZER: ${analyzer.mode}${analyzer.command ? ` (${analyzer.command})` : ''}, ${analyzer.running} running, ${analyzer.queued} queued, last outcome ${analyzer.last_outcome ?? 'none'}`
      : '🤖 ANALYZER: status unavailable',
  );
  if (fallback) lines.push(`  ⚠️ analyzer unavailable, builtin fallback shown (${fallback})`);
  if (summary) lines.push(`📊 SUMMARY: ${summary}`);
  lines.push(
    '',
    '🎯 TOP PRIORITIES:',
    ...(priorities.length
      ? priorities.map(
          (p: { work_id: string; score?: number; reason?: string }, i: number) =>
            `  ${i + 1}. ${p.work_id}${p.score !== undefined ? ` (score ${p.score})` : ''}${p.reason ? `: ${p.reason}` : ''}`,
        )
      : ['  (no claimable work)']),
  );
  const recs = recommendationsOf(result);
  if (recs.length) lines.push('', '⚡ RECOMMENDATIONS:', ...recs.slice(0, 5).map((r) => `  • ${r}`));
  lines.push('', '📊 AVAILABLE INTELLIGENCE REPORTS:');
  if (!dir) lines.push('  (set COORDINATION_DIR to keep reports)');
  else if (reports.length === 0) lines.push('  📋 No intelligence reports available - run analysis commands to generate');
  else for (const [f, label] of REPORT_FILES) if (reports.includes(f)) lines.push(`  ${label}: Available`);
  lines.push(
    '',
    '🚀 INTELLIGENCE COMMANDS:',
    '  claude-analyze-priorities    - Analyze work priority optimization',
    '  claude-optimize-assignments  - Suggest work assignments [team]',
    '  claude-health-analysis       - System health analysis',
    '  claude-team-analysis         - Team analysis [team]',
    '  claude-stream <focus> [s]    - Real-time coordination insights',
    '  claude-pipe <type>           - Analyze JSON from stdin',
  );
  s.io.stdout(lines.join('\n') + '\n');
}

/** Reads the NDJSON answer of POST /api/claude/stream; [] when the request did not finish in time. */
async function streamOnce(s: Session, event: unknown, timeoutMs: number): Promise<Array<{ ok: boolean; result?: unknown; error?: string; message?: string }>> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/x-ndjson' };
  const token = s.opts.token ?? s.io.env.AI_PROCESSOR_TOKEN;
  if (token) headers.authorization = `Bearer ${token}`;
  let text: string;
  try {
    const res = await fetch(s.api.url + '/api/claude/stream', {
      method: 'POST',
      headers,
      body: JSON.stringify({ events: [event] }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    text = await res.text();
    if (!res.ok) {
      let body: { error?: string; message?: string } = {};
      try {
        body = JSON.parse(text);
      } catch {
        /* not JSON */
      }
      return [{ ok: false, error: body.error ?? `HTTP ${res.status}`, message: body.message ?? text.slice(0, 200) }];
    }
  } catch (err) {
    if ((err as Error).name === 'TimeoutError') return [];
    s.fail(`❌ ERROR: ${new DaemonUnreachableError(s.api.url, (err as { cause?: unknown }).cause ?? err).message}`, EXIT.unavailable);
  }
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l))
    .filter((l) => !l.done);
}

async function claudeStream(s: Session, args: string[]): Promise<void> {
  const focus = args[0] || 'general';
  const seconds = args[1] === undefined ? 30 : checkNumber(s, 'duration', args[1], 0.1, 86400);
  const tickMs = 5000;
  s.say(`🔄 Starting real-time Claude coordination stream for ${seconds} seconds...`);
  const start = s.io.now();
  const deadline = start + seconds * 1000;
  for (let tick = 0; ; tick++) {
    const at = start + tick * tickMs;
    if (tick > 0 && at >= deadline) break;
    const wait = at - s.io.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const answers = await streamOnce(s, { focus_area: focus, tick, timestamp: new Date(s.io.now()).toISOString() }, Math.max(1000, deadline - s.io.now()));
    for (const a of answers) {
      if (!a.ok) {
        s.say(`⚠️ [${new Date(s.io.now()).toISOString()}] analyzer: ${a.error}: ${a.message ?? ''}`);
        continue;
      }
      const insight = streamInsight(a.result, focus, s.io.now());
      if (s.opts.json) {
        s.json(insight, false);
        continue;
      }
      s.say(`⚡ [${insight.timestamp}] Status: ${insight.system_status}`);
      if (insight.urgent_actions.length) s.say(`  🚨 Urgent: ${insight.urgent_actions.join('; ')}`);
      s.say(`  💡 Next: ${insight.next_recommendation}`);
    }
  }
  const rest = deadline - s.io.now();
  if (rest > 0) await new Promise((r) => setTimeout(r, rest));
  s.say('✅ Real-time coordination stream completed');
}

async function claudePipe(s: Session, args: string[]): Promise<void> {
  const type = (args[0] || 'general') as PipeType;
  if (!(PIPE_TYPES as readonly string[]).includes(type)) s.usage(`analysis type must be one of ${PIPE_TYPES.join(', ')}, got "${args[0]}"`);
  s.note(`🔍 Claude Pipe Analyzer (${type}) - Reading from stdin...`);
  const text = await s.io.readStdin();
  if (!text.trim()) s.fail('❌ No input data received', EXIT.usage);
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch (err) {
    s.usage(`stdin is not JSON: ${(err as Error).message}`);
  }
  const { result, fallback } = await s.analyze(input);
  if (fallback) s.note(`⚠️ Claude analysis unavailable - using fallback analysis (${fallback})`);
  s.json({ ...pipeView(type, result), ...(fallback ? { fallback_reason: fallback } : {}) });
}

// ---- path leases (new: the legacy helper had none) -------------------------------------------

/** Absolute from the current directory, keeping a trailing `/` (a directory lease). */
function absolutePath(p: string): string {
  const abs = path.resolve(p);
  return p.endsWith('/') && !abs.endsWith('/') ? abs + '/' : abs;
}

async function claimPaths(s: Session, args: string[]): Promise<void> {
  const agentId = s.io.env.AGENT_ID;
  if (!agentId) s.usage('claim-paths needs AGENT_ID');
  if (args.length === 0) s.usage('usage: claim-paths <path...> (files, or directories ending with /)');
  const workId = s.opts.workId ?? (s.io.env.CURRENT_WORK_ITEM || undefined);
  const res = await s.call('POST', '/api/paths/claim', { agent_id: agentId, paths: args.map(absolutePath), work_id: workId });
  if (res.status !== 200) s.refused(res, 'path lease refused');
  const leases = res.body.leases as Array<{ path: string; fencing_token: number }>;
  s.say(`🔒 PATHS: Leased ${leases.length} path(s) for ${agentId}${workId ? ` (work ${workId})` : ''}: ${leases.map((l) => l.path).join(', ')}`);
  for (const w of res.body.warnings as Array<{ path: string; agent_id: string }>)
    s.say(`⚠️ WARNING: ${w.path} is also being edited by ${w.agent_id} in another worktree`);
  if (s.opts.json) s.json(res.body);
}

async function releasePaths(s: Session, args: string[]): Promise<void> {
  const agentId = s.io.env.AGENT_ID;
  if (!agentId) s.usage('release-paths needs AGENT_ID');
  const res = await s.call('POST', '/api/paths/release', { agent_id: agentId, paths: args.length ? args.map(absolutePath) : undefined });
  if (res.status !== 200) s.refused(res, 'path release refused');
  s.say(`🔓 PATHS: Released ${(res.body.released as unknown[]).length} path lease(s) of ${agentId}`);
  if (s.opts.json) s.json(res.body);
}

// ---- reports ----------------------------------------------------------------------------------

async function report(s: Session, kind: string): Promise<void> {
  const r = buildReport(kind, await s.state(), { now: s.io.now(), staleAfterH: s.opts.staleHours, windowDays: s.opts.days });
  if (s.opts.json) s.json(r, false);
  else s.io.stdout(renderReport(r));
}

// ---- dispatch ---------------------------------------------------------------------------------

export const HELP = `🤖 SCRUM AT SCALE AGENT COORDINATION HELPER (ai-processor)
Usage: coordination_helper.sh <command> [args...] [--json] [--url URL]

🎯 Work Management Commands:
  claim <work_type> <description> [priority] [team]   - Claim new work (work_<ns> id); exit 1 if refused
  claim-intelligent | claim-ai <same arguments>       - Ask the analyzer for advice, then claim
  claim-next [work_type|any] [wait_seconds] [team]   - Claim the best ready item (priority, then age)
  progress <work_id> <percent> [status]               - Update work progress
  complete <work_id> [result] [velocity_points]       - Complete work and update velocity
  register <agent_id> [team] [capacity] [spec]        - Register agent in Scrum team
  generate-id                                         - Generate nanosecond agent ID
  claim-paths <path...>                               - Lease files / directories (dir/) for AGENT_ID, all or none;
                                                        tied to --work-id or CURRENT_WORK_ITEM; exit 1 if another agent holds one
  release-paths [path...]                             - End AGENT_ID's path leases (all without paths)

🧠 Claude Intelligence Commands (the daemon's analyzer; builtin fallback):
  claude-analyze-priorities | claude-priorities       - Priority analysis (JSON on stdout)
  claude-optimize-assignments [team]                  - Suggested assignments
  claude-health-analysis | claude-health              - System health analysis
  claude-team-analysis [team]                         - Team analysis
  claude-dashboard | intelligence                     - Intelligence dashboard
  claude-stream <focus> [seconds] | stream            - Real-time coordination insights
  claude-pipe <type> | pipe                           - Analyze JSON from stdin (priorities|bottlenecks|recommendations|general)

📊 Scrum at Scale Commands (live figures):
  dashboard, pi-planning, scrum-of-scrums, innovation-planning | ip, system-demo,
  inspect-adapt | ia, art-sync, portfolio-kanban, coach-training, value-stream | vsm

Options: --json (JSON on stdout), --url URL (else AI_PROCESSOR_URL), --token T (else AI_PROCESSOR_TOKEN),
  --work-id ID (claim: an existing or chosen id), --stale-hours H (default 24), --days N (throughput window, default 7)
Environment: AGENT_ID, AGENT_TEAM, AGENT_ROLE, COORDINATION_DIR (where Claude analyses are saved),
  CURRENT_WORK_ITEM, AI_PROCESSOR_URL, AI_PROCESSOR_TOKEN
Exit codes: 0 done, 1 refused (conflict, not holder, unknown id), 2 usage, 3 daemon unreachable
`;

/** Runs one legacy subcommand; returns the exit code. */
export async function runLegacy(raw: string[], io: Io): Promise<number> {
  const { sub, args, opts, error } = parseLegacyArgs(raw);
  if (error) {
    io.stderr(`❌ ERROR: ${error}\n`);
    return EXIT.usage;
  }
  const s = new Session(opts, io);
  try {
    switch (sub) {
      case 'claim':
        await claim(s, args, false);
        break;
      case 'claim-intelligent':
      case 'claim-ai':
        await claim(s, args, true);
        break;
      case 'claim-next':
        await claimNextCommand(s, args, EXIT.refused);
        break;
      case 'progress':
        await progress(s, args);
        break;
      case 'complete':
        await complete(s, args);
        break;
      case 'register':
        await register(s, args);
        break;
      case 'claim-paths':
        await claimPaths(s, args);
        break;
      case 'release-paths':
        await releasePaths(s, args);
        break;
      case 'generate-id':
        io.stdout(generateId('agent') + '\n');
        break;
      case 'claude-analyze-priorities':
      case 'claude-priorities':
        await claudePriorities(s);
        break;
      case 'claude-optimize-assignments':
        await claudeOptimize(s, args);
        break;
      case 'claude-health-analysis':
      case 'claude-health':
        await claudeHealth(s);
        break;
      case 'claude-team-analysis':
        await claudeTeams(s, args);
        break;
      case 'claude-dashboard':
      case 'intelligence':
        await claudeDashboard(s);
        break;
      case 'claude-stream':
      case 'stream':
        await claudeStream(s, args);
        break;
      case 'claude-pipe':
      case 'pipe':
        await claudePipe(s, args);
        break;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.stdout(HELP);
        break;
      default:
        if ((REPORT_KINDS as readonly string[]).includes(sub) || sub in REPORT_ALIASES) {
          await report(s, sub);
          break;
        }
        io.stderr(`❌ ERROR: unknown command "${sub}"\n\n${HELP}`);
        return EXIT.usage;
    }
    return EXIT.ok;
  } catch (err) {
    if (err instanceof LegacyExit) return err.code;
    throw err;
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  return text;
}

export function registerLegacyCommand(program: Command): void {
  program
    .command('legacy')
    .description('coordination_helper.sh-compatible commands (claim, progress, complete, register, dashboard, claude-*, ...); `legacy help` lists them')
    .argument('[args...]', 'the legacy subcommand and its arguments')
    .allowUnknownOption()
    .allowExcessArguments()
    .helpOption(false)
    .action((args: string[]) => runLegacyProcess(args));
}

/** Runs one legacy subcommand with this process's environment and streams, then exits with its code. */
export async function runLegacyProcess(args: string[]): Promise<never> {
  const code = await runLegacy(args, {
    env: processEnv(),
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    readStdin: () => readAll(process.stdin),
    now: Date.now,
  });
  process.exit(code);
}
