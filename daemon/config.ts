// Configuration: defaults < config file (JSON) < environment < flags. One name per setting:
// flag --lease-ms, env AI_PROCESSOR_LEASE_MS, file key "lease_ms".
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ANALYZER_MODES, DEFAULTS, ENV_DEFAULTS, LOG_LEVELS } from './defaults.js';
import { textOf } from '../shared/text.js';
import { CROSS_WORKTREE_ACTIONS, PATH_LEASE_MODES } from '../shared/path-leases.js';
import { nodeArgsOf } from '../shared/node-flags.js';

export interface ServiceEntry {
  name: string;
  url: string;
  interval_ms?: number;
  timeout_ms?: number;
  slow_ms?: number;
}

export interface DaemonConfig {
  data_dir: string;
  port: number;
  host: string;
  lease_ms: number;
  /** The longest lease a claim may ask for (lease_ms on claim); derived leases are capped at it. */
  max_lease_ms: number;
  store: string;
  token: string | null;
  token_file: string | null;
  log_level: string;
  view_flush_ms: number;
  max_journal_bytes: number;
  /** A legacy file larger than this is not read (reported instead): bounds what one external edit may cost. */
  max_legacy_file_bytes: number;
  body_limit: number;
  analyzer_command: string | null;
  analyzer_mode: (typeof ANALYZER_MODES)[number];
  /** Path leases at Claude Code's edits: off, warn (allow and say who holds the file) or enforce (deny). */
  path_leases: (typeof PATH_LEASE_MODES)[number];
  /** A path lease held in another worktree of the same repository: deny, warn or off. */
  path_conflicts_across_worktrees: (typeof CROSS_WORKTREE_ACTIONS)[number];
  analyzer_timeout_ms: number;
  /** External analyzer runs at once; more wait in the queue. */
  analyzer_max_concurrent: number;
  /** Analyzer requests waiting for a slot; beyond that a request gets 429. */
  analyzer_max_queue: number;
  stream_analyzer_command: string | null;
  services: ServiceEntry[];
  tls_cert: string | null;
  tls_key: string | null;
  rate_limit_per_s: number;
  /** telemetry_spans.jsonl is rotated (renamed to .1.jsonl, ...) before it grows past this; 0 = never. */
  telemetry_file_max_bytes: number;
  /** ... or once the live file is this old (ms); 0 = never. */
  telemetry_file_max_age_ms: number;
  /** Rotated span files kept (>= 1); the oldest is replaced. */
  telemetry_file_keep: number;
  /** Also write the daemon's own steps (journal fsync, legacy file write/merge) to the span file. */
  telemetry_internal_spans: boolean;
  /** Clients of the coordination stream (and, apart, of the telemetry stream); more are refused with 503. */
  max_stream_clients: number;
  /** Claude Code cost (USD, from its telemetry) above which an agent is marked over budget; 0 = none. */
  budget_usd_per_agent: number;
  /** Claude Code cost (USD) of one team in one UTC day above which the team is over budget; 0 = none. */
  budget_usd_per_team_day: number;
  config_file: string | null;
}

export class ConfigError extends Error {}

/** The process environment: read here, passed on by the daemon's modules (PATH lookups, children, NOTIFY_SOCKET). */
export function processEnv(): NodeJS.ProcessEnv {
  return process.env;
}

/** The heap policy's inputs (observability/heap-policy.ts): whether it is on, and the node flags the operator gave. */
export interface HeapPolicyInputs {
  off: boolean;
  /** node's command-line flags and NODE_OPTIONS: V8 heap flags given there win over the policy. */
  nodeArgs: string[];
}

/**
 * AI_PROCESSOR_HEAP_POLICY (on | off) and the node flags. Environment only: `ai-processor start` applies
 * the policy before anything else loads (daemon/cli.ts), so neither the config file nor a flag could set it.
 */
export function heapPolicyInputs(env: NodeJS.ProcessEnv = process.env, execArgv: readonly string[] = process.execArgv): HeapPolicyInputs {
  const mode = (env.AI_PROCESSOR_HEAP_POLICY ?? '').trim().toLowerCase() || ENV_DEFAULTS.heap_policy;
  return { off: mode === 'off', nodeArgs: nodeArgsOf(execArgv, env) };
}

/**
 * What the daemon itself takes of OpenTelemetry's standard variables; the SDK reads the others
 * (OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER, OTEL_BSP_*, the exporter's OTEL_EXPORTER_OTLP_*).
 */
export interface OtelSettings {
  /** OTEL_SERVICE_NAME: the service of the spans, OTLP and legacy lines alike. */
  service_name: string;
  /** Where traces are exported (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT); null: no exporter (none set, or OTEL_TRACES_EXPORTER=none). */
  traces_endpoint: string | null;
}

export function otelSettings(env: NodeJS.ProcessEnv = process.env): OtelSettings {
  const off = (env.OTEL_TRACES_EXPORTER ?? '')
    .split(',')
    .map((s) => s.trim())
    .includes('none');
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || null;
  return { service_name: env.OTEL_SERVICE_NAME?.trim() || ENV_DEFAULTS.otel_service_name, traces_endpoint: off ? null : endpoint };
}

/** A setting of `ai-processor start`: its flag, what it is; the env name and default are derived. */
export interface StartFlag {
  key: keyof DaemonConfig;
  /** Commander's flag spec, e.g. '--lease-ms <ms>'. */
  flag: string;
  help: string;
  number?: true;
  choices?: readonly string[];
  /** The environment variable when it is not AI_PROCESSOR_<KEY>. */
  env?: string;
  /** The default in words when it is not DEFAULTS[key] (computed, or none). */
  defaultText?: string;
}

/** Every flag of `ai-processor start`, in --help order. */
export const START_FLAGS: readonly StartFlag[] = [
  { key: 'data_dir', flag: '--data-dir <dir>', help: 'data directory', defaultText: '$STATE_DIRECTORY or ~/.local/state/ai-processor' },
  { key: 'port', flag: '--port <port>', help: 'port, 0 for any free one', number: true },
  { key: 'host', flag: '--host <host>', help: 'address to bind' },
  { key: 'lease_ms', flag: '--lease-ms <ms>', help: 'lease period for claims', number: true },
  { key: 'max_lease_ms', flag: '--max-lease-ms <ms>', help: 'longest lease a claim may ask for (lease_ms, estimated_duration)', number: true },
  { key: 'store', flag: '--store <store>', help: 'store: "file" (embedded) or a postgres:// URL shared by several daemons' },
  {
    key: 'config_file',
    flag: '--config <file>',
    help: 'JSON config file; keys as the env names without prefix, lower case',
    env: 'AI_PROCESSOR_CONFIG',
    defaultText: '',
  },
  {
    key: 'token_file',
    flag: '--token-file <file>',
    help: 'file holding the bearer token (or the token itself in AI_PROCESSOR_TOKEN)',
    env: '',
    defaultText: '',
  },
  { key: 'log_level', flag: '--log-level <level>', help: LOG_LEVELS.join('|') },
  { key: 'analyzer_command', flag: '--analyzer-command <cmd>', help: 'command the analysis bridge pipes state into', defaultText: '' },
  { key: 'analyzer_mode', flag: '--analyzer-mode <mode>', help: ANALYZER_MODES.join('|'), choices: ANALYZER_MODES },
  { key: 'analyzer_timeout_ms', flag: '--analyzer-timeout-ms <ms>', help: 'time limit of one analyzer run', number: true },
  { key: 'analyzer_max_concurrent', flag: '--analyzer-max-concurrent <n>', help: 'analyzer runs at once', number: true },
  { key: 'analyzer_max_queue', flag: '--analyzer-max-queue <n>', help: 'analyzer requests waiting, beyond which 429', number: true },
  { key: 'stream_analyzer_command', flag: '--stream-analyzer-command <cmd>', help: 'long-running JSON-lines analyzer for /api/claude/stream', defaultText: '' },
  { key: 'tls_cert', flag: '--tls-cert <file>', help: 'PEM certificate: serve https/wss (with --tls-key)', defaultText: '' },
  { key: 'tls_key', flag: '--tls-key <file>', help: 'PEM private key for --tls-cert', defaultText: '' },
  {
    key: 'max_legacy_file_bytes',
    flag: '--max-legacy-file-bytes <n>',
    help: 'a legacy file larger than this is reported, not read or overwritten',
    number: true,
  },
  { key: 'max_stream_clients', flag: '--max-stream-clients <n>', help: 'stream clients at once; more are refused with 503', number: true },
  {
    key: 'budget_usd_per_agent',
    flag: '--budget-usd-per-agent <usd>',
    help: 'Claude Code cost of one agent above which it is marked over budget, 0 = none',
    number: true,
  },
  {
    key: 'budget_usd_per_team_day',
    flag: '--budget-usd-per-team-day <usd>',
    help: 'Claude Code cost of one team in one UTC day above which it is over budget, 0 = none',
    number: true,
  },
  {
    key: 'telemetry_file_max_bytes',
    flag: '--telemetry-file-max-bytes <n>',
    help: 'telemetry_spans.jsonl is rotated (renamed to .1.jsonl, ...) before it grows past this, 0 = never',
    number: true,
  },
  { key: 'telemetry_file_max_age_ms', flag: '--telemetry-file-max-age-ms <ms>', help: '... or once the live span file is this old, 0 = never', number: true },
  { key: 'telemetry_file_keep', flag: '--telemetry-file-keep <n>', help: 'rotated span files kept', number: true },
  {
    key: 'telemetry_internal_spans',
    flag: '--telemetry-internal-spans',
    help: "also write the daemon's own steps (journal fsync, legacy file writes) to the span file",
  },
  { key: 'path_leases', flag: '--path-leases <mode>', help: 'Claude Code edits take path leases: ' + PATH_LEASE_MODES.join('|'), choices: PATH_LEASE_MODES },
  {
    key: 'path_conflicts_across_worktrees',
    flag: '--path-conflicts-across-worktrees <action>',
    help: 'a path leased in another worktree of the same repository: ' + CROSS_WORKTREE_ACTIONS.join('|'),
    choices: CROSS_WORKTREE_ACTIONS,
  },
  { key: 'rate_limit_per_s', flag: '--rate-limit-per-s <n>', help: 'mutating requests per second per client IP, 0 = off', number: true },
];

/** The environment variable of a setting. */
export function envName(key: keyof DaemonConfig): string {
  return `AI_PROCESSOR_${key.toUpperCase()}`;
}

/** The default of a setting as the help and the docs show it ('' when it has none). */
export function defaultText(f: Pick<StartFlag, 'key' | 'defaultText'>): string {
  if (f.defaultText !== undefined) return f.defaultText;
  const v = (DEFAULTS as Record<string, unknown>)[f.key];
  return v === undefined ? '' : typeof v === 'string' || typeof v === 'number' ? String(v) : JSON.stringify(v);
}

/** The --help line of a flag: what it is, its environment variable, its default. */
export function flagHelp(f: StartFlag): string {
  const env = f.env ?? envName(f.key);
  const def = defaultText(f);
  const notes = [env ? `env ${env}` : '', def ? `default ${def}` : ''].filter(Boolean).join('; ');
  return notes ? `${f.help} (${notes})` : f.help;
}

export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  // systemd's StateDirectory= sets STATE_DIRECTORY; otherwise the XDG per-user state dir.
  if (env.STATE_DIRECTORY) return env.STATE_DIRECTORY.split(':')[0];
  const base = env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state');
  return path.join(base, 'ai-processor');
}

export function defaults(env: NodeJS.ProcessEnv = process.env): DaemonConfig {
  return {
    data_dir: defaultDataDir(env),
    port: DEFAULTS.port,
    host: DEFAULTS.host,
    lease_ms: DEFAULTS.lease_ms,
    max_lease_ms: DEFAULTS.max_lease_ms,
    store: DEFAULTS.store,
    token: null,
    token_file: null,
    log_level: DEFAULTS.log_level,
    view_flush_ms: DEFAULTS.view_flush_ms,
    max_journal_bytes: DEFAULTS.max_journal_bytes,
    max_legacy_file_bytes: DEFAULTS.max_legacy_file_bytes,
    body_limit: DEFAULTS.body_limit,
    analyzer_command: null,
    analyzer_mode: DEFAULTS.analyzer_mode,
    path_leases: DEFAULTS.path_leases,
    path_conflicts_across_worktrees: DEFAULTS.path_conflicts_across_worktrees,
    analyzer_timeout_ms: DEFAULTS.analyzer_timeout_ms,
    analyzer_max_concurrent: DEFAULTS.analyzer_max_concurrent,
    analyzer_max_queue: DEFAULTS.analyzer_max_queue,
    stream_analyzer_command: null,
    services: DEFAULTS.services.map((s) => ({ ...s })),
    tls_cert: null,
    tls_key: null,
    rate_limit_per_s: DEFAULTS.rate_limit_per_s,
    max_stream_clients: DEFAULTS.max_stream_clients,
    telemetry_file_max_bytes: DEFAULTS.telemetry_file_max_bytes,
    telemetry_file_max_age_ms: DEFAULTS.telemetry_file_max_age_ms,
    telemetry_file_keep: DEFAULTS.telemetry_file_keep,
    telemetry_internal_spans: DEFAULTS.telemetry_internal_spans,
    budget_usd_per_agent: DEFAULTS.budget_usd_per_agent,
    budget_usd_per_team_day: DEFAULTS.budget_usd_per_team_day,
    config_file: null,
  };
}

const NUMERIC: Array<keyof DaemonConfig> = [
  'port',
  'lease_ms',
  'max_lease_ms',
  'view_flush_ms',
  'max_journal_bytes',
  'max_legacy_file_bytes',
  'body_limit',
  'analyzer_timeout_ms',
  'analyzer_max_concurrent',
  'analyzer_max_queue',
  'rate_limit_per_s',
  'max_stream_clients',
  'telemetry_file_max_bytes',
  'telemetry_file_max_age_ms',
  'telemetry_file_keep',
  'budget_usd_per_agent',
  'budget_usd_per_team_day',
];
const BOOLEAN: Array<keyof DaemonConfig> = ['telemetry_internal_spans'];

/** Environment names: AI_PROCESSOR_<KEY>. */
function fromEnv(env: NodeJS.ProcessEnv): Partial<Record<keyof DaemonConfig, string>> {
  const out: Partial<Record<keyof DaemonConfig, string>> = {};
  for (const key of Object.keys(defaults(env)) as Array<keyof DaemonConfig>) {
    const v = env[`AI_PROCESSOR_${key.toUpperCase()}`];
    if (v !== undefined && v !== '') out[key] = v;
  }
  return out;
}

function coerce(key: keyof DaemonConfig, value: unknown, where: string): unknown {
  if (NUMERIC.includes(key)) {
    const n = typeof value === 'number' ? value : Number(value);
    if (!Number.isFinite(n) || n < 0) throw new ConfigError(`${where}: ${key} must be a non-negative number, got ${JSON.stringify(value)}`);
    if (key === 'port' && (!Number.isInteger(n) || n > 65535)) throw new ConfigError(`${where}: port must be an integer 0-65535`);
    if ((key === 'analyzer_max_concurrent' || key === 'max_stream_clients') && (!Number.isInteger(n) || n < 1))
      throw new ConfigError(`${where}: ${key} must be an integer >= 1`);
    if (key === 'telemetry_file_keep' && (!Number.isInteger(n) || n < 1)) throw new ConfigError(`${where}: telemetry_file_keep must be an integer >= 1`);
    return n;
  }
  if (BOOLEAN.includes(key)) {
    if (typeof value === 'boolean') return value;
    if (/^(1|true|yes)$/i.test(String(value))) return true;
    if (/^(0|false|no)$/i.test(String(value))) return false;
    throw new ConfigError(`${where}: ${key} must be true or false, got ${JSON.stringify(value)}`);
  }
  if (key === 'services') {
    const list = typeof value === 'string' ? JSON.parse(value) : value;
    if (!Array.isArray(list) || list.some((s) => typeof s?.name !== 'string' || typeof s?.url !== 'string')) {
      throw new ConfigError(`${where}: services must be a list of {name, url}`);
    }
    return list;
  }
  if (key === 'store' && !/^(file|postgres(ql)?:\/\/.+)$/.test(String(value))) {
    throw new ConfigError(`${where}: store must be "file" or a postgres:// URL`);
  }
  if (key === 'analyzer_mode' && !(ANALYZER_MODES as readonly string[]).includes(String(value))) {
    throw new ConfigError(`${where}: analyzer_mode must be auto, builtin, command or claude`);
  }
  if (key === 'path_leases' && !(PATH_LEASE_MODES as readonly string[]).includes(String(value))) {
    throw new ConfigError(`${where}: path_leases must be ${PATH_LEASE_MODES.join(', ')}`);
  }
  if (key === 'path_conflicts_across_worktrees' && !(CROSS_WORKTREE_ACTIONS as readonly string[]).includes(String(value))) {
    throw new ConfigError(`${where}: path_conflicts_across_worktrees must be ${CROSS_WORKTREE_ACTIONS.join(', ')}`);
  }
  return value === null ? null : textOf(value);
}

export function readConfigFile(file: string): Partial<DaemonConfig> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  try {
    const obj = JSON.parse(text);
    if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new Error('not a JSON object');
    return obj as Partial<DaemonConfig>;
  } catch (err) {
    throw new ConfigError(`config file ${file} is not a JSON object: ${(err as Error).message}`);
  }
}

/** Merges every source. `flags` uses the same snake_case keys (the CLI maps --lease-ms to lease_ms). */
export function loadConfig(flags: Partial<Record<keyof DaemonConfig, unknown>>, env: NodeJS.ProcessEnv = process.env): DaemonConfig {
  const cfg = defaults(env);
  const file = (flags.config_file as string | undefined) ?? env.AI_PROCESSOR_CONFIG ?? null;
  const layers: Array<[string, Partial<Record<string, unknown>>]> = [];
  if (file) layers.push([`config file ${file}`, readConfigFile(file)]);
  layers.push(['environment', fromEnv(env)]);
  layers.push(['flags', flags]);
  for (const [where, layer] of layers) {
    for (const [key, value] of Object.entries(layer)) {
      if (value === undefined) continue;
      if (!(key in cfg)) {
        if (where.startsWith('config file')) throw new ConfigError(`${where}: unknown key "${key}"`);
        continue;
      }
      (cfg as unknown as Record<string, unknown>)[key] = coerce(key as keyof DaemonConfig, value, where);
    }
  }
  cfg.config_file = file;
  checkLeases(cfg);
  if (!cfg.token && env.AI_PROCESSOR_TOKEN) cfg.token = env.AI_PROCESSOR_TOKEN;
  if (!cfg.token && cfg.token_file) {
    try {
      cfg.token = readFileSync(cfg.token_file, 'utf8').trim() || null;
    } catch (err) {
      throw new ConfigError(`cannot read token file ${cfg.token_file}: ${(err as Error).message}`);
    }
  }
  cfg.data_dir = path.resolve(cfg.data_dir);
  return cfg;
}

/** A default lease longer than the maximum would make every plain claim break the rule. */
export function checkLeases(cfg: Pick<DaemonConfig, 'lease_ms' | 'max_lease_ms'>): void {
  if (cfg.lease_ms < 1) throw new ConfigError(`lease_ms must be at least 1 ms, got ${cfg.lease_ms}`);
  if (cfg.lease_ms > cfg.max_lease_ms)
    throw new ConfigError(`lease_ms (${cfg.lease_ms}) is over max_lease_ms (${cfg.max_lease_ms}): raise max_lease_ms or lower lease_ms`);
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
