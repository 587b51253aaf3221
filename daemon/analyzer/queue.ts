// Bounded concurrency: at most `maxConcurrent` tasks run, at most `maxQueue` wait; beyond that a task
// is refused at once (429), so a flood costs neither unbounded memory nor unbounded processes.
import { ApiError } from '../errors.js';
import { textOf } from '../../shared/text.js';

interface Waiting {
  start: () => void;
}

export class BoundedQueue {
  private active = 0;
  private readonly waiting: Waiting[] = [];

  constructor(readonly maxConcurrent: number, readonly maxQueue: number) {
    if (!(maxConcurrent >= 1) || !(maxQueue >= 0)) throw new Error('maxConcurrent must be >= 1 and maxQueue >= 0');
  }

  get running(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Runs `task` when a slot is free. Throws ApiError too_many_requests when the queue is full; a queued task is dropped when `signal` aborts. */
  run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (this.active < this.maxConcurrent) return this.execute(task);
    if (this.waiting.length >= this.maxQueue) {
      return Promise.reject(new ApiError('too_many_requests', `The analyzer is busy: ${this.active} running, ${this.waiting.length} queued`, { running: this.active, queued: this.waiting.length }));
    }
    return new Promise<T>((resolve, reject) => {
      const entry: Waiting = {
        start: () => {
          signal?.removeEventListener('abort', onAbort);
          this.execute(task).then(resolve, reject);
        },
      };
      const onAbort = (): void => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(abortError(signal!));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  private async execute<T>(task: () => Promise<T>): Promise<T> {
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.waiting.shift()?.start();
    }
  }
}

/** Why an aborted signal aborted, as an Error (its reason is one unless abort() was given something else). */
function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  return new Error(reason === undefined ? 'aborted' : textOf(reason), { cause: reason });
}
