// Test-data generators (in the spirit of otel-tui's tracegen): deterministic from a seed, shaped like
// the legacy records (agent_status.json, work_claims.json, coordination_log.json, telemetry_spans.jsonl)
// so panels, the state cache and stream tests can be fed without a daemon.
import { applyChanges, stateChecksum, StateDigest } from '../../shared/checksum.js';
import type { DeltaMessage, LegacySpan, SnapshotMessage, StatsResponse } from '../../shared/protocol.js';
import type { ChangeCause, CoordinationState, Entry, JsonObject, RecordChange, Section } from '../../shared/types.js';
import { emptyState, PRIORITIES } from '../../shared/types.js';
import { rng, type Rand } from '../../shared/random.js';

/** Fixed "now" so generated ages are stable across runs: 2026-01-15T12:00:00Z. */
export { rng, type Rand };

export const GEN_NOW = Date.UTC(2026, 0, 15, 12, 0, 0);

const int = (r: Rand, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
const hex = (r: Rand, n: number): string => Array.from({ length: n }, () => Math.floor(r() * 16).toString(16)).join('');
/** Legacy timestamps are ISO UTC with whole seconds. */
export const isoSeconds = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export const TEAMS = ['coordination_team', 'development_team', 'integration_team', 'verification_team', 'autonomous_team', 'observability_team'] as const;
export const WORK_TYPES = [
  'coordination_optimization',
  'performance_enhancement',
  'claude_verification',
  'sprint_planning',
  'observability_infrastructure',
  'test_arithmetic_fix',
  'autonomous_validation',
] as const;
const SPECIALIZATIONS = ['general_development', 'scrum_master', 'backend_developer', 'developer', 'observability'] as const;
export const WORK_STATUSES = ['pending', 'claimed', 'in_progress', 'completed'] as const;

export interface GenStateOptions {
  agents?: number;
  work?: number;
  seed?: number;
  now?: number;
  /** How many agents get a heartbeat minutes old (the last ones). Default: a fifth, at least one. */
  stale?: number;
  /** Claude Code session agents added (genSessionAgent), statuses cycling through SESSION_STATUSES. */
  sessions?: number;
}

/** Statuses of generated sessions, in turn: needs_input, working, idle, working, offline, ... */
export const SESSION_STATUSES = ['needs_input', 'working', 'idle', 'working', 'offline'] as const;
const TOOLS = [
  ['Edit', 'src/db.ts'],
  ['Bash', 'npm test'],
  ['Read', 'README.md'],
  ['Grep', 'TODO'],
  ['WebFetch', 'https://example.com/docs'],
] as const;
const PROJECTS = ['webapp', 'billing-api', 'infra', 'mobile'] as const;

export interface GenSessionOptions {
  status?: string;
  now?: number;
  /** Seconds the session has waited (needs_input only). */
  waitedS?: number;
  costUsd?: number | null;
  overBudget?: boolean;
}

/** A Claude Code session's agent record as the daemon keeps it (hooks + telemetry), key `cc_<session_id>`. */
export function genSessionAgent(r: Rand, opts: GenSessionOptions = {}): { key: string; data: JsonObject } {
  const now = opts.now ?? GEN_NOW;
  const status = opts.status ?? pick(r, SESSION_STATUSES);
  const sessionId = `${hex(r, 8)}-${hex(r, 4)}-4${hex(r, 3)}-a${hex(r, 3)}-${hex(r, 12)}`;
  const project = pick(r, PROJECTS);
  const cwd = `/home/dev/projects/${project}`;
  const [tool, target] = pick(r, TOOLS);
  const at = now - int(r, 1, 30) * 1000;
  const beat = status === 'needs_input' ? now - (opts.waitedS ?? int(r, 30, 900)) * 1000 : at;
  const cost = opts.costUsd === undefined ? Math.round(r() * 500) / 100 : opts.costUsd;
  const data: JsonObject = {
    agent_id: `cc_${sessionId}`,
    status,
    source: 'claude-code',
    session_id: sessionId,
    cwd,
    project,
    model: pick(r, ['claude-sonnet-4-5', 'claude-opus-4-1']),
    transcript_path: `/home/dev/.claude/projects/-home-dev-projects-${project}/${sessionId}.jsonl`,
    permission_mode: 'default',
    last_event: status === 'needs_input' ? 'Notification' : 'PostToolUse',
    last_event_at: isoSeconds(beat),
    last_heartbeat: isoSeconds(beat),
    activity: { tool, target: target.includes('/') && !target.startsWith('http') ? `${cwd}/${target}` : target, at: isoSeconds(at) },
    subagents: [
      { agent_id: `sub_${hex(r, 6)}`, agent_type: 'Explore', started_at: isoSeconds(at - 60_000), stopped_at: r() < 0.5 ? null : isoSeconds(at - 5000) },
    ],
  };
  if (status === 'needs_input') data.needs_input = { message: `Claude needs your permission to use ${tool}`, since: isoSeconds(beat) };
  if (cost !== null) {
    const input = int(r, 1000, 90_000);
    data.usage = {
      cost_usd: cost,
      tokens: { input, output: Math.floor(input / 4), cache_read: input * 3, cache_creation: Math.floor(input / 2) },
      active_s: int(r, 10, 3600),
      lines_added: int(r, 0, 400),
      lines_removed: int(r, 0, 100),
      commits: int(r, 0, 3),
      pull_requests: 0,
    };
    data.usage_day = { date: new Date(now).toISOString().slice(0, 10), cost_usd: cost };
  }
  if (opts.overBudget) data.over_budget = true;
  return { key: data.agent_id as string, data };
}

/** Nanosecond-style ids as the legacy helper makes them: `<prefix>_<19 digits>`, unique and increasing. */
function nsIds(r: Rand, prefix: string, n: number, base: bigint): string[] {
  const ids: string[] = [];
  let ns = base;
  for (let i = 0; i < n; i++) {
    ns += BigInt(int(r, 1, 9_000_000)) * 1000n;
    ids.push(`${prefix}_${ns}`);
  }
  return ids;
}

/** A coordination state with `agents` agents, `work` work items and a log entry per completed item. */
export function genState(opts: GenStateOptions = {}): CoordinationState {
  const { agents = 10, work = 30, seed = 1, now = GEN_NOW } = opts;
  const stale = opts.stale ?? Math.max(agents > 0 ? 1 : 0, Math.floor(agents / 5));
  const r = rng(seed);
  const state = emptyState();
  let rev = 0;
  const put = (section: Section, key: string, data: JsonObject): void => {
    state[section][key] = { v: int(r, 1, 4), rev: ++rev, data };
  };

  const agentIds = nsIds(r, 'agent', agents, 1_750_000_000_000_000_000n);
  const teamOf = new Map<string, string>();
  const held = new Map<string, number>();
  const workData: JsonObject[] = [];
  const workIds = nsIds(r, 'work', work, 1_750_100_000_000_000_000n);
  for (const id of workIds) {
    const status = pick(r, WORK_STATUSES);
    const team = pick(r, TEAMS);
    const created = now - int(r, 60, 6 * 3600) * 1000;
    const data: JsonObject = {
      work_item_id: id,
      agent_id: null,
      reactor_id: 'shell_agent',
      claimed_at: null,
      estimated_duration: pick(r, ['15m', '30m', '45m', '1h']),
      work_type: pick(r, WORK_TYPES),
      priority: pick(r, PRIORITIES),
      description: `Generated work item ${id.slice(-6)}`,
      status,
      team,
      created_at: isoSeconds(created),
      telemetry: { trace_id: hex(r, 32), span_id: '', operation: 's2s.work.claim', service: 's2s-coordination' },
    };
    if (status !== 'pending' && agents > 0) {
      const agent = pick(r, agentIds);
      data.agent_id = agent;
      data.claimed_at = isoSeconds(created + int(r, 1, 50) * 1000);
      data.progress = status === 'claimed' ? 0 : status === 'completed' ? 100 : int(r, 5, 95);
      data.last_update = isoSeconds(created + int(r, 51, 59) * 1000);
      if (status === 'completed') {
        data.completed_at = isoSeconds(created + int(r, 60, 600) * 1000);
        data.result = 'success';
      } else {
        held.set(agent, (held.get(agent) ?? 0) + 1);
      }
      if (!teamOf.has(agent)) teamOf.set(agent, team);
    } else if (status !== 'pending') {
      data.status = 'pending';
    }
    workData.push(data);
  }

  agentIds.forEach((id, i) => {
    const isStale = i >= agents - stale;
    const beat = isStale ? now - int(r, 5, 90) * 60_000 : now - int(r, 0, 20) * 1000;
    put('agents', id, {
      agent_id: id,
      team: teamOf.get(id) ?? pick(r, TEAMS),
      status: 'active',
      capacity: pick(r, [80, 100, 100]),
      current_workload: (held.get(id) ?? 0) * 10,
      specialization: pick(r, SPECIALIZATIONS),
      last_heartbeat: isoSeconds(beat),
      performance_metrics: { tasks_completed: int(r, 0, 40), average_completion_time: `${int(r, 5, 60)}m`, success_rate: 100.0 },
    });
  });
  for (const data of workData) put('work', data.work_item_id as string, data);
  // Sessions from their own stream of randomness: states without them stay as they were.
  const rs = rng(seed + 1_000_003);
  for (let i = 0; i < (opts.sessions ?? 0); i++) {
    const { key, data } = genSessionAgent(rs, { status: SESSION_STATUSES[i % SESSION_STATUSES.length], now });
    put('agents', key, data);
  }
  let n = 0;
  for (const data of workData) {
    if (data.status !== 'completed') continue;
    put('log', `log_${++n}`, {
      work_item_id: data.work_item_id,
      completed_at: data.completed_at,
      agent_id: data.agent_id,
      result: 'success',
      velocity_points: pick(r, [3, 5, 8, 12, 21]),
    });
  }
  return state;
}

/** Highest `rev` in a state: the revision a snapshot of it carries. */
export function maxRevision(state: CoordinationState): number {
  let rev = 0;
  for (const section of Object.values(state)) for (const e of Object.values<Entry>(section)) rev = Math.max(rev, e.rev);
  return rev;
}

export function genSnapshot(opts: GenStateOptions = {}): SnapshotMessage {
  const state = genState(opts);
  return { type: 'snapshot', revision: maxRevision(state), state, checksum: stateChecksum(state) };
}

/**
 * Produces valid deltas (revision +1, correct checksum) on top of a snapshot, like the daemon would.
 * Keeps its own copy of the state, so the messages can be fed to a model that mutates its own.
 */
export class DeltaGen {
  readonly state: CoordinationState;
  revision: number;
  private readonly digest: StateDigest;
  private readonly r: Rand;
  private tick = 0;

  constructor(
    snapshot: SnapshotMessage,
    seed = 7,
    private readonly now = GEN_NOW,
  ) {
    this.state = structuredClone(snapshot.state);
    this.revision = snapshot.revision;
    this.digest = StateDigest.of(this.state);
    this.r = rng(seed);
  }

  /** Applies the changes and returns the delta message for them. */
  delta(changes: RecordChange[], cause?: ChangeCause): DeltaMessage {
    this.revision++;
    applyChanges(this.state, structuredClone(changes), this.digest);
    const ts = BigInt(this.now + ++this.tick) * 1_000_000n;
    return {
      type: 'delta',
      revision: this.revision,
      changes: structuredClone(changes),
      timestamp_ns: ts.toString(),
      checksum: this.digest.hex(),
      ...(cause ? { cause } : {}),
    };
  }

  /** Put a record (merging `patch` into its current data), as the daemon's change for one record. */
  put(section: Section, key: string, patch: JsonObject, cause?: ChangeCause): DeltaMessage {
    const old = this.state[section][key];
    const entry: Entry = { v: (old?.v ?? 0) + 1, rev: this.revision + 1, data: { ...(old?.data ?? {}), ...patch } };
    return this.delta([{ section, key, op: 'put', entry }], cause);
  }

  del(section: Section, key: string): DeltaMessage {
    return this.delta([{ section, key, op: 'del' }]);
  }

  /** A plausible change: progress on a work item or a heartbeat, alternating. */
  next(): DeltaMessage {
    const n = this.tick;
    const work = Object.keys(this.state.work);
    const agents = Object.keys(this.state.agents);
    if ((n % 2 === 0 || agents.length === 0) && work.length > 0) {
      const key = work[Math.floor(this.r() * work.length)];
      return this.put('work', key, { progress: int(this.r, 0, 100), last_update: isoSeconds(this.now) }, { op: 'progress', work_id: key, source: 'api' });
    }
    const key = agents[Math.floor(this.r() * agents.length)];
    return this.put('agents', key, { last_heartbeat: isoSeconds(this.now) }, { op: 'heartbeat', agent_id: key, source: 'api' });
  }
}

const OPERATIONS = ['s2s.work.claim', 's2s.work.progress', 's2s.work.complete', 's2s.agent.heartbeat', 's2s.agent.register'] as const;

export interface GenSpansOptions {
  seed?: number;
  now?: number;
  /** Spans per trace, at most (1 root + children, some nested). Default 4. */
  maxPerTrace?: number;
}

/** `n` spans in traces of 1..maxPerTrace spans, children linked by parent_span_id, oldest first. */
export function genSpans(n: number, opts: GenSpansOptions = {}): LegacySpan[] {
  const { seed = 3, now = GEN_NOW, maxPerTrace = 4 } = opts;
  const r = rng(seed);
  const spans: LegacySpan[] = [];
  let t = now - n * 500;
  while (spans.length < n) {
    const traceId = hex(r, 32);
    const size = Math.min(int(r, 1, maxPerTrace), n - spans.length);
    const ids: string[] = [];
    const rootStart = (t += int(r, 100, 900));
    for (let i = 0; i < size; i++) {
      const spanId = hex(r, 16);
      const parent = i === 0 ? '' : ids[int(r, 0, i - 1)];
      const op = i === 0 ? pick(r, OPERATIONS) : pick(r, ['store.write', 'journal.fsync', 'lock.acquire', 'stream.broadcast']);
      const error = r() < 0.08;
      spans.push({
        trace_id: traceId,
        span_id: spanId,
        parent_span_id: parent,
        operation_name: op,
        span_kind: i === 0 ? 'server' : 'internal',
        status: error ? 'error' : 'ok',
        start_time: new Date(rootStart + i * int(r, 1, 5)).toISOString(),
        duration_ms: i === 0 ? int(r, 2, 140) : int(r, 1, 30),
        service: { name: 's2s-coordination', version: '1.0.0' },
        resource_attributes: { 'service.name': 's2s-coordination', 's2s.component': 'ai-processor' },
        span_attributes: { 's2s.operation': op, ...(error ? { 's2s.error': 'work_already_claimed' } : {}) },
      });
      ids.push(spanId);
    }
  }
  return spans;
}

export interface GenStatsOptions {
  seed?: number;
  /** Entropy conservation ratio (total / baseline total); null for "no baseline". Default 1. */
  ratio?: number | null;
  revision?: number;
  /** Scale applied to all latencies, e.g. 5 to push p99 over the 100 ms target. */
  latencyScale?: number;
  costTodayUsd?: number;
}

export function genStats(opts: GenStatsOptions = {}): StatsResponse {
  const { seed = 5, ratio = 1, revision = 100, latencyScale = 1 } = opts;
  const r = rng(seed);
  const latency: StatsResponse['latency'] = {};
  for (const op of ['claim', 'progress', 'complete', 'release', 'register', 'heartbeat', 'create_work']) {
    const p50 = (1 + r() * 4) * latencyScale;
    latency[op] = { count: int(r, 10, 5000), p50_ms: p50, p95_ms: p50 * (2 + r()), p99_ms: p50 * (4 + r() * 2) };
  }
  const components = { coordination: 4 + r() * 8, agents: 2 + r() * 4, telemetry: 3 + r() * 6 };
  const total = components.coordination + components.agents + components.telemetry;
  const baseline =
    ratio == null
      ? null
      : {
          total: total / ratio,
          components: Object.fromEntries(Object.entries(components).map(([k, v]) => [k, v / ratio])),
          created_at: isoSeconds(GEN_NOW - 3600_000),
        };
  return {
    revision,
    uptime_s: 3725,
    rss_bytes: 87 * 1024 * 1024,
    latency,
    entropy: { components, total, baseline, ratio },
    sync: {
      clients: 2,
      sync_failures: 0,
      sync_failures_by_reason: { checksum: 0, gap: 0, unparseable_file: 0, slow_client: 0, write_failed: 0 },
      last_file_error: null,
    },
    services: [
      { name: 'jaeger', url: 'http://127.0.0.1:4317', status: 'up', latency_ms: 3, last_error: null, last_checked_at: isoSeconds(GEN_NOW) },
      {
        name: 'xavos',
        url: 'http://127.0.0.1:4002/health',
        status: 'down',
        latency_ms: null,
        last_error: 'ECONNREFUSED',
        last_checked_at: isoSeconds(GEN_NOW),
      },
    ],
    analyzer: { mode: 'fallback', command: null, running: 0, queued: 0, last_outcome: 'fallback' },
    lease_ms: 60_000,
    usage: genUsageStats(opts.costTodayUsd ?? 0),
  };
}

/** /api/stats `usage` with the fleet's cost today and nothing else. */
export function genUsageStats(costToday: number, overBudget = 0): StatsResponse['usage'] {
  const totals = {
    cost_usd: costToday,
    tokens: { input: 0, output: 0, cache_read: 0, cache_creation: 0 },
    active_s: 0,
    lines_added: 0,
    lines_removed: 0,
    commits: 0,
    pull_requests: 0,
    sessions: 0,
    cost_today_usd: costToday,
  };
  return { fleet: totals, teams: {}, over_budget: overBudget };
}
