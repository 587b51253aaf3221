// The analyzer bridge: picks the mode (builtin, a command, the Claude CLI), bounds how many external
// runs exist at once, turns every way a command can fail into one ApiError, and reports outcomes.
import { ApiError } from '../errors.js';
import { analyzeBuiltin, toPlainState, type AnalysisResult } from '../../shared/builtin-analysis.js';
import { claudeArgs, unwrapClaudeEnvelope } from './claude.js';
import { CommandError, findOnPath, runCommand } from './command.js';
import { BoundedQueue } from './queue.js';
import { StreamAnalyzer, type StreamAnswer, type StreamStats } from './stream.js';
import { processEnv } from '../config.js';
import type { Logger } from '../store/memory-state.js';

export type AnalyzerMode = 'builtin' | 'command' | 'claude';
export type AnalyzerOutcome = 'ok' | 'failed' | 'timeout' | 'rejected';

export interface AnalyzerOptions {
  command?: string;
  /** 'auto' (the config file's spelling) or absent: chosen by resolveAnalyzerMode. */
  mode?: AnalyzerMode | 'auto';
  timeoutMs: number;
  maxConcurrent: number;
  maxQueue: number;
  streamCommand?: string;
  /** The current coordination state, analyzed when a request brings none. */
  getState: () => unknown;
  logger: Logger;
  onResult?: (outcome: AnalyzerOutcome, seconds: number) => void;
  /** Stream analyzer tuning (defaults: 250 ms .. 30 s backoff, 1000 lines pending). */
  streamRestartMinMs?: number;
  streamRestartMaxMs?: number;
  streamMaxPending?: number;
  /** Environment for the PATH lookup and the commands (default: the process environment, config.ts). */
  env?: NodeJS.ProcessEnv;
  /** Clock of the builtin analyzer (tests pin it). */
  now?: () => number;
}

/** The legacy helper's command name, used when it is on PATH and nothing else is configured. */
export const DEFAULT_ANALYZER_COMMAND = 'claude-analyze-priorities';
/** Events per POST /api/claude/stream request. */
export const MAX_STREAM_EVENTS = 1000;

export interface AnalyzerStats {
  mode: AnalyzerMode;
  command: string | null;
  running: number;
  queued: number;
  last_outcome: AnalyzerOutcome | null;
  stream: StreamStats | null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Mode by precedence: an explicit mode; a configured command (`claude` itself, by its first word,
 * means claude mode: the bare CLI would wait for a prompt); `claude-analyze-priorities` on PATH; builtin.
 */
export function resolveAnalyzerMode(opts: Pick<AnalyzerOptions, 'mode' | 'command'>, env: NodeJS.ProcessEnv = processEnv()): { mode: AnalyzerMode; command: string | null } {
  const command = opts.command?.trim() || undefined;
  const mode = opts.mode === 'auto' ? undefined : opts.mode;
  if (mode === 'builtin') return { mode: 'builtin', command: null };
  if (mode === 'claude') return { mode: 'claude', command: command ?? 'claude' };
  if (command) {
    const first = command.split(/\s+/)[0];
    return { mode: mode ?? (/(^|\/)claude$/.test(first) ? 'claude' : 'command'), command };
  }
  if (findOnPath(DEFAULT_ANALYZER_COMMAND, env)) return { mode: 'command', command: DEFAULT_ANALYZER_COMMAND };
  if (mode === 'command') throw new Error(`analyzer mode "command" needs --analyzer-command (${DEFAULT_ANALYZER_COMMAND} is not on PATH)`);
  return { mode: 'builtin', command: null };
}

export class Analyzer {
  // Mutable only through reconfigure() (SIGHUP reload).
  mode: AnalyzerMode;
  command: string | null;
  stream: StreamAnalyzer | null;
  private queue: BoundedQueue;
  private lastOutcome: AnalyzerOutcome | null = null;
  private started = false;

  constructor(private opts: AnalyzerOptions) {
    ({ mode: this.mode, command: this.command } = resolveAnalyzerMode(opts, opts.env));
    this.queue = new BoundedQueue(opts.maxConcurrent, opts.maxQueue);
    this.stream = Analyzer.makeStream(opts);
  }

  private static makeStream(opts: AnalyzerOptions): StreamAnalyzer | null {
    return opts.streamCommand
      ? new StreamAnalyzer({
          command: opts.streamCommand,
          lineTimeoutMs: opts.timeoutMs,
          maxPending: opts.streamMaxPending,
          restartMinMs: opts.streamRestartMinMs,
          restartMaxMs: opts.streamRestartMaxMs,
          logger: opts.logger,
        })
      : null;
  }

  start(): void {
    this.started = true;
    this.stream?.start();
  }

  /**
   * New settings for later requests (SIGHUP reload). Runs already started or queued finish under the
   * old ones; a changed stream command (or timeout) replaces the stream process. Validates everything
   * before changing anything: on an error (e.g. mode "command" without a command) nothing changes.
   */
  async reconfigure(next: Pick<AnalyzerOptions, 'command' | 'mode' | 'timeoutMs' | 'maxConcurrent' | 'maxQueue' | 'streamCommand'>): Promise<void> {
    const opts: AnalyzerOptions = { ...this.opts, ...next };
    const resolved = resolveAnalyzerMode(opts, opts.env);
    const queue = opts.maxConcurrent !== this.queue.maxConcurrent || opts.maxQueue !== this.queue.maxQueue ? new BoundedQueue(opts.maxConcurrent, opts.maxQueue) : this.queue;
    const restartStream = opts.streamCommand !== this.opts.streamCommand || (opts.streamCommand !== undefined && opts.timeoutMs !== this.opts.timeoutMs);
    this.opts = opts;
    ({ mode: this.mode, command: this.command } = resolved);
    this.queue = queue;
    if (restartStream) {
      const old = this.stream;
      this.stream = Analyzer.makeStream(opts);
      if (this.started) this.stream?.start();
      await old?.stop();
    }
  }

  async close(): Promise<void> {
    await this.stream?.stop();
  }

  stats(): AnalyzerStats {
    return { mode: this.mode, command: this.command, running: this.queue.running, queued: this.queue.queued, last_outcome: this.lastOutcome, stream: this.stream?.stats() ?? null };
  }

  /** One analysis of `systemState`, or of the current state when undefined. Throws ApiError. */
  async analyze(systemState?: unknown, signal?: AbortSignal): Promise<unknown> {
    const t0 = performance.now();
    const report = (outcome: AnalyzerOutcome): void => {
      this.lastOutcome = outcome;
      this.opts.onResult?.(outcome, (performance.now() - t0) / 1000);
    };
    try {
      const state = systemState === undefined ? this.opts.getState() : systemState;
      const result = this.mode === 'builtin' ? this.builtin(state) : await this.queue.run(() => this.runExternal(state, signal), signal);
      report('ok');
      return result;
    } catch (err) {
      const code = err instanceof ApiError ? err.code : null;
      report(code === 'too_many_requests' || code === 'invalid_request' ? 'rejected' : code === 'analyzer_timeout' ? 'timeout' : 'failed');
      throw err;
    }
  }

  /** Stream events: through the stream command when configured, else one builtin analysis each. */
  streamEvents(events: unknown[]): Promise<StreamAnswer>[] {
    if (this.stream) return this.stream.sendMany(events);
    return events.map(async (event): Promise<StreamAnswer> => {
      try {
        const plain = toPlainState(isObject(event) && event.system_state !== undefined ? event.system_state : this.opts.getState());
        if (!plain) return { ok: false, error: 'invalid_event', message: 'system_state is not a coordination state' };
        return { ok: true, result: analyzeBuiltin(plain, { now: this.opts.now?.(), limit: 10 }) };
      } catch (err) {
        return { ok: false, error: 'analyzer_unavailable', message: (err as Error).message };
      }
    });
  }

  private builtin(state: unknown): AnalysisResult {
    const plain = toPlainState(state);
    if (!plain) throw new ApiError('invalid_request', 'system_state must be a coordination state ({work, agents, log}) or a work_claims array');
    return analyzeBuiltin(plain, { now: this.opts.now?.() });
  }

  private async runExternal(state: unknown, signal?: AbortSignal): Promise<unknown> {
    const mode = this.mode as 'command' | 'claude';
    let stdout: string;
    let stderrTail: string;
    try {
      ({ stdout, stderrTail } = await runCommand(this.command!, mode === 'claude' ? claudeArgs() : [], JSON.stringify(state ?? null), {
        timeoutMs: this.opts.timeoutMs,
        signal,
        env: this.opts.env,
      }));
    } catch (err) {
      if (!(err instanceof CommandError)) throw err;
      let message = err.message;
      if (mode === 'claude' && err.kind === 'failed' && err.stdout.trim()) {
        try {
          unwrapClaudeEnvelope(err.stdout);
        } catch (why) {
          message += `: ${(why as Error).message}`; // the CLI exits 1 with its error in the envelope
        }
      }
      this.opts.logger.warn({ command: this.command, kind: err.kind, exit_code: err.exitCode, signal: err.signal, stderr_tail: err.stderrTail }, `analyzer ${err.kind}: ${message}`);
      throw new ApiError(err.kind === 'timeout' ? 'analyzer_timeout' : 'analyzer_failed', message, {
        stderr_tail: err.stderrTail,
        exit_code: err.exitCode,
        signal: err.signal,
      });
    }

    let value: unknown;
    try {
      if (mode === 'claude') {
        const unwrapped = unwrapClaudeEnvelope(stdout);
        value = unwrapped.value;
        this.opts.logger.info({ claude: unwrapped.meta }, 'claude analysis done');
      } else {
        value = JSON.parse(stdout);
      }
    } catch (err) {
      const message = err instanceof SyntaxError ? `the analyzer printed something that is not JSON: ${JSON.stringify(stdout.trim().slice(0, 200))}` : (err as Error).message;
      this.opts.logger.warn({ command: this.command, stderr_tail: stderrTail }, message);
      throw new ApiError('analyzer_failed', message, { stderr_tail: stderrTail, exit_code: 0, signal: null });
    }
    // Label who answered, without overwriting what the analyzer said itself.
    if (isObject(value)) return { ...value, source: value.source ?? mode, generated_at: value.generated_at ?? new Date().toISOString() };
    return value;
  }
}
