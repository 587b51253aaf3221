// Runs an analyzer command: input on stdin, answer on stdout, bounded in time and size. The command
// runs through /bin/sh in its own process group (detached), so a timeout can kill it together with
// everything it started (process.kill(-pid)); nothing it spawned outlives the request.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { processEnv } from '../config.js';

export type CommandFailure = 'failed' | 'timeout' | 'aborted';

/** What the analyzer logs through (the daemon's pino child logger). */
export interface AnalyzerLogger {
  info(detail: object, message?: string): void;
  warn(detail: object, message?: string): void;
  error(detail: object, message?: string): void;
}

export class CommandError extends Error {
  constructor(
    readonly kind: CommandFailure,
    message: string,
    readonly stderrTail: string,
    readonly exitCode: number | null = null,
    readonly signal: string | null = null,
    /** What the command printed before failing (the Claude CLI prints its error envelope there). */
    readonly stdout = '',
  ) {
    super(message);
  }
}

export interface RunOptions {
  timeoutMs: number;
  /** stdout beyond this many bytes kills the command: an answer that large is a runaway. */
  maxOutputBytes?: number;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
}

export interface RunResult {
  stdout: string;
  stderrTail: string;
  pid: number;
}

const STDERR_TAIL_BYTES = 4096;
/** How long to wait for the pipes to close once the command exited (a grandchild outside the group may hold them). */
const CLOSE_GRACE_MS = 1000;

/** Kills a whole process group; falls back to the leader alone. Never throws. */
export function killGroup(child: ChildProcess | number | undefined, signal: NodeJS.Signals = 'SIGKILL'): void {
  const pid = typeof child === 'number' ? child : child?.pid;
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      if (typeof child !== 'number') child?.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

/** Keeps the last `size` bytes written to it. */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private bytes = 0;
  constructor(private readonly size = STDERR_TAIL_BYTES) {}
  push(b: Buffer): void {
    this.chunks.push(b);
    this.bytes += b.length;
    while (this.bytes - this.chunks[0].length >= this.size) this.bytes -= this.chunks.shift()!.length;
  }
  toString(): string {
    const all = Buffer.concat(this.chunks);
    return all
      .subarray(Math.max(0, all.length - this.size))
      .toString('utf8')
      .trim();
  }
}

/**
 * Spawns `sh -c command` (extra args reach it as "$@") detached, in its own process group.
 * The shell string lets operators configure `--analyzer-command "node my-analyzer.js --fast"`.
 */
export function spawnShell(command: string, args: string[] = [], env?: NodeJS.ProcessEnv): ChildProcess {
  const script = args.length ? `${command} "$@"` : command;
  return spawn('/bin/sh', ['-c', script, 'analyzer', ...args], { detached: true, stdio: ['pipe', 'pipe', 'pipe'], env: env ?? processEnv() });
}

/** Runs the command once; resolves on exit 0, rejects with CommandError otherwise. */
export function runCommand(command: string, args: string[], input: string, opts: RunOptions): Promise<RunResult> {
  const maxOut = opts.maxOutputBytes ?? 8 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawnShell(command, args, opts.env);
    } catch (err) {
      reject(new CommandError('failed', `cannot start the analyzer: ${(err as Error).message}`, ''));
      return;
    }
    const out: Buffer[] = [];
    let outBytes = 0;
    const stderr = new TailBuffer();
    let failure: { kind: CommandFailure; message: string } | null = null;
    let exit: { code: number | null; signal: string | null } | null = null;
    let settled = false;
    let closeGuard: NodeJS.Timeout | undefined;

    const abort = (kind: CommandFailure, message: string): void => {
      failure ??= { kind, message };
      killGroup(child);
    };
    const timer = setTimeout(() => abort('timeout', `no answer within ${opts.timeoutMs} ms`), opts.timeoutMs);
    const onAbort = (): void => abort('aborted', 'the request was aborted');
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(closeGuard);
      opts.signal?.removeEventListener('abort', onAbort);
      child.stdout?.destroy();
      child.stderr?.destroy();
      const stdout = Buffer.concat(out).toString('utf8');
      const tail = stderr.toString();
      if (failure) return reject(new CommandError(failure.kind, failure.message, tail, exit?.code ?? null, exit?.signal ?? null, stdout));
      if (!exit || exit.code !== 0) {
        const how = exit?.signal ? `was killed by ${exit.signal}` : `exited with code ${exit?.code}`;
        return reject(new CommandError('failed', `the analyzer ${how}`, tail, exit?.code ?? null, exit?.signal ?? null, stdout));
      }
      resolve({ stdout, stderrTail: tail, pid: child.pid! });
    };

    child.stdout!.on('data', (b: Buffer) => {
      outBytes += b.length;
      if (outBytes > maxOut) abort('failed', `the analyzer printed more than ${maxOut} bytes`);
      else out.push(b);
    });
    child.stderr!.on('data', (b: Buffer) => stderr.push(b));
    // EPIPE when the command exits without reading its input: its exit status tells what happened.
    child.stdin!.on('error', () => {});
    child.on('error', (err) => {
      failure ??= { kind: 'failed', message: `cannot run the analyzer: ${err.message}` };
      finish();
    });
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      // Whatever the command left running in its group goes with it (and releases our pipes).
      killGroup(child.pid);
      closeGuard = setTimeout(finish, CLOSE_GRACE_MS);
    });
    child.on('close', finish);
    child.stdin!.end(input);
  });
}

/** The absolute path of an executable on PATH, or null. */
export function findOnPath(name: string, env: NodeJS.ProcessEnv = processEnv()): string | null {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      if (statSync(file).isFile()) return file;
    } catch {
      /* not here */
    }
  }
  return null;
}
