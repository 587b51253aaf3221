// SIGHUP: read the configuration again (file, environment, token file; flags still win) and apply
// what can change while clients stay connected:
//   lease_ms (new leases), max_lease_ms (new claims), log_level, token (set or rotate; streams already open stay open),
//   rate_limit_per_s, max_stream_clients (new connections), services (monitor list), analyzer_* and stream_analyzer_command,
//   budget_usd_per_agent and budget_usd_per_team_day (read per telemetry export),
//   and the TLS key pair (files read again: a renewed certificate is served to new connections).
// What is bound at start is refused with a warning and keeps its running value: host, port, data_dir,
// store, body_limit, view_flush_ms, max_journal_bytes, telemetry_file_* and telemetry_internal_spans, TLS on/off. A file that does not load (bad JSON,
// unknown key, unreadable token file) changes nothing. Features apply their part in ctx.onReload.
import { createHash } from 'node:crypto';
import { isLoopback, type DaemonConfig } from './config.js';
import type { DaemonContext } from './context.js';
import { readTls, reloadTls } from './http/tls.js';

/** Settings bound at start (listening socket, store, body parser): a restart applies them. */
export const FIXED_AT_START: ReadonlyArray<keyof DaemonConfig> = [
  'host',
  'port',
  'data_dir',
  'store',
  'body_limit',
  'view_flush_ms',
  'max_journal_bytes',
  'max_legacy_file_bytes',
  'config_file',
  'telemetry_file_max_bytes',
  'telemetry_file_max_age_ms',
  'telemetry_file_keep',
  'telemetry_internal_spans',
];

/** Never in a log line or a stats answer: only their names are. */
const SECRET: ReadonlySet<keyof DaemonConfig> = new Set(['token']);

export interface ReloadResult {
  ok: boolean;
  /** Names of the settings that took a new value ("tls" when the key pair changed). */
  changed: string[];
  /** Names of the settings that differ but cannot change at run time, with why. */
  refused: Array<{ key: string; reason: string }>;
  /** What went wrong: the configuration did not load (nothing changed), or a part was not applied. */
  errors: string[];
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
const digest = (files: { cert: Buffer; key: Buffer } | null): string | null =>
  files ? createHash('sha256').update(files.cert).update(files.key).digest('hex') : null;

export class Reloader {
  private chain: Promise<unknown> = Promise.resolve();
  private tlsDigest: string | null;
  count = 0;
  last: (ReloadResult & { at: string }) | null = null;

  /** `load` reads the configuration as at start (loadConfig with the start flags); it throws ConfigError. */
  constructor(
    private readonly ctx: DaemonContext,
    private readonly load: () => DaemonConfig,
  ) {
    this.tlsDigest = ctx.config.tls_cert ? digest(safeReadTls(ctx.config)) : null;
    ctx.stats.reload = () => ({ count: this.count, last: this.last });
  }

  /** One reload at a time: a SIGHUP during a reload runs after it. */
  reload(): Promise<ReloadResult> {
    const run = this.chain.then(() => this.apply());
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async apply(): Promise<ReloadResult> {
    const { ctx } = this;
    const log = ctx.logger;
    const result: ReloadResult = { ok: true, changed: [], refused: [], errors: [] };
    let next: DaemonConfig;
    try {
      next = this.load();
    } catch (err) {
      result.ok = false;
      result.errors.push((err as Error).message);
      log.error({ error: (err as Error).message }, 'configuration reload failed: keeping the running configuration');
      return this.done(result);
    }
    const running = ctx.config;
    const changed = new Set<keyof DaemonConfig>();
    const refuse = (key: string, reason: string) => {
      result.refused.push({ key, reason });
      log.warn({ key, reason }, `cannot change ${key} at run time: keeping the running value (restart to apply)`);
    };

    for (const key of Object.keys(running) as Array<keyof DaemonConfig>) {
      if (same(running[key], next[key])) continue;
      if (FIXED_AT_START.includes(key)) {
        refuse(key, SECRET.has(key) ? 'bound at start' : `bound at start: running ${JSON.stringify(running[key])}, configured ${JSON.stringify(next[key])}`);
        continue;
      }
      if (key === 'tls_cert' || key === 'tls_key') continue; // below
      if (key === 'token' && !next.token && !isLoopback(running.host)) {
        refuse('token', `the daemon listens on ${running.host}, which needs a token`);
        continue;
      }
      if (key === 'log_level' && ctx.logger.levels.values[next.log_level] === undefined) {
        refuse('log_level', `unknown level ${JSON.stringify(next.log_level)}`);
        continue;
      }
      changed.add(key);
    }

    // TLS: on/off is bound to the listening socket; the key pair itself is read again every time.
    const tlsWas = Boolean(running.tls_cert || running.tls_key);
    const tlsNow = Boolean(next.tls_cert || next.tls_key);
    if (tlsWas !== tlsNow) refuse('tls', `TLS is ${tlsWas ? 'on' : 'off'} for the running listener`);
    else if (tlsNow) {
      try {
        const files = readTls(next)!;
        const d = digest(files);
        if (d !== this.tlsDigest || !same([running.tls_cert, running.tls_key], [next.tls_cert, next.tls_key])) {
          reloadTls(ctx.app.server, files);
          this.tlsDigest = d;
          changed.add('tls_cert');
          changed.add('tls_key');
        }
      } catch (err) {
        refuse('tls', `the new key pair is unusable, keeping the running one: ${(err as Error).message}`);
      }
    }

    // Take the new values, then apply the core's part; features apply theirs in their hooks.
    for (const key of changed) (running as unknown as Record<string, unknown>)[key] = next[key];
    if (changed.has('log_level')) ctx.logger.level = running.log_level;
    if (changed.has('lease_ms')) ctx.service.leaseMs = running.lease_ms; // new and renewed leases; a running one keeps its deadline
    if (changed.has('max_lease_ms')) ctx.service.maxLeaseMs = running.max_lease_ms; // new claims
    for (const hook of ctx.onReload) {
      try {
        await hook(running, changed);
      } catch (err) {
        result.ok = false;
        result.errors.push((err as Error).message);
        log.error({ error: (err as Error).message }, 'part of the reloaded configuration was not applied');
      }
    }
    result.changed = [...changed].map((k) => (k === 'tls_cert' || k === 'tls_key' ? 'tls' : k)).filter((k, i, a) => a.indexOf(k) === i);
    log.info({ changed: result.changed, refused: result.refused.map((r) => r.key), errors: result.errors.length }, 'configuration reloaded');
    return this.done(result);
  }

  private done(result: ReloadResult): ReloadResult {
    this.count++;
    this.last = { ...result, at: new Date().toISOString() };
    return result;
  }
}

function safeReadTls(config: DaemonConfig) {
  try {
    return readTls(config);
  } catch {
    return null;
  }
}
