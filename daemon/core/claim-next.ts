// claim-next: hands the best ready item to an agent, at once or (long polling) as soon as one is
// ready. Waiters are served first come, first served, one claim at a time, each claim being the
// claim operation inside one store transaction: an item goes to exactly one agent. A waiter whose
// connection is gone is never claimed for; a claim whose answer could not be sent is given back.
import { EventEmitter } from 'node:events';
import type { JsonObject } from '../../shared/types.js';
import type { CoordinationService, Trace } from './service.js';
import { claimNext, nextFilter, type ClaimNextInput } from './work-graph-ops.js';
import type { WorkIndex } from './work-index.js';

/** The longest a claim-next request may wait (ms); the schema refuses more. */
export const MAX_WAIT_MS = 60_000;

export type ClaimNextOutcome = 'claimed' | 'empty' | 'timeout' | 'disconnected';

export interface Claimed {
  work_id: string;
  claim: JsonObject;
  revision: number | null;
}

/** The requester's connection, as far as the dispatcher needs it. */
export interface Connection {
  isOpen(): boolean;
  onClose(fn: () => void): void;
}

interface Waiter {
  input: ClaimNextInput;
  conn: Connection;
  trace?: Trace;
  done: boolean;
  timer: NodeJS.Timeout | null;
  resolve(c: Claimed | null): void;
  reject(err: Error): void;
}

/** Events: 'outcome' (ClaimNextOutcome) once per request. */
export class ClaimNextDispatcher extends EventEmitter {
  private waiters: Waiter[] = [];
  private pumping = false;
  private again = false;
  private scheduled = false;
  private closed = false;

  constructor(
    private service: CoordinationService,
    private index: WorkIndex,
  ) {
    super();
    index.on('ready', () => this.schedule());
  }

  /** Set by close(): the daemon is shutting down. */
  get closing(): boolean {
    return this.closed;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /** One attempt: the claim, or null when nothing ready matches. */
  async claimOnce(input: ClaimNextInput, trace?: Trace): Promise<Claimed | null> {
    const out = await this.service.claimChosen('claim_next', input.agent_id, undefined, (ctx, limits) => claimNext(ctx, limits, this.index, input), trace);
    const r = out.result;
    return r ? { work_id: r.work_id, claim: r.claim, revision: out.revision } : null;
  }

  /** Claims now, or waits up to `waitMs` for an item to become ready (null: nothing for this agent). */
  async request(input: ClaimNextInput, waitMs: number, conn: Connection, trace?: Trace): Promise<Claimed | null> {
    const now = this.waiters.length === 0 || waitMs === 0 ? await this.claimOnce(input, trace) : null;
    if (now) return this.outcome(now, 'claimed');
    if (waitMs === 0 || this.closed) return this.outcome(null, 'empty');
    if (!conn.isOpen()) return this.outcome(null, 'disconnected');
    return new Promise<Claimed | null>((resolve, reject) => {
      const w: Waiter = { input, conn, trace, done: false, timer: null, resolve, reject };
      w.timer = setTimeout(() => this.finish(w, null, 'timeout'), waitMs);
      conn.onClose(() => this.finish(w, null, 'disconnected'));
      this.waiters.push(w);
      this.schedule();
    });
  }

  /** Answers every waiter with "nothing" (shutdown). */
  close(): void {
    this.closed = true;
    for (const w of [...this.waiters]) this.finish(w, null, 'timeout');
  }

  /** Gives back a claim whose answer did not reach its agent. */
  async giveBack(c: Claimed): Promise<void> {
    await this.service.release({
      work_id: c.work_id,
      agent_id: c.claim.agent_id as string,
      fencing_token: c.claim.fencing_token as number,
      reason: 'claim_next_undelivered',
    });
  }

  private outcome(c: Claimed | null, o: ClaimNextOutcome): Claimed | null {
    this.emit('outcome', o);
    return c;
  }

  private finish(w: Waiter, c: Claimed | null, o: ClaimNextOutcome, err?: Error): void {
    if (w.done) return;
    w.done = true;
    if (w.timer) clearTimeout(w.timer);
    const i = this.waiters.indexOf(w);
    if (i !== -1) this.waiters.splice(i, 1);
    this.emit('outcome', err ? 'empty' : o);
    if (err) w.reject(err);
    else w.resolve(c);
  }

  private schedule(): void {
    if (this.waiters.length === 0 || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.pump();
    });
  }

  /** The first waiter (in arrival order) that a ready item matches; gone waiters are dropped on the way. */
  private firstServable(skip: ReadonlySet<Waiter>): Waiter | undefined {
    for (const w of [...this.waiters]) {
      if (!w.conn.isOpen()) this.finish(w, null, 'disconnected');
      else if (!skip.has(w) && this.index.hasReady(nextFilter(w.input))) return w;
    }
    return undefined;
  }

  /**
   * Serves waiters in arrival order while ready items match them, one claim at a time. After each
   * claim the search starts again from the oldest waiter (waiters may have left meanwhile).
   */
  private async pump(): Promise<void> {
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.again = false;
        // A waiter whose attempt found nothing (another claim took the item first) waits for the next change.
        const skip = new Set<Waiter>();
        for (let w = this.firstServable(skip); w; w = this.firstServable(skip)) {
          let got: Claimed | null;
          try {
            got = await this.claimOnce(w.input, w.trace);
          } catch (err) {
            this.finish(w, null, 'empty', err as Error);
            continue;
          }
          if (got && (w.done || !w.conn.isOpen())) {
            // Timed out or gone while its claim was being made durable: nobody will get the answer.
            await this.giveBack(got).catch(() => {});
            this.finish(w, null, 'disconnected');
          } else if (got) {
            this.finish(w, got, 'claimed');
          } else {
            skip.add(w);
          }
        }
      } while (this.again);
    } finally {
      this.pumping = false;
    }
  }
}
