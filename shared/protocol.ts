// The wire protocol between the daemon and its clients (console, stream library, tests).
// WebSocket JSON text frames on /api/coordination/stream and /api/telemetry/stream.
import type { ChangeCause, CoordinationState, RecordChange } from './types.js';
import type { UsageStats } from './claude-code/usage.js';
import type { LeaseMode } from './path-leases.js';

export const DEFAULT_URL = 'http://127.0.0.1:4001';
export const DEFAULT_PORT = 4001;
export const DEFAULT_HOST = '127.0.0.1';

export const STREAM_PATH = '/api/coordination/stream';
export const TELEMETRY_STREAM_PATH = '/api/telemetry/stream';

/** Close codes. 4000-4999 are free for applications. */
export const CLOSE_RESYNC = 4001; // client fell behind: reconnect and resync (snapshot or ?since=)
export const CLOSE_UNAUTHORIZED = 4401;
export const CLOSE_GOING_AWAY = 1001; // daemon shutting down: reconnect and resume from your revision
export const CLOSE_UNSUPPORTED_DATA = 1003; // a binary frame: the streams speak JSON text only
export const CLOSE_INVALID_PAYLOAD = 1007; // a text frame that is not a ClientMessage
export const CLOSE_POLICY_VIOLATION = 1008; // a client that keeps sending faster than allowed
export const CLOSE_INTERNAL_ERROR = 1011; // the daemon failed handling this client (it stays up)
export const CLOSE_TRY_AGAIN_LATER = 1013; // the stream has as many clients as it takes: retry with backoff

/** Largest frame a client may send (ws closes with 1009 above it); a resync request is under 100 bytes. */
export const MAX_CLIENT_FRAME_BYTES = 64 * 1024;

export interface SnapshotMessage {
  type: 'snapshot';
  revision: number;
  state: CoordinationState;
  checksum: string;
}

export interface DeltaMessage {
  type: 'delta';
  revision: number;
  changes: RecordChange[];
  /** Nanoseconds since the epoch, as a decimal string (exceeds 2^53). */
  timestamp_ns: string;
  checksum: string;
  cause?: ChangeCause;
}

/** Sent after a `?since=` replay of missed deltas, so the client knows it is live. */
export interface ReplayedMessage {
  type: 'replayed';
  from: number;
  to: number;
}

/** Side-channel events that are not state changes (sync failures, file problems, service health). */
export interface EventMessage {
  type: 'event';
  event: string;
  timestamp_ns: string;
  detail: Record<string, unknown>;
}

export type ServerMessage = SnapshotMessage | DeltaMessage | ReplayedMessage | EventMessage;

/** EventMessage.event of a path lease conflict: an edit or a path claim refused, or an edit allowed with a warning. */
export const PATH_CONFLICT_EVENT = 'path_conflict';

/** A lease that stood in the way, as a path_conflict event names it. */
export interface PathConflictHolder {
  agent_id: string;
  path: string;
  mode: LeaseMode;
  work_id: string | null;
  since: string;
}

/** EventMessage.detail of a path_conflict event. */
export interface PathConflictDetail {
  action: 'denied' | 'warned';
  /** edit: Claude Code's PreToolUse; claim: POST /api/paths/claim (the CLI, shell agents). */
  source: 'edit' | 'claim';
  agent_id: string;
  repo: string;
  /** The (first) path refused. */
  path: string;
  /** Paths refused in the request (a claim names several). */
  paths: number;
  holders: PathConflictHolder[];
  /** Refusals of this agent on this path within the daemon's stuck-pair window (0 for a warning). */
  refusals: number;
  /** The pair reached the stuck-pair threshold (coordination_path_stuck_pairs counts it). */
  stuck: boolean;
  /** ISO UTC. */
  at: string;
}

/** Most holders a path_conflict event names (a directory claim can meet many). */
export const MAX_CONFLICT_HOLDERS = 10;

const isStr = (v: unknown): v is string => typeof v === 'string';
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** The detail of a path_conflict event, checked field by field (null for another event, or a malformed one). */
export function parsePathConflict(m: Pick<EventMessage, 'event' | 'detail'>): PathConflictDetail | null {
  if (m.event !== PATH_CONFLICT_EVENT || m.detail === null || typeof m.detail !== 'object') return null;
  const d = m.detail;
  if ((d.action !== 'denied' && d.action !== 'warned') || (d.source !== 'edit' && d.source !== 'claim')) return null;
  if (!isStr(d.agent_id) || !isStr(d.repo) || !isStr(d.path) || !isStr(d.at) || !isCount(d.paths) || !isCount(d.refusals) || !Array.isArray(d.holders))
    return null;
  const holders: PathConflictHolder[] = [];
  for (const h of d.holders as unknown[]) {
    if (h === null || typeof h !== 'object') return null;
    const x = h as Record<string, unknown>;
    if (!isStr(x.agent_id) || !isStr(x.path) || !isStr(x.since) || (x.mode !== 'exclusive' && x.mode !== 'shared')) return null;
    holders.push({ agent_id: x.agent_id, path: x.path, mode: x.mode, work_id: isStr(x.work_id) ? x.work_id : null, since: x.since });
  }
  return {
    action: d.action,
    source: d.source,
    agent_id: d.agent_id,
    repo: d.repo,
    path: d.path,
    paths: d.paths,
    holders,
    refusals: d.refusals,
    stuck: d.stuck === true,
    at: d.at,
  };
}

/** Client → daemon. `resync` asks for a fresh snapshot (after a gap or a checksum mismatch). */
export interface ResyncRequest {
  type: 'resync';
  reason: 'gap' | 'checksum' | 'manual';
  revision?: number;
}
export type ClientMessage = ResyncRequest;

export const RESYNC_REASONS: ReadonlyArray<ResyncRequest['reason']> = ['gap', 'checksum', 'manual'];

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/**
 * Validates one text frame from a client. Anything may arrive (`null`, `[]`, `"x"`, 60 KB strings):
 * the result is a fresh message holding only the known fields, or an error text of ours that quotes
 * nothing of the frame (safe to log and to send back as a close reason).
 */
export function parseClientMessage(text: string): Parsed<ClientMessage> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, error: 'not JSON' };
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return { ok: false, error: 'not a JSON object' };
  const m = raw as Record<string, unknown>;
  if (m.type !== 'resync') return { ok: false, error: 'unknown type (expected "resync")' };
  const reason = RESYNC_REASONS.find((r) => r === m.reason);
  if (!reason) return { ok: false, error: 'reason must be gap, checksum or manual' };
  if (m.revision !== undefined && !(Number.isSafeInteger(m.revision) && (m.revision as number) >= 0))
    return { ok: false, error: 'revision must be a whole number' };
  const value: ResyncRequest = { type: 'resync', reason };
  if (m.revision !== undefined) value.revision = m.revision as number;
  return { ok: true, value };
}

/** GET /api/coordination/status */
export interface StatusResponse {
  revision: number;
  checksum: string;
  state: CoordinationState;
  counts: { work: number; agents: number; log: number };
  /** Present when asked for with ?sha256=1: plain sha256 of the canonical state. */
  sha256?: string;
  entropy?: unknown;
}

/** Error body of every 4xx/5xx answer. */
export interface ErrorBody {
  error: string;
  message: string;
  [extra: string]: unknown;
}

/** A span as the telemetry stream and GET /api/telemetry/spans carry it: the legacy line format. */
export interface LegacySpan {
  trace_id: string;
  span_id: string;
  parent_span_id: string;
  operation_name: string;
  span_kind: string;
  status: 'ok' | 'error';
  start_time: string;
  duration_ms: number;
  service: { name: string; version: string };
  resource_attributes?: Record<string, unknown>;
  span_attributes?: Record<string, unknown>;
}

export interface SpanMessage {
  type: 'span';
  span: LegacySpan;
}

export function toWsUrl(httpUrl: string, path: string): string {
  return httpUrl.replace(/^http/, 'ws') + path;
}

/** Why a client's copy had to be rebuilt or could not be kept current (state_sync_failures_total{reason}). */
export const SYNC_FAILURE_REASONS = ['checksum', 'gap', 'unparseable_file', 'slow_client', 'write_failed'] as const;
export type SyncFailureReason = (typeof SYNC_FAILURE_REASONS)[number];

/** GET /api/stats: the figures the console's latency, entropy and health panels show. */
export interface StatsResponse {
  revision: number;
  uptime_s: number;
  rss_bytes: number;
  /** Per operation (claim, progress, complete, release, register, heartbeat, create_work, ...). */
  latency: Record<string, { count: number; p50_ms: number; p95_ms: number; p99_ms: number }>;
  entropy: {
    components: Record<string, number>; // coordination, agents, telemetry
    total: number;
    fields?: Record<string, Record<string, number>>;
    baseline?: { total: number; components: Record<string, number>; created_at: string } | null;
    ratio?: number | null;
  };
  /** sync_failures: the sum of state_sync_failures_total since the daemon started; by reason as the metric has it. */
  sync: { clients: number; sync_failures: number; sync_failures_by_reason: Record<SyncFailureReason, number>; last_file_error?: string | null };
  services: Array<{
    name: string;
    url: string;
    status: 'up' | 'down' | 'slow' | 'unknown';
    latency_ms: number | null;
    last_error: string | null;
    last_checked_at: string | null;
  }>;
  analyzer: { mode: string; command: string | null; running: number; queued: number; last_outcome?: string | null; stream?: StreamAnalyzerStats | null };
  lease_ms: number;
  /** Claude Code usage (tokens, cost, ...) from its telemetry: the fleet's totals and each team's. */
  usage: UsageStats;
  /** The daemon process's memory (process.memoryUsage()). */
  memory?: { rss: number; heapTotal: number; heapUsed: number; external: number; arrayBuffers: number };
  /** Spans seen, kept in the ring, streamed, exported and appended to telemetry_spans.jsonl. */
  telemetry?: {
    spans_seen: number;
    ring: number;
    stream_clients: number;
    exporting: boolean;
    file: { appended: number; dropped: number; pending_bytes: number; external: number; write_errors: number };
  };
  /** Configuration reloads (SIGHUP) and the last one's outcome. */
  reload?: { count: number; last: { ok: boolean; changed: string[]; refused: Array<{ key: string; reason: string }>; errors: string[]; at: string } | null };
}

/** The long-running stream analyzer process (/api/claude/stream), when one is configured. */
export interface StreamAnalyzerStats {
  command: string;
  pid: number | null;
  running: boolean;
  restarts: number;
  pending: number;
  last_exit: { code: number | null; signal: string | null; at: string } | null;
}
