// The PostgreSQL store: several daemons, one fleet. The database holds the records and an events
// table whose gap-free revision is assigned in the same transaction as the change (one counter row,
// locked FOR UPDATE, serializes writers). Each daemon keeps the same in-memory state as the file
// store and catches up with `WHERE revision > last_seen` (NOTIFY is only a wake-up, a poll is the
// safety net). A change is a compare-and-set on the versions of the records it read and writes: if
// another daemon changed one first, this daemon catches up and decides again, so a claim has
// exactly one winner across all daemons. Path leases of two agents sit on two records, so the
// database also refuses a change that leases a path overlapping a lease written after the revision
// the change was decided at (aip_path_leases, see pg-schema.ts); the daemon decides again likewise.
// Changes waiting meanwhile are committed together (group commit: one transaction, one fsync).
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { formatRecord } from '../../shared/legacy-json.js';
import { nowNs } from '../../shared/ids.js';
import type { DeltaMessage } from '../../shared/protocol.js';
import type { ChangeCause, Entry, RecordChange, Section } from '../../shared/types.js';
import { ApiError } from '../errors.js';
import {
  MemoryState,
  type CoordinationStore,
  type Logger,
  type PreparedChange,
  type ReadView,
  type StoreProblem,
  type TransactFn,
  type TransactResult,
} from './memory-state.js';
import type { ProposedChange } from './ingest.js';
import { migrate } from './pg-schema.js';

export interface PgStoreOptions {
  url: string;
  /** Local directory for the side files (telemetry spans, velocity log); records live in the database. */
  dataDir: string;
  logger: Logger;
  /** Safety-net poll for changes from other daemons (ms). */
  pollMs?: number;
  poolSize?: number;
  recentDeltas?: number;
}

interface EventRow {
  revision: string;
  ts_ns: string;
  changes: RecordChange[];
  cause: ChangeCause | null;
  checksum: string | null;
}

interface Pending {
  fn: TransactFn<unknown>;
  cause: ChangeCause;
  resolve: (r: TransactResult<unknown>) => void;
  reject: (err: Error) => void;
  attempts: number;
}

/** Changes committed in one database call at most. */
const MAX_BATCH = 256;

/** One thing at a time (the daemon's writes are serialized; other daemons are handled by CAS). */
class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => {});
    return next;
  }
}

export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

export class PgStore extends MemoryState implements CoordinationStore {
  readonly dataDir: string;
  readonly metaDir: string;
  ready = false;
  // The driver is loaded by open(): a daemon on the file store never pays for it (start time, memory).
  private pg!: typeof pg;
  private pool!: pg.Pool;
  private listener: pg.Client | null = null;
  private writes = new Mutex();
  private catchingUp: Promise<void> | null = null;
  private poll: NodeJS.Timeout | null = null;
  private closed = false;
  private problem: StoreProblem | null = null;
  private lastDurable: Promise<void> = Promise.resolve();
  private queue: Pending[] = [];
  private draining = false;
  private checksumsToFill: Array<[number, string]> = [];

  constructor(private opts: PgStoreOptions) {
    super(opts.recentDeltas);
    this.dataDir = opts.dataDir;
    this.metaDir = path.join(opts.dataDir, '.ai-processor');
  }

  async open(): Promise<void> {
    this.pg = (await import('pg')).default;
    this.pool = new this.pg.Pool({ connectionString: this.opts.url, max: this.opts.poolSize ?? 4, connectionTimeoutMillis: 3000 });
    this.pool.on('error', (err) => this.setProblem(`database connection lost: ${err.message}`));
    await fsp.mkdir(this.metaDir, { recursive: true });
    await migrate(this.pool, this.opts.logger);
    await this.loadAll();
    await this.listen();
    this.poll = setInterval(() => void this.catchUp().catch(() => {}), this.opts.pollMs ?? 1000);
    this.poll.unref();
    this.ready = true;
  }

  /** Loads every record at one consistent revision. */
  private async loadAll(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const rev = await client.query<{ value: string }>("SELECT value FROM aip_meta WHERE name = 'revision'");
      const rows = await client.query<{ section: Section; key: string; v: number; rev: string; data: Entry['data']; text: string | null }>(
        'SELECT section, key, v, rev, data, text FROM aip_records ORDER BY ord',
      );
      await client.query('COMMIT');
      for (const s of ['work', 'agents', 'log'] as const) for (const key of [...this.tables.maps[s].keys()]) this.tables.set(s, key, undefined);
      for (const r of rows.rows) this.tables.set(r.section, r.key, { v: r.v, rev: Number(r.rev), data: r.data }, r.text ?? undefined);
      this.revision = Number(rev.rows[0].value);
      this.recent = [];
    } finally {
      client.release();
    }
  }

  private async listen(): Promise<void> {
    const client = new this.pg.Client({ connectionString: this.opts.url });
    client.on('error', () => {});
    client.on('end', () => {
      if (this.listener === client) this.listener = null;
      if (!this.closed) {
        this.setProblem('database notification connection lost; reconnecting');
        this.relisten();
      }
    });
    client.on('notification', () => void this.catchUp().catch(() => {}));
    try {
      await client.connect();
      await client.query('LISTEN aip_events');
    } catch (err) {
      await client.end().catch(() => {});
      throw err;
    }
    this.listener = client;
    await this.catchUp();
  }

  /** Reconnects the LISTEN connection until it works (the database may be restarting). */
  private relisten(): void {
    const t = setTimeout(() => {
      if (this.closed || this.listener) return;
      this.listen().catch(() => this.relisten());
    }, 500);
    t.unref();
  }

  private setProblem(error: string): void {
    const first = this.problem === null;
    this.problem = { file: 'postgres', error, at: new Date().toISOString() };
    this.ready = false;
    if (first) {
      this.opts.logger.warn({ error }, 'database problem: not ready, writes refused until it recovers');
      this.emit('problem', this.problem);
    }
  }

  private clearProblem(): void {
    if (this.problem && this.listener) {
      this.opts.logger.info({ revision: this.revision }, 'database reachable again: ready');
      this.problem = null;
    }
    if (!this.problem && !this.closed) this.ready = true;
  }

  /** Applies every event after our revision, in order (never while one of our writes is in flight). */
  catchUp(): Promise<void> {
    return this.writes.run(() => this.catchUpLocked());
  }

  private catchUpLocked(): Promise<void> {
    this.catchingUp ??= (async () => {
      try {
        for (;;) {
          const res = await this.pool.query<EventRow>(
            'SELECT revision, ts_ns, changes, cause, checksum FROM aip_events WHERE revision > $1 ORDER BY revision LIMIT 1000',
            [this.revision],
          );
          for (const row of res.rows) this.applyEvent(row);
          if (res.rows.length < 1000) break;
        }
        this.fillChecksums();
        this.clearProblem();
      } catch (err) {
        this.setProblem(`database unreachable: ${(err as Error).message}`);
        throw err;
      } finally {
        this.catchingUp = null;
      }
    })();
    return this.catchingUp;
  }

  private applyEvent(row: EventRow): void {
    const revision = Number(row.revision);
    if (revision <= this.revision) return;
    if (revision !== this.revision + 1) throw new Error(`event gap: have ${this.revision}, got ${revision}`);
    // Every put of an event is at the event's revision (the writer could not know it beforehand).
    const changes = row.changes.map((c) => (c.op === 'put' && c.entry ? { ...c, entry: { ...c.entry, rev: revision } } : c));
    const prepared: PreparedChange = { revision, changes, texts: new Map() };
    const delta = this.applyPrepared(prepared, row.cause ?? undefined, row.ts_ns);
    if (row.checksum && delta.checksum !== row.checksum) {
      // Our copy diverged from another daemon's: report it and reload everything.
      this.emit('problem', { file: 'postgres', error: `checksum mismatch at revision ${revision}; reloading`, at: new Date().toISOString() });
      void this.writes.run(() => this.loadAll());
    }
    if (!row.checksum) this.checksumsToFill.push([revision, delta.checksum]);
    this.emit('commit', delta);
  }

  /** Stores the checksums we computed for events that had none (used by ?since= replays). */
  private fillChecksums(): void {
    if (this.checksumsToFill.length === 0) return;
    const rows = this.checksumsToFill.splice(0).map(([r, c]) => ({ r, c }));
    this.pool
      .query('UPDATE aip_events e SET checksum = x.c FROM json_to_recordset($1::json) AS x(r bigint, c text) WHERE e.revision = x.r AND e.checksum IS NULL', [
        JSON.stringify(rows),
      ])
      .catch(() => {});
  }

  /** Queues a change; the writer loop commits the queue in batches. */
  transact<T>(fn: TransactFn<T>, cause: ChangeCause): Promise<TransactResult<T>> {
    if (this.closed) return Promise.reject(new ApiError('not_ready', 'the daemon is shutting down'));
    const done = new Promise<TransactResult<T>>((resolve, reject) => {
      this.queue.push({ fn: fn, cause, resolve: resolve as (r: TransactResult<unknown>) => void, reject, attempts: 0 });
    });
    if (!this.draining) {
      this.draining = true;
      setImmediate(() => void this.drain());
    }
    this.lastDurable = done.then(
      () => {},
      () => {},
    );
    return done;
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, MAX_BATCH);
        await this.writes.run(() => this.commitBatch(batch));
      }
    } finally {
      this.draining = false;
    }
  }

  /** Decides every queued change against the cache (later ones see earlier ones), commits them in one call. */
  private async commitBatch(batch: Pending[]): Promise<void> {
    if (!this.ready) {
      await this.catchUpLocked().catch(() => {});
      if (!this.ready) {
        const err = new ApiError('not_ready', `the database is unreachable: ${this.problem?.error ?? 'not ready'}`);
        for (const p of batch) p.reject(err);
        return;
      }
    }
    // What the decisions below saw: the database refuses a path lease overlapping one written after it.
    const seen = this.revision;
    const overlay = new Map<string, Entry | null>();
    const view: ReadView = {
      get: (s, k) => {
        const o = overlay.get(s + '\0' + k);
        return o === undefined ? this.tables.get(s, k) : (o ?? undefined);
      },
      heldBy: (agent) => this.held.get(agent) ?? [],
      nextFencingToken: () => ++this.fencing,
      nextLogKey: () => String(this.logSeq++),
    };
    const items: Array<{ p: Pending; result: unknown; changes: RecordChange[]; texts: Map<number, string> }> = [];
    for (const p of batch) {
      let out: { changes: ProposedChange[]; result: unknown };
      try {
        out = p.fn(view);
      } catch (err) {
        p.reject(err as Error);
        continue;
      }
      const changes: RecordChange[] = [];
      const texts = new Map<number, string>();
      for (const c of out.changes) {
        const old = view.get(c.section, c.key);
        if (c.op === 'del') {
          if (old) changes.push({ section: c.section, key: c.key, op: 'del', expected: old.v } as RecordChange & { expected: number });
          continue;
        }
        const entry: Entry = { v: (old?.v ?? 0) + 1, rev: 0, data: c.data! };
        if (c.text !== undefined && c.text !== formatRecord(entry.data)) texts.set(changes.length, c.text);
        changes.push({ section: c.section, key: c.key, op: 'put', entry, expected: old?.v ?? 0 } as RecordChange & { expected: number });
      }
      if (changes.length === 0) {
        p.resolve({ result: out.result, revision: null, changes: [] });
        continue;
      }
      for (const c of changes) overlay.set(c.section + '\0' + c.key, c.op === 'put' ? c.entry! : null);
      items.push({ p, result: out.result, changes, texts });
    }
    if (items.length === 0) return;
    const payload = items.map((it) => ({
      ts: nowNs().toString(),
      seen,
      cause: it.p.cause ?? null,
      event: it.changes.map((c) =>
        c.op === 'put' ? { section: c.section, key: c.key, op: 'put', entry: c.entry } : { section: c.section, key: c.key, op: 'del' },
      ),
      changes: it.changes.map((c, i) => ({
        section: c.section,
        key: c.key,
        op: c.op,
        expected: (c as RecordChange & { expected: number }).expected,
        v: c.entry?.v,
        data: c.entry?.data,
        text: it.texts.get(i) ?? null,
      })),
    }));
    let revisions: Array<number | null>;
    try {
      const res = await this.pool.query<{ r: Array<string | number | null> }>('SELECT aip_commit_batch($1::json) AS r', [JSON.stringify(payload)]);
      revisions = res.rows[0].r.map((x) => (x === null ? null : Number(x)));
    } catch (err) {
      this.setProblem(`database write failed: ${(err as Error).message}`);
      // Unknown outcome at worst: not acknowledged; if it did commit, catch-up will show it.
      const e = new ApiError('not_ready', `the database did not confirm the write: ${(err as Error).message}`);
      for (const it of items) it.p.reject(e);
      return;
    }
    // Our events (and any other daemon's before them) are applied in revision order by the catch-up.
    await this.catchUpLocked().catch(() => {});
    const retry: Pending[] = [];
    items.forEach((it, i) => {
      const revision = revisions[i];
      if (revision === null) {
        if (++it.p.attempts >= 50) it.p.reject(new ApiError('not_ready', 'too much write contention between daemons; retry'));
        else retry.push(it.p); // another daemon changed a record (or leased an overlapping path) first: decide again on fresh state
        return;
      }
      const delta = this.recent.find((d) => d.revision === revision);
      it.p.resolve({ result: it.result, revision, changes: delta?.changes ?? [] });
    });
    if (retry.length) this.queue.unshift(...retry);
  }

  async replaySince(since: number): Promise<DeltaMessage[] | null> {
    const inMemory = this.deltasSince(since);
    if (inMemory) return inMemory;
    if (since < 0 || since > this.revision) return null;
    const upTo = this.revision;
    const res = await this.pool.query<EventRow>(
      'SELECT revision, ts_ns, changes, cause, checksum FROM aip_events WHERE revision > $1 AND revision <= $2 ORDER BY revision',
      [since, upTo],
    );
    if (res.rows.length !== upTo - since || res.rows.some((r) => !r.checksum)) return null;
    return res.rows.map((r) => ({
      type: 'delta',
      revision: Number(r.revision),
      changes: r.changes.map((c) => (c.op === 'put' && c.entry ? { ...c, entry: { ...c.entry, rev: Number(r.revision) } } : c)),
      timestamp_ns: r.ts_ns,
      checksum: r.checksum!,
      cause: r.cause ?? undefined,
    }));
  }

  problems(): StoreProblem[] {
    return this.problem ? [this.problem] : [];
  }

  durable(): Promise<void> {
    return this.lastDurable;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.poll) clearInterval(this.poll);
    while (this.draining || this.queue.length) await new Promise((r) => setTimeout(r, 5)); // finish what was accepted
    this.ready = false;
    await this.writes.run(async () => {});
    const l = this.listener;
    this.listener = null;
    await l?.end().catch(() => {});
    await this.pool?.end().catch(() => {});
  }
}
