// Configuration: defaults < config file (JSON) < environment < flags. One name per setting:
// flag --lease-ms, env AI_PROCESSOR_LEASE_MS, file key "lease_ms".
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_HOST, DEFAULT_PORT } from '../shared/protocol.js';

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
  store: string;
  token: string | null;
  token_file: string | null;
  log_level: string;
  view_flush_ms: number;
  max_journal_bytes: number;
  body_limit: number;
  analyzer_command: string | null;
  analyzer_mode: 'auto' | 'builtin' | 'command' | 'claude';
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
  entropy_floor: number;
  /** Claude Code cost (USD, from its telemetry) above which an agent is marked over budget; 0 = none. */
  budget_usd_per_agent: number;
  /** Claude Code cost (USD) of one team in one UTC day above which the team is over budget; 0 = none. */
  budget_usd_per_team_day: number;
  config_file: string | null;
}

export class ConfigError extends Error {}

export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  // systemd's StateDirectory= sets STATE_DIRECTORY; otherwise the XDG per-user state dir.
  if (env.STATE_DIRECTORY) return env.STATE_DIRECTORY.split(':')[0];
  const base = env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state');
  return path.join(base, 'ai-processor');
}

export function defaults(env: NodeJS.ProcessEnv = process.env): DaemonConfig {
  return {
    data_dir: defaultDataDir(env),
    port: DEFAULT_PORT,
    host: DEFAULT_HOST,
    lease_ms: 60_000,
    store: 'file',
    token: null,
    token_file: null,
    log_level: 'info',
    view_flush_ms: 250,
    max_journal_bytes: 64 * 1024 * 1024,
    body_limit: 64 * 1024,
    analyzer_command: null,
    analyzer_mode: 'auto',
    analyzer_timeout_ms: 30_000,
    analyzer_max_concurrent: 2,
    analyzer_max_queue: 8,
    stream_analyzer_command: null,
    services: [{ name: 'xavos', url: 'http://localhost:4002/health', interval_ms: 15_000, timeout_ms: 2_000 }],
    tls_cert: null,
    tls_key: null,
    rate_limit_per_s: 0,
    entropy_floor: 0,
    budget_usd_per_agent: 0,
    budget_usd_per_team_day: 0,
    config_file: null,
  };
}

const NUMERIC: Array<keyof DaemonConfig> = ['port', 'lease_ms', 'view_flush_ms', 'max_journal_bytes', 'body_limit', 'analyzer_timeout_ms', 'analyzer_max_concurrent', 'analyzer_max_queue', 'rate_limit_per_s', 'entropy_floor', 'budget_usd_per_agent', 'budget_usd_per_team_day'];

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
    if (key === 'analyzer_max_concurrent' && (!Number.isInteger(n) || n < 1)) throw new ConfigError(`${where}: analyzer_max_concurrent must be an integer >= 1`);
    return n;
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
  if (key === 'analyzer_mode' && !['auto', 'builtin', 'command', 'claude'].includes(String(value))) {
    throw new ConfigError(`${where}: analyzer_mode must be auto, builtin, command or claude`);
  }
  return value === null ? null : String(value);
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

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
