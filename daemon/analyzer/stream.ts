// A long-running analyzer process fed JSON lines. Contract: one JSON line in, one JSON line out, in
// order (a line filter, like `jq -c --unbuffered .`). Each line sent waits for the next answer line;
// the process is restarted with exponential backoff when it dies, and killed (then restarted) when it
// leaves a line unanswered past the timeout. Answers never reject: failures come back as
// {ok:false, error, message}, so a caller that went away leaves no unhandled rejection behind.
import { EventEmitter } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import { ApiError } from '../errors.js';
import { killGroup, spawnShell, TailBuffer } from './command.js';
import type { Logger } from '../store/memory-state.js';

export type StreamAnswer =
  | { ok: true; result: unknown }
  | { ok: false; error: 'analyzer_timeout' | 'analyzer_exited' | 'analyzer_unavailable' | 'invalid_output' | 'invalid_event' | 'analyzer_stopped'; message: string; stderr_tail?: string };

export interface StreamOptions {
  command: string;
  /** How long one line may wait for its answer (including while the process restarts). */
  lineTimeoutMs: number;
  /** Lines waiting for an answer, across all callers; beyond that send() refuses (429). */
  maxPending?: number;
  restartMinMs?: number;
  restartMaxMs?: number;
  /** A single output line longer than this is a runaway: the process is restarted. */
  maxLineBytes?: number;
  logger?: Logger;
}

export interface StreamStats {
  command: string;
  pid: number | null;
  running: boolean;
  restarts: number;
  pending: number;
  last_exit: { code: number | null; signal: string | null; at: string } | null;
}

interface Pending {
  line: string;
  /** The process the line was written to; null while it waits for one. */
  writtenTo: ChildProcess | null;
  timer: NodeJS.Timeout;
  resolve: (a: StreamAnswer) => void;
}

export class StreamAnalyzer extends EventEmitter {
  private child: ChildProcess | null = null;
  private readonly pending: Pending[] = [];
  private stderr = new TailBuffer();
  private partial = '';
  private started = false;
  private stopped = false;
  private crashes = 0;
  private restarts = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private lastExit: StreamStats['last_exit'] = null;
  private readonly maxPending: number;
  private readonly restartMin: number;
  private readonly restartMax: number;
  private readonly maxLine: number;

  constructor(private readonly opts: StreamOptions) {
    super();
    this.maxPending = opts.maxPending ?? 1000;
    this.restartMin = opts.restartMinMs ?? 250;
    this.restartMax = opts.restartMaxMs ?? 30_000;
    this.maxLine = opts.maxLineBytes ?? 1024 * 1024;
  }

  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.spawn();
  }

  /** Sends events as lines; one answer promise per event. Refuses all of them (429) if they do not fit. */
  sendMany(events: unknown[]): Promise<StreamAnswer>[] {
    if (this.pending.length + events.length > this.maxPending) {
      throw new ApiError('too_many_requests', `The stream analyzer has ${this.pending.length} lines waiting (limit ${this.maxPending})`, { pending: this.pending.length });
    }
    return events.map((e) => this.enqueue(JSON.stringify(e ?? null)));
  }

  send(event: unknown): Promise<StreamAnswer> {
    return this.sendMany([event])[0];
  }

  stats(): StreamStats {
    return {
      command: this.opts.command,
      pid: this.child?.pid ?? null,
      running: this.child !== null,
      restarts: this.restarts,
      pending: this.pending.length,
      last_exit: this.lastExit,
    };
  }

  /** Ends the process (EOF, then SIGTERM, then SIGKILL to its group) and answers what is pending. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    this.failPending(() => true, { ok: false, error: 'analyzer_stopped', message: 'the daemon is shutting down' });
    const child = this.child;
    if (!child) return;
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => killGroup(child, 'SIGKILL'), 1000);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      child.stdin?.end();
      killGroup(child, 'SIGTERM');
    });
  }

  private enqueue(line: string): Promise<StreamAnswer> {
    if (this.stopped) return Promise.resolve({ ok: false, error: 'analyzer_stopped', message: 'the stream analyzer is stopped' });
    return new Promise((resolve) => {
      const entry: Pending = {
        line,
        writtenTo: null,
        resolve,
        timer: setTimeout(() => this.onLineTimeout(entry), this.opts.lineTimeoutMs),
      };
      this.pending.push(entry);
      if (!this.started) this.start(); // first use starts the process when the owner did not
      this.write(entry);
    });
  }

  private write(entry: Pending): void {
    if (!this.child || entry.writtenTo) return;
    entry.writtenTo = this.child;
    this.child.stdin!.write(entry.line + '\n');
  }

  private onLineTimeout(entry: Pending): void {
    const i = this.pending.indexOf(entry);
    if (i < 0) return;
    this.pending.splice(i, 1);
    if (!entry.writtenTo) {
      entry.resolve({ ok: false, error: 'analyzer_unavailable', message: `the stream analyzer was not running for ${this.opts.lineTimeoutMs} ms`, stderr_tail: this.stderr.toString() });
      return;
    }
    entry.resolve({ ok: false, error: 'analyzer_timeout', message: `no answer within ${this.opts.lineTimeoutMs} ms: restarting the analyzer`, stderr_tail: this.stderr.toString() });
    // The process is stuck (or broke the one-line-per-line contract): later answers would be misaligned.
    this.opts.logger?.warn({ pid: entry.writtenTo.pid }, 'stream analyzer left a line unanswered; restarting it');
    this.retire(entry.writtenTo, 'analyzer_timeout', 'an earlier line timed out: the analyzer is restarting');
  }

  /**
   * Stops using a process at once: new lines wait for its successor, lines it holds are answered
   * now, and its group is killed (its exit handler then schedules the restart).
   */
  private retire(child: ChildProcess, error: 'analyzer_timeout' | 'invalid_output', message: string): void {
    if (this.child === child) this.child = null;
    this.failPending((p) => p.writtenTo === child, { ok: false, error, message, stderr_tail: this.stderr.toString() });
    killGroup(child, 'SIGKILL');
  }

  private spawn(): void {
    this.stderr = new TailBuffer();
    this.partial = '';
    let child: ChildProcess;
    try {
      child = spawnShell(this.opts.command);
    } catch (err) {
      this.opts.logger?.error({ err }, 'cannot start the stream analyzer');
      this.scheduleRestart();
      return;
    }
    this.child = child;
    const startedAt = Date.now();
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (s: string) => this.onData(child, s));
    child.stderr!.on('data', (b: Buffer) => this.stderr.push(b));
    child.stdin!.on('error', () => {}); // EPIPE when it dies: the exit handler answers the lines
    // Gone = exited AND its output read to the end ('close'), so answers printed just before a crash
    // still count. Leftovers of its group are killed at exit so they cannot hold the pipes open;
    // the guard covers anything outside the group that does.
    let gone = false;
    let exited: { code: number | null; signal: string | null } = { code: null, signal: null };
    let guard: NodeJS.Timeout | undefined;
    const onGone = (): void => {
      if (gone) return;
      gone = true;
      clearTimeout(guard);
      const { code, signal } = exited;
      if (this.child === child) this.child = null;
      this.lastExit = { code, signal, at: new Date().toISOString() };
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      this.failPending((p) => p.writtenTo === child, { ok: false, error: 'analyzer_exited', message: `the stream analyzer ${how}`, stderr_tail: this.stderr.toString() });
      if (this.stopped) return;
      if (Date.now() - startedAt > 10_000) this.crashes = 0; // it ran a while: a new failure, not a crash loop
      this.opts.logger?.warn({ code, signal, stderr_tail: this.stderr.toString() }, 'stream analyzer exited; restarting');
      this.emit('exit', { code, signal });
      this.scheduleRestart();
    };
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      killGroup(child.pid, 'SIGKILL');
      guard = setTimeout(onGone, 1000);
    });
    child.on('close', onGone);
    child.on('error', (err) => {
      this.opts.logger?.error({ err }, 'stream analyzer error');
      onGone();
    });
    for (const p of this.pending) this.write(p); // lines that arrived while it was down
    this.emit('spawn', child.pid);
  }

  private scheduleRestart(): void {
    const delay = Math.min(this.restartMax, this.restartMin * 2 ** this.crashes);
    this.crashes++;
    this.restartTimer = setTimeout(() => {
      if (this.stopped) return;
      this.restarts++;
      this.spawn();
    }, delay);
    this.restartTimer.unref();
  }

  private onData(child: ChildProcess, s: string): void {
    if (child !== this.child) return;
    this.partial += s;
    let nl: number;
    while ((nl = this.partial.indexOf('\n')) >= 0) {
      const line = this.partial.slice(0, nl).trim();
      this.partial = this.partial.slice(nl + 1);
      if (line) this.onLine(child, line);
    }
    if (this.partial.length > this.maxLine) {
      this.opts.logger?.warn({ pid: child.pid }, 'stream analyzer printed an over-long line; restarting it');
      this.partial = '';
      this.retire(child, 'invalid_output', `the stream analyzer printed a line longer than ${this.maxLine} bytes`);
    }
  }

  private onLine(child: ChildProcess, line: string): void {
    let answer: StreamAnswer;
    try {
      answer = { ok: true, result: JSON.parse(line) };
    } catch {
      answer = { ok: false, error: 'invalid_output', message: `the stream analyzer printed a line that is not JSON: ${JSON.stringify(line.slice(0, 200))}` };
    }
    const i = this.pending.findIndex((p) => p.writtenTo === child);
    if (i < 0) {
      this.emit('unsolicited', answer);
      return;
    }
    const [entry] = this.pending.splice(i, 1);
    clearTimeout(entry.timer);
    if (answer.ok) this.crashes = 0; // a good answer proves the process healthy
    entry.resolve(answer);
    this.emit('answer', answer);
  }

  private failPending(which: (p: Pending) => boolean, answer: StreamAnswer): void {
    for (let i = this.pending.length - 1; i >= 0; i--) {
      const p = this.pending[i];
      if (!which(p)) continue;
      this.pending.splice(i, 1);
      clearTimeout(p.timer);
      p.resolve(answer);
    }
  }
}
