// The wire protocol between the daemon and its clients (console, stream library, tests).
// WebSocket JSON text frames on /api/coordination/stream and /api/telemetry/stream.
import type { ChangeCause, CoordinationState, RecordChange } from './types.js';
import type { UsageStats } from './claude-code/usage.js';

export const DEFAULT_URL = 'http://127.0.0.1:4001';
export const DEFAULT_PORT = 4001;
export const DEFAULT_HOST = '127.0.0.1';

export const STREAM_PATH = '/api/coordination/stream';
export const TELEMETRY_STREAM_PATH = '/api/telemetry/stream';

/** Close codes. 4000-4999 are free for applications. */
export const CLOSE_RESYNC = 4001; // client fell behind: reconnect and resync (snapshot or ?since=)
export const CLOSE_UNAUTHORIZED = 4401;
export const CLOSE_GOING_AWAY = 1001; // daemon shutting down: reconnect and resume from your revision

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

/** Client → daemon. `resync` asks for a fresh snapshot (after a gap or a checksum mismatch). */
export interface ResyncRequest {
  type: 'resync';
  reason: 'gap' | 'checksum' | 'manual';
  revision?: number;
}
export type ClientMessage = ResyncRequest;

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

/** Resolves the daemon URL the way every client does: --url, else AI_PROCESSOR_URL, else the default. */
export function resolveUrl(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  return (flag || env.AI_PROCESSOR_URL || DEFAULT_URL).replace(/\/+$/, '');
}

export function toWsUrl(httpUrl: string, path: string): string {
  return httpUrl.replace(/^http/, 'ws') + path;
}

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
  sync: { clients: number; sync_failures: number; last_file_error?: string | null };
  services: Array<{ name: string; url: string; status: 'up' | 'down' | 'slow' | 'unknown'; latency_ms: number | null; last_error: string | null; last_checked_at: string | null }>;
  analyzer: { mode: string; command: string | null; running: number; queued: number; last_outcome?: string | null };
  lease_ms: number;
  /** Claude Code usage (tokens, cost, ...) from its telemetry: the fleet's totals and each team's. */
  usage: UsageStats;
}
