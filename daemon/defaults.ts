// The daemon's defaults, each defined once: the config parser (config.ts) starts from them, the
// `start --help` text (start.ts) and docs/configuration.md show them, the modules that take a
// setting fall back to them. A test (config-defaults.test.ts) holds the help and the docs to them.
import { DEFAULT_HOST, DEFAULT_PORT } from '../shared/protocol.js';
import type { CrossWorktreeAction, PathLeaseEnforcement } from '../shared/path-leases.js';

export const DEFAULTS = {
  port: DEFAULT_PORT,
  host: DEFAULT_HOST,
  lease_ms: 60_000,
  /** Longest lease a claim may ask for (its own lease_ms, or a legacy claim's estimated_duration x 3). */
  max_lease_ms: 24 * 3_600_000,
  store: 'file',
  log_level: 'info',
  /** Minimum pause between two writes of a legacy file (the store paces more under load). */
  view_flush_ms: 250,
  max_journal_bytes: 64 * 1024 * 1024,
  /** A legacy file larger than this is reported, never read or overwritten: bounds what one external edit may cost. */
  max_legacy_file_bytes: 64 * 1024 * 1024,
  body_limit: 64 * 1024,
  analyzer_mode: 'auto',
  analyzer_timeout_ms: 30_000,
  analyzer_max_concurrent: 2,
  analyzer_max_queue: 8,
  rate_limit_per_s: 0,
  /** Claude Code budgets in USD (0 = none): per agent, and per team per UTC day. */
  budget_usd_per_agent: 0,
  budget_usd_per_team_day: 0,
  /** Clients of the coordination stream (and, apart, of the telemetry stream) at once; more are refused with 503. */
  max_stream_clients: 200,
  /** telemetry_spans.jsonl is rotated before it grows past this (0 = never) ... */
  telemetry_file_max_bytes: 64 * 1024 * 1024,
  /** ... or once the live file is this old (ms; 0 = never). */
  telemetry_file_max_age_ms: 0,
  telemetry_file_keep: 5,
  /** Also write the daemon's own steps (journal fsync, legacy file write) to the span file. */
  telemetry_internal_spans: false,
  /** Claude Code edits (PreToolUse of Edit, Write, MultiEdit, NotebookEdit) take path leases: off, warn (allow, say who holds it) or enforce (deny). */
  path_leases: 'enforce' as PathLeaseEnforcement,
  /** A path lease held in another worktree of the same repository: deny, warn (allow, say who) or off. */
  path_conflicts_across_worktrees: 'warn' as CrossWorktreeAction,
  services: [{ name: 'xavos', url: 'http://localhost:4002/health', interval_ms: 15_000, timeout_ms: 2_000 }],
} as const;

/**
 * Settings read from the environment only, not flags: the heap policy applies before the configuration
 * is loaded (at the top of `ai-processor start`), and the service name is OpenTelemetry's variable.
 */
export const ENV_DEFAULTS = {
  /** AI_PROCESSOR_HEAP_POLICY: on, or off to leave the heap to V8's own sizing (heap-policy.ts). */
  heap_policy: 'on' as 'on' | 'off',
  /** OTEL_SERVICE_NAME: the service name of the daemon's spans. */
  otel_service_name: 'ai-processor',
};

export const ANALYZER_MODES = ['auto', 'builtin', 'command', 'claude'] as const;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
