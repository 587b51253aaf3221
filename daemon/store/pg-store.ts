// The PostgreSQL store: several daemons, one fleet. The database holds the records and an events
// table whose gap-free revision is assigned in the same transaction as the change (one counter row,
// locked FOR UPDATE, serializes writers). Each daemon keeps the same in-memory state as the file
// store, catches up with `WHERE revision > last_seen` (NOTIFY is only a wake-up, a poll is the
// safety net), and commits by compare-and-set on the revision: a daemon that is behind catches up
// and re-decides, so a claim has exactly one winner across all daemons.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { entryDigest } from '../../shared/checksum.js';
import { nowNs } from '../../shared/ids.js';
import type { DeltaMessage } from '../../shared/protocol.js';
import type { ChangeCause, Entry, RecordChange, Section } from '../../shared/types.js';
import { ApiError } from '../errors.js';
import { MemoryState, type CoordinationStore, type Logger, type PreparedChange, type StoreProblem, type TransactFn, type TransactResult } from './memory-state.js';
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
  checksum: string;
}

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
  private pool: pg.Pool;
  private listener: pg.Client | null = null;
  private writes = new Mutex();
  private catchingUp: Promise<void> | null = null;
  private poll: NodeJS.Timeout | null = null;
  private closed = false;
  private problem: StoreProblem | null = null;
  private lastDurable: Promise<void> = Promise.resolve();

  constructor(private opts: PgStoreOptions) {
    super(opts.recentDeltas);
    this.dataDir = opts.dataDir;
    this.metaDir = path.join(opts.dataDir, '.ai-processor');
    this.pool = new pg.Pool({ connectionString: opts.url, max: opts.poolSize ?? 4, connectionTimeoutMillis: 3000 });
    this.pool.on('error', (err) => this.setProblem(`database connection lost: ${err.message}`));
  }

  async open(): Promise<void> {
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
      const rows = await client.query<{ section: Section; key: string; v: number; rev: string; data: Entry['data']; text: string | null }>('SELECT section, key, v, rev, data, text FROM aip_records ORDER BY ord');
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
    const client = new pg.Client({ connectionString: this.opts.url });
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
          const res = await this.pool.query<EventRow>('SELECT revision, ts_ns, changes, cause, checksum FROM aip_events WHERE revision > $1 ORDER BY revision LIMIT 1000', [this.revision]);
          for (const row of res.rows) this.applyEvent(row);
          if (res.rows.length < 1000) break;
        }
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
    const prepared: PreparedChange = { revision, changes: row.changes, texts: new Map(), slotTexts: new Map() };
    const delta = this.applyPrepared(prepared, row.cause ?? undefined, row.ts_ns);
    if (delta.checksum !== row.checksum) {
      // Our copy diverged from the writer's: count it and reload everything.
      this.emit('problem', { file: 'postgres', error: `checksum mismatch at revision ${revision}; reloading`, at: new Date().toISOString() });
      void this.writes.run(() => this.loadAll());
    }
    this.emit('commit', delta);
  }

  /** The checksum the state will have after `p`, computed without applying it. */
  private checksumAfter(p: PreparedChange): string {
    const digest = this.tables.digest.clone();
    for (const c of p.changes) {
      const old = this.tables.slot(c.section, c.key);
      if (old) digest.remove(old.d);
      if (c.op === 'put' && c.entry) digest.add(entryDigest(c.section, c.key, c.entry));
    }
    return digest.hex();
  }

  async transact<T>(fn: TransactFn<T>, cause: ChangeCause): Promise<TransactResult<T>> {
    if (this.closed) throw new ApiError('not_ready', 'the daemon is shutting down');
    const run = this.writes.run(async () => {
      for (let attempt = 0; attempt < 50; attempt++) {
        if (!this.ready) {
          await this.catchUpLocked().catch(() => {});
          if (!this.ready) throw new ApiError('not_ready', `the database is unreachable: ${this.problem?.error ?? 'not ready'}`);
        }
        const { changes, result } = fn(this.readView());
        const prepared = this.prepare(changes);
        if (!prepared) return { result, revision: null, changes: [] };
        const ts = nowNs().toString();
        const checksum = this.checksumAfter(prepared);
        let committed: boolean;
        try {
          committed = await this.commit(prepared, cause, ts, checksum);
        } catch (err) {
          this.setProblem(`database write failed: ${(err as Error).message}`);
          // Unknown outcome at worst: not acknowledged; if it did commit, catch-up will show it.
          throw new ApiError('not_ready', `the database did not confirm the write: ${(err as Error).message}`);
        }
        if (committed) {
          // Another daemon's events may have been applied meanwhile only if they came first; we hold the revision now.
          const delta = this.applyPrepared(prepared, cause, ts, checksum);
          this.emit('commit', delta);
          return { result, revision: delta.revision, changes: delta.changes };
        }
        await this.catchUpLocked(); // another daemon wrote first: catch up and decide again
      }
      throw new ApiError('not_ready', 'too much write contention between daemons; retry');
    });
    this.lastDurable = run.then(() => {}, () => {});
    return run;
  }

  /** One round trip: the aip_commit function checks the revision, writes records, event, NOTIFY. */
  private async commit(p: PreparedChange, cause: ChangeCause, ts: string, checksum: string): Promise<boolean> {
    const puts = p.changes
      .map((c, i) => (c.op === 'put' && c.entry ? { section: c.section, key: c.key, v: c.entry.v, rev: p.revision, data: c.entry.data, text: p.texts.get(i) ?? null } : null))
      .filter((x) => x !== null);
    const dels = p.changes.filter((c) => c.op === 'del').map((c) => ({ section: c.section, key: c.key }));
    const res = await this.pool.query<{ ok: boolean }>('SELECT aip_commit($1, $2::json, $3::json, $4, $5::json, $6::json, $7) AS ok', [
      p.revision,
      JSON.stringify(puts),
      JSON.stringify(dels),
      ts,
      JSON.stringify(p.changes),
      JSON.stringify(cause ?? null),
      checksum,
    ]);
    return res.rows[0].ok;
  }

  async replaySince(since: number): Promise<DeltaMessage[] | null> {
    const inMemory = this.deltasSince(since);
    if (inMemory) return inMemory;
    if (since < 0 || since > this.revision) return null;
    const upTo = this.revision;
    const res = await this.pool.query<EventRow>('SELECT revision, ts_ns, changes, cause, checksum FROM aip_events WHERE revision > $1 AND revision <= $2 ORDER BY revision', [since, upTo]);
    if (res.rows.length !== upTo - since) return null;
    return res.rows.map((r) => ({ type: 'delta', revision: Number(r.revision), changes: r.changes, timestamp_ns: r.ts_ns, checksum: r.checksum, cause: r.cause ?? undefined }));
  }

  problems(): StoreProblem[] {
    return this.problem ? [this.problem] : [];
  }

  durable(): Promise<void> {
    return this.lastDurable;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.ready = false;
    if (this.poll) clearInterval(this.poll);
    await this.writes.run(async () => {});
    const l = this.listener;
    this.listener = null;
    await l?.end().catch(() => {});
    await this.pool.end().catch(() => {});
  }
}
