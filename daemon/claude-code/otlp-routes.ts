// POST /v1/metrics and /v1/logs: OTLP/HTTP as Claude Code's exporter sends it (JSON or protobuf,
// plain or gzip). Metrics are the source of truth for a session's usage: each export becomes at most
// one store change per session's agent. Logs only say the session is alive (telemetry_at): their
// api_request events carry the same cost and tokens as the metrics, so counting both would count twice.
import { gunzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { readLogs, readMetrics, type UsagePoint } from '../../shared/claude-code/otlp-points.js';
import { applyUsage, teamCostOnDay, usageTotals } from '../../shared/claude-code/usage.js';
import { SOURCE } from '../../shared/claude-code/hook-mapping.js';
import { withFields, type JsonObject } from '../../shared/types.js';
import type { DaemonContext } from '../context.js';
import { newAgentData } from '../core/coordinator.js';
import { ApiError } from '../errors.js';
import { responseBody, type PartialSuccess, type Signal } from './otlp-response.js';

export const OTLP_METRICS_PATH = '/v1/metrics';
export const OTLP_LOGS_PATH = '/v1/logs';
/** The operation one export is for a session's agent (metrics, traces, the journal's cause). */
export const OTLP_OPERATION = 'claude_code_telemetry';
/** Compressed or not, an export body is refused above this (413); inflated, above OTLP_INFLATED_LIMIT. */
export const OTLP_BODY_LIMIT = 4 * 1024 * 1024;
const OTLP_INFLATED_LIMIT = 16 * 1024 * 1024;
const LOG_SEEN_STEP_MS = 30_000;

const JSON_TYPE = 'application/json';
const PROTOBUF_TYPE = 'application/x-protobuf';

interface RawBody {
  encoding: 'json' | 'protobuf';
  bytes: Buffer;
}

/** The body as sent, inflated when gzip: the handler decodes it for its signal. */
function rawParser(encoding: RawBody['encoding']) {
  return (req: FastifyRequest, body: Buffer, done: (err: Error | null, body?: RawBody) => void) => {
    const coding = String(req.headers['content-encoding'] ?? 'identity')
      .trim()
      .toLowerCase();
    if (coding === 'identity' || coding === '') return done(null, { encoding, bytes: body });
    if (coding !== 'gzip') return done(new ApiError('unsupported_media_type', `Content-Encoding ${coding} is not supported: send gzip or none`));
    try {
      done(null, { encoding, bytes: gunzipSync(body, { maxOutputLength: OTLP_INFLATED_LIMIT }) });
    } catch (err) {
      done(new ApiError('invalid_request', `the gzip body does not inflate (or inflates beyond ${OTLP_INFLATED_LIMIT} bytes): ${(err as Error).message}`));
    }
  };
}

type ProtoCodec = typeof import('./otlp-proto.js');
let protoCodec: Promise<ProtoCodec> | null = null;
/** protobufjs and the OTLP schema, loaded at the first protobuf export: a daemon sent JSON only (or nothing) never holds them. */
function loadProtoCodec(): Promise<ProtoCodec> {
  return (protoCodec ??= import('./otlp-proto.js'));
}

/** The codec a body needs: none for JSON. */
async function codecFor(raw: RawBody): Promise<ProtoCodec | null> {
  return raw.encoding === 'protobuf' ? loadProtoCodec() : null;
}

function decode(signal: Signal, raw: RawBody, codec: ProtoCodec | null): unknown {
  const what = signal === 'metrics' ? 'ExportMetricsServiceRequest' : 'ExportLogsServiceRequest';
  try {
    return codec ? codec.decodeRequest(signal, raw.bytes) : JSON.parse(raw.bytes.toString('utf8'));
  } catch (err) {
    throw new ApiError('invalid_request', `the body is not an OTLP ${what} (${raw.encoding}): ${(err as Error).message}`);
  }
}

function read<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new ApiError('invalid_request', (err as Error).message);
  }
}

function answer(reply: FastifyReply, signal: Signal, raw: RawBody, codec: ProtoCodec | null, partial: PartialSuccess | null) {
  const body = codec ? codec.encodeResponse(signal, partial) : responseBody(signal, partial);
  return reply
    .code(200)
    .type(raw.encoding === 'json' ? JSON_TYPE : PROTOBUF_TYPE)
    .send(body);
}

function groupByAgent<T extends { agent_id: string }>(items: Iterable<T>): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const it of items) {
    const list = out.get(it.agent_id);
    if (list) list.push(it);
    else out.set(it.agent_id, [it]);
  }
  return out;
}

/** A session's agent as telemetry first sees it, when no hook announced it. */
function newSessionAgent(agentId: string, sessionId: string, now: string): JsonObject {
  // The fields a hook-registered session starts with, so a later hook finds a session it knows.
  return withFields(newAgentData({ specialization: 'claude-code' }, now, agentId), {
    source: SOURCE,
    session_id: sessionId,
    status: 'idle',
    project: null,
    model: null,
    subagents: [],
  });
}

const isoDay = (iso: string) => iso.slice(0, 10);

export function otlpRoutes(ctx: DaemonContext): FastifyPluginAsync {
  const { service, store, metrics: m, logger } = ctx;
  /** Teams already told today that they went over their daily budget (`team|date`). */
  const teamsAlerted = new Set<string>();

  const agents = () => [...store.tables.maps.agents.values()].map((e) => e.data);

  // Series of the teams known at start exist at 0, so increase() sees their first cost.
  const TOKEN_LABELS = ['input', 'output', 'cache_read', 'cache_creation'] as const;
  const knownTeams = new Set<string>();
  const ensureTeam = (team: string) => {
    if (knownTeams.has(team)) return;
    knownTeams.add(team);
    m.claudeCodeCost.inc({ team }, 0);
    for (const type of TOKEN_LABELS) m.claudeCodeTokens.inc({ team, type }, 0);
  };
  for (const a of agents()) if (typeof a.team === 'string' && a.usage !== undefined) ensureTeam(a.team);

  async function ingestMetrics(points: UsagePoint[]): Promise<{ counted: number; duplicates: number }> {
    let counted = 0;
    let duplicates = 0;
    const teams = new Set<string>();
    // The sessions' changes are committed concurrently: the journal writes them in one group commit.
    const steps = await Promise.all(
      [...groupByAgent(points)].map(async ([agentId, list]) => {
        const out = await service.apply(OTLP_OPERATION, agentId, (op) => {
          const current = op.view.get('agents', agentId)?.data ?? newSessionAgent(agentId, list[0].session_id, op.now);
          const step = applyUsage(current, list, { now: op.now, budgets: { usd_per_agent: ctx.config.budget_usd_per_agent } });
          // Nothing new (a retried export): no write at all.
          return { changes: step.counted > 0 ? [{ section: 'agents' as const, key: agentId, op: 'put' as const, data: step.agent }] : [], result: step };
        });
        return [agentId, out.result] as const;
      }),
    );
    for (const [agentId, step] of steps) {
      counted += step.counted;
      duplicates += step.duplicates;
      const team = typeof step.agent.team === 'string' ? step.agent.team : 'unassigned';
      ensureTeam(team);
      if (step.added.cost_usd) {
        m.claudeCodeCost.inc({ team }, step.added.cost_usd);
        teams.add(team);
      }
      for (const type of TOKEN_LABELS) if (step.added[type]) m.claudeCodeTokens.inc({ team, type }, step.added[type]);
      if (step.crossed_budget) {
        const detail = {
          scope: 'agent',
          agent_id: agentId,
          team,
          cost_usd: (step.agent.usage as JsonObject).cost_usd,
          budget_usd: ctx.config.budget_usd_per_agent,
        };
        logger.warn(detail, 'claude-code: agent over budget');
        ctx.events.emit('event', 'budget_exceeded', detail);
      }
    }
    const perDay = ctx.config.budget_usd_per_team_day;
    const now = new Date().toISOString();
    if (perDay > 0) {
      const date = isoDay(now);
      for (const team of teams) {
        const cost = teamCostOnDay(agents(), team, date);
        if (cost < perDay || teamsAlerted.has(`${team}|${date}`)) continue;
        teamsAlerted.add(`${team}|${date}`);
        const detail = { scope: 'team_day', team, date, cost_usd: cost, budget_usd: perDay };
        logger.warn(detail, 'claude-code: team over its daily budget');
        ctx.events.emit('event', 'budget_exceeded', detail);
      }
    }
    return { counted, duplicates };
  }

  async function ingestLogs(seen: ReturnType<typeof readLogs>['seen']): Promise<void> {
    await Promise.all(
      [...seen].map(([agentId, s]) =>
        service.apply(OTLP_OPERATION, agentId, (op) => {
          const existing = op.view.get('agents', agentId)?.data;
          const current = existing ?? newSessionAgent(agentId, s.session_id, op.now);
          const at = s.at_ms > 0 ? new Date(Math.min(s.at_ms, Date.parse(op.now))).toISOString() : op.now;
          const last = existing && typeof existing.telemetry_at === 'string' ? Date.parse(existing.telemetry_at) : NaN;
          // Log exports come every few seconds: the agent's record moves at most once per LOG_SEEN_STEP_MS.
          if (Date.parse(at) - last < LOG_SEEN_STEP_MS) return { changes: [], result: null };
          return { changes: [{ section: 'agents' as const, key: agentId, op: 'put' as const, data: withFields(current, { telemetry_at: at }) }], result: null };
        }),
      ),
    );
  }

  return async (app: FastifyInstance) => {
    // Scoped to this plugin: the rest of the API keeps its JSON-only parser.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser(JSON_TYPE, { parseAs: 'buffer', bodyLimit: OTLP_BODY_LIMIT }, rawParser('json'));
    app.addContentTypeParser(PROTOBUF_TYPE, { parseAs: 'buffer', bodyLimit: OTLP_BODY_LIMIT }, rawParser('protobuf'));

    app.post(OTLP_METRICS_PATH, { bodyLimit: OTLP_BODY_LIMIT }, async (req, reply) => {
      const raw = req.body as RawBody;
      const codec = await codecFor(raw);
      const reading = read(() => readMetrics(decode('metrics', raw, codec)));
      const { counted, duplicates } = await ingestMetrics(reading.points);
      m.otlpDataPoints.inc({ outcome: 'counted' }, counted);
      m.otlpDataPoints.inc({ outcome: 'duplicate' }, duplicates);
      m.otlpDataPoints.inc({ outcome: 'rejected' }, reading.rejected);
      m.otlpDataPoints.inc({ outcome: 'ignored' }, reading.ignored);
      return answer(reply, 'metrics', raw, codec, reading.rejected > 0 ? { rejected: reading.rejected, message: reading.reasons.join('; ') } : null);
    });

    app.post(OTLP_LOGS_PATH, { bodyLimit: OTLP_BODY_LIMIT }, async (req, reply) => {
      const raw = req.body as RawBody;
      const codec = await codecFor(raw);
      const reading = read(() => readLogs(decode('logs', raw, codec)));
      await ingestLogs(reading.seen);
      m.otlpDataPoints.inc({ outcome: 'ignored' }, reading.records - reading.rejected);
      m.otlpDataPoints.inc({ outcome: 'rejected' }, reading.rejected);
      return answer(reply, 'logs', raw, codec, reading.rejected > 0 ? { rejected: reading.rejected, message: reading.reasons.join('; ') } : null);
    });
  };
}

/** The usage part of GET /api/stats (StatsResponse.usage). */
export function usageStats(ctx: DaemonContext) {
  return () =>
    usageTotals(
      [...ctx.store.tables.maps.agents.values()].map((e) => e.data),
      new Date().toISOString(),
    );
}
