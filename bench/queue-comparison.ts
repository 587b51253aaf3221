// Issue 20's comparison with a queue users know, in one run on this machine: graphile-worker's
// unbatched job hand-out on the local PostgreSQL, as its perfTest runs it (worker processes of 24
// concurrent jobs, trivial jobs queued by one add_jobs call, jobs/s = jobs / (time to drain the
// queue - time to start and stop a worker on an empty one)), beside ai-processor handing out as
// many items with claim-next to 32 clients, each completing what it got before asking again, on the
// file store and on the PostgreSQL store. Each side counts items handed out and completed. The
// sides take turns, in rounds, so that a change in the machine's load falls on all of them.
// The section fails when PostgreSQL is not reachable: without it there is nothing to compare with.
//   AIP_BENCH_QUEUE_ITEMS=200000   items per side in all (graphile-worker's published job count; the default keeps the section short)
//   AIP_BENCH_QUEUE_ROUNDS=3       turns per side
//   AIP_BENCH_QUEUE_PG_STORE=0     skip ai-processor on the PostgreSQL store
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { HttpClient } from './http.js';
import { LoadConnection } from './load-client.js';
import { scratchDatabase } from './postgres.js';
import { cleanEnv, spawnDaemon } from './proc.js';
import { percentile, type Section } from './report.js';

const ITEMS = Number(process.env.AIP_BENCH_QUEUE_ITEMS ?? 10_000);
const ROUNDS = Number(process.env.AIP_BENCH_QUEUE_ROUNDS ?? 3);
const PER_ROUND = Math.ceil(ITEMS / ROUNDS);
const PG_STORE = process.env.AIP_BENCH_QUEUE_PG_STORE !== '0';
/** graphile-worker's perfTest: PARALLELISM processes, each with CONCURRENT_JOBS and a pool one larger. */
const GW_PROCESSES = 4;
const GW_CONCURRENT_JOBS = 24;
const GW_POOL = GW_CONCURRENT_JOBS + 1;
/** Connections left for everything else on the server (the bench's own, other clients). */
const SPARE_CONNECTIONS = 5;
const CLIENTS = 32;
/**
 * Items handed out before measuring (6,400 requests, the claims section's warm-up): with 1,000 the
 * first measured round on the file store still ran at a fraction of the later ones' speed (JIT).
 */
const WARM_ITEMS = 3200;
/** Items per POST /api/work/batch while queueing. */
const BATCH = 1000;
const TASK = 'noop';
const WORKER_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'graphile-worker-once.js');

interface WorkerRun {
  /** Wall time of the process, spawn to exit. */
  ms: number;
  /** What the process reports (`once`): jobs run, first job's start, its end (epoch ms). */
  jobs: number;
  first_ms: number | null;
  end_ms: number;
}

/** Runs the graphile-worker child; rejects with its stderr if it fails. */
function graphileWorker(mode: 'migrate' | 'once', url: string): Promise<WorkerRun> {
  const t0 = performance.now();
  // As perfTest runs it: stdout (its log) ignored, success logging off; its result comes on fd 3.
  const child = spawn(process.execPath, [WORKER_SCRIPT, mode, url, TASK, String(GW_CONCURRENT_JOBS), String(GW_POOL)], {
    cwd: os.tmpdir(),
    env: cleanEnv({ NO_LOG_SUCCESS: '1' }),
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let result = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdio[3]!.on('data', (c: Buffer) => (result += c.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`graphile-worker ${mode} exited with ${code}:\n${stderr}`));
      const ms = performance.now() - t0;
      resolve({ ms, jobs: 0, first_ms: null, end_ms: NaN, ...(result ? (JSON.parse(result) as Partial<WorkerRun>) : {}) });
    });
  });
}

/**
 * As many of perfTest's processes as the server's connections allow, at most its 4: their pools
 * (4 x 25) alone fill PostgreSQL's default max_connections of 100.
 */
async function gwProcesses(client: pg.Client): Promise<number> {
  const q = await client.query<{ free: number }>(
    `select current_setting('max_connections')::int - count(*)::int as free from pg_stat_activity where backend_type = 'client backend'`,
  );
  const n = Math.min(GW_PROCESSES, Math.floor((q.rows[0].free - SPARE_CONNECTIONS) / GW_POOL));
  if (n < 1) throw new Error(`PostgreSQL has ${q.rows[0].free} free connections: graphile-worker needs ${GW_POOL} + ${SPARE_CONNECTIONS}`);
  return n;
}

/** graphile-worker on a fresh database: its schema installed, its processes' startup timed. */
async function graphileWorkerSetup(log: (m: string) => void) {
  const db = await scratchDatabase('aip_bench_gw');
  const client = new pg.Client({ connectionString: db.url });
  const close = async () => {
    await client.end().catch(() => {});
    await db.drop();
  };
  let processes: number, startup: WorkerRun;
  try {
    await client.connect();
    processes = await gwProcesses(client);
    await graphileWorker('migrate', db.url);
    startup = await graphileWorker('once', db.url);
  } catch (err) {
    await close();
    throw err;
  }
  log(`graphile-worker: ${processes} processes x ${GW_CONCURRENT_JOBS} jobs; startup and shutdown on an empty queue ${startup.ms.toFixed(0)} ms`);
  return {
    startupMs: startup.ms,
    /** Queues `n` jobs, drains them; the time to drain (perfTest's) and from the first job's start to the last process done. */
    round: async (n: number): Promise<{ ms: number; windowMs: number }> => {
      const jobs = JSON.stringify(Array.from({ length: n }, (_, i) => ({ identifier: TASK, payload: { id: i } })));
      await client.query('select 1 from graphile_worker.add_jobs(array(select json_populate_recordset(null::graphile_worker.job_spec, $1::json)))', [jobs]);
      const t0 = performance.now();
      const runs = await Promise.all(Array.from({ length: processes }, () => graphileWorker('once', db.url)));
      const ms = performance.now() - t0;
      const left = Number((await client.query('select count(*) as n from graphile_worker.jobs')).rows[0].n);
      const ran = runs.reduce((sum, r) => sum + r.jobs, 0);
      if (left !== 0 || ran !== n) throw new Error(`graphile-worker ran ${ran} of ${n} jobs and left ${left} in its queue`);
      const first = Math.min(...runs.map((r) => r.first_ms ?? Infinity));
      return { ms, windowMs: Math.max(...runs.map((r) => r.end_ms)) - first };
    },
    close,
  };
}

async function queue(http: HttpClient, prefix: string, n: number): Promise<void> {
  for (let from = 0; from < n; from += BATCH) {
    const items = Array.from({ length: Math.min(BATCH, n - from) }, (_, i) => ({ work_id: `${prefix}_${from + i}`, work_type: TASK }));
    const r = await http.post('/api/work/batch', { items });
    if (r.status !== 201) throw new Error(`batch refused: ${r.status} ${JSON.stringify(r.body)}`);
  }
}

interface Drained {
  items: number;
  seconds: number;
  claimMs: number[];
}

/** `CLIENTS` agents, each on its own connection: claim-next, complete it, again, until claim-next answers 204. */
async function drain(url: string): Promise<Drained> {
  const pool = await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      const c = new LoadConnection(url);
      await c.connect();
      return c;
    }),
  );
  const handedOut = new Set<string>();
  const claimMs: number[] = [];
  const started = performance.now();
  await Promise.all(
    pool.map(async (conn, c) => {
      const agent_id = `queue_agent_${c}`;
      for (;;) {
        const t0 = performance.now();
        const next = await conn.post('/api/coordination/claim-next', { agent_id });
        claimMs.push(performance.now() - t0);
        if (next.status === 204) return;
        if (next.status !== 200) throw new Error(`claim-next answered ${next.status}: ${next.body.toString()}`);
        const { work_id, claim } = JSON.parse(next.body.toString()) as { work_id: string; claim: { fencing_token?: number } };
        if (handedOut.has(work_id)) throw new Error(`${work_id} handed out twice`);
        handedOut.add(work_id);
        const done = await conn.post('/api/coordination/complete', { work_id, agent_id, fencing_token: claim.fencing_token });
        if (done.status !== 200) throw new Error(`complete answered ${done.status}: ${done.body.toString()}`);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  pool.forEach((p) => p.close());
  return { items: handedOut.size, seconds, claimMs };
}

/** A warmed-up daemon on a store (`args`); each round queues `n` items and hands them all out. */
async function aiProcessorSetup(args: string[]) {
  const d = await spawnDaemon({ dataDir: mkdtempSync(path.join(os.tmpdir(), 'aip-bench-queue-')), args: ['--lease-ms', '3600000', ...args] });
  const http = new HttpClient(d.url);
  let rounds = 0;
  const round = async (n: number): Promise<Drained> => {
    const prefix = `r${rounds++}`;
    await queue(http, prefix, n);
    const r = await drain(d.url);
    if (r.items !== n) throw new Error(`handed out ${r.items} of ${n} items`);
    return r;
  };
  const close = async () => {
    http.close();
    await d.stop();
  };
  try {
    await round(WARM_ITEMS);
  } catch (err) {
    await close();
    throw err;
  }
  return { round, close };
}

export const queueComparisonSection: Section = async (figures, log) => {
  const closers: Array<() => Promise<void>> = [];
  try {
    const gw = await graphileWorkerSetup(log);
    closers.push(gw.close);
    const stores: Array<{ name: string; round: (n: number) => Promise<Drained>; runs: Drained[] }> = [];
    const file = await aiProcessorSetup([]);
    closers.push(file.close);
    stores.push({ name: 'file', round: file.round, runs: [] });
    if (PG_STORE) {
      const db = await scratchDatabase('aip_bench_queue');
      closers.push(() => db.drop());
      const onPg = await aiProcessorSetup(['--store', db.url]);
      closers.push(onPg.close);
      stores.push({ name: 'pg', round: onPg.round, runs: [] });
    }
    let gwMs = 0;
    let gwWindowMs = 0;
    for (let r = 0; r < ROUNDS; r++) {
      const g = await gw.round(PER_ROUND);
      gwMs += g.ms;
      gwWindowMs += g.windowMs;
      const line = [`round ${r + 1}/${ROUNDS}, ${PER_ROUND} items each: graphile-worker ${((PER_ROUND / g.windowMs) * 1000).toFixed(0)}/s`];
      for (const s of stores) {
        const d = await s.round(PER_ROUND);
        s.runs.push(d);
        line.push(`${s.name} store ${(d.items / d.seconds).toFixed(0)}/s`);
      }
      log(line.join(', '));
    }
    const total = PER_ROUND * ROUNDS;
    const gwWindow = total / (gwWindowMs / 1000);
    const gwPerfTest = total / ((gwMs - ROUNDS * gw.startupMs) / 1000);
    figures.push({ name: 'queue_graphile_worker_unbatched_items_per_s', value: gwWindow, unit: 'items/s', better: 'higher' });
    figures.push({ name: 'queue_graphile_worker_unbatched_perftest_items_per_s', value: gwPerfTest, unit: 'items/s', better: 'higher' });
    // The ratios are against the better of the two: the target is to beat graphile-worker however it is counted.
    const gwBest = Math.max(gwWindow, gwPerfTest);
    for (const s of stores) {
      const rate = total / s.runs.reduce((sum, d) => sum + d.seconds, 0);
      const claimMs = s.runs.flatMap((d) => d.claimMs).sort((a, b) => a - b);
      figures.push({ name: `queue_claim_next_${s.name}_items_per_s`, value: rate, unit: 'items/s', better: 'higher' });
      figures.push({ name: `queue_claim_next_${s.name}_p50_ms`, value: percentile(claimMs, 50), unit: 'ms', better: 'lower' });
      figures.push({ name: `queue_claim_next_${s.name}_over_graphile_worker`, value: rate / gwBest, unit: 'x', target: 1, better: 'higher' });
    }
  } finally {
    for (const close of closers.reverse()) await close();
  }
};
