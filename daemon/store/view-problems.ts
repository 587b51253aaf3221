// What keeps the daemon from reading or writing one legacy file, as reported in /ready, the log, a
// metric and a stream event: the file's current problem, retried a few times first when it may be
// a passing state (a file mid-write), and cleared as soon as the condition is gone.
import { LockBusyError } from './file-lock.js';
import { sameStat, type FileStat } from './file-stat.js';
import type { StoreEmit, ViewProblemKind } from './store-events.js';

/** Retries of an unreadable file before it is reported (it may be mid-write). */
const RETRY_DELAYS_MS = [50, 250, 1000];

export interface ViewProblem {
  file: string;
  kind: ViewProblemKind;
  error: string;
  at: string;
}

/** Problems of the file's content: the same bytes have the same problem, so they are not read again. */
const CONTENT_PROBLEMS: ReadonlySet<ViewProblemKind> = new Set(['unparseable', 'too_large', 'too_deep']);

export interface ProblemsHost {
  logger: { info(o: object, m?: string): void; warn(o: object, m?: string): void };
  emit: StoreEmit;
}

/**
 * An error described by its kind and system call only: system errors name the file and the call,
 * never its content; anything else is named by its kind.
 */
export function describeError(kind: ViewProblemKind, err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (err instanceof LockBusyError) return err.message;
  if (e instanceof RangeError) return 'a record is too deeply nested to process';
  if (typeof e?.code === 'string') return `${kind === 'write_failed' ? 'write failed' : 'cannot read'}: ${e.code}${e.syscall ? ` (${e.syscall})` : ''}`;
  return `cannot process: ${e?.name ?? 'error'}`;
}

export class ViewProblems {
  problem: ViewProblem | null = null;
  /** The file's stat when a content problem was found: it is not read again while unchanged. */
  private problemStat: FileStat = null;
  private failures = 0;
  private retry: NodeJS.Timeout | null = null;

  /** `recheck`: reads the file again (a retry of a file that may have been mid-write). */
  constructor(
    private name: string,
    private host: ProblemsHost,
    private recheck: () => Promise<void>,
  ) {}

  /** Nothing reported and no retry pending. */
  get none(): boolean {
    return this.problem === null && this.failures === 0;
  }

  /** True when the file is still the version whose content was found wrong: reading it again tells nothing new. */
  unchangedSince(st: FileStat): boolean {
    return this.problem !== null && CONTENT_PROBLEMS.has(this.problem.kind) && this.problemStat !== null && sameStat(st, this.problemStat);
  }

  /** A problem found in the version `st` of the file (see unreadable). */
  found(st: FileStat, describe: string | (() => string), kind: ViewProblemKind, now = false): void {
    this.problemStat = st;
    this.unreadable(describe, kind, now);
  }

  /**
   * A file that does not parse may be mid-write: retry a few times, then report it; never overwrite
   * it. `now`: report at once (a lock, a directory, a size: not a passing state).
   */
  unreadable(describe: string | (() => string), kind: ViewProblemKind, now = false): void {
    this.failures++;
    if (this.failures <= RETRY_DELAYS_MS.length) {
      if (!this.retry) {
        this.retry = setTimeout(
          () => {
            this.retry = null;
            void this.recheck().catch(() => {});
          },
          RETRY_DELAYS_MS[this.failures - 1],
        );
        this.retry.unref();
      }
      if (!now) return;
    }
    const error = typeof describe === 'string' ? describe : describe(); // described only when reported (a scan of the text)
    const first = this.problem === null || this.problem.error !== error;
    if (first) {
      const problem = { file: this.name, kind, error, at: new Date().toISOString() };
      this.problem = problem;
      this.host.logger.warn({ file: this.name, kind, error }, 'legacy file is unreadable or locked; left untouched, will retry');
      this.host.emit('problem', problem);
    }
  }

  /**
   * Reports an error at once (no retries: a directory, a permission, a lock are not mid-write
   * states); `st`: the version of the file it was found in, when known.
   */
  report(kind: ViewProblemKind, err: unknown, st?: FileStat): void {
    if (st !== undefined) this.problemStat = st;
    this.unreadable(describeError(kind, err), kind, true);
  }

  /** The file is fine again. */
  resolve(): void {
    if (this.problem) this.host.logger.info({ file: this.name, kind: this.problem.kind }, 'legacy file problem resolved');
    this.problem = null;
    this.problemStat = null;
    this.failures = 0;
    this.close();
  }

  close(): void {
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
  }
}
