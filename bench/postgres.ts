// Issue 8's figures, in one run: claims/s and p99 with two daemons on one local PostgreSQL, against
// a single file-store daemon, with the same 32 concurrent HTTP clients.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Section } from './report.js';
import { runLoad } from './claims.js';
import { spawnDaemon, type DaemonProcess } from './proc.js';
import { percentile } from './report.js';

const PG_URL = process.env.AI_PROCESSOR_TEST_PG ?? 'postgres://postgres:postgres@127.0.0.1:5432/postgres';
const CLIENTS = 32;
const PER_CLIENT = 150;

async function measure(urls: string[]): Promise<{ perSecond: number; p50: number; p99: number }> {
  // The clients are split between the daemons; each claims its own new items.
  const parts = await Promise.all(
    urls.map((url, u) =>
      runLoad(url, CLIENTS / urls.length, PER_CLIENT, '/api/coordination/claim', (c, i) => ({
        work_id: `pgb_${u}_${c}_${i}`,
        agent_id: `pgb_agent_${u}_${c}`,
      })),
    ),
  );
  const lat = parts.flatMap((p) => p.latenciesMs).sort((a, b) => a - b);
  const ops = parts.reduce((n, p) => n + p.ops, 0);
  const seconds = Math.max(...parts.map((p) => p.seconds));
  if (parts.some((p) => p.failures > 0)) throw new Error('claims failed during the PostgreSQL bench');
  return { perSecond: ops / seconds, p50: percentile(lat, 50), p99: percentile(lat, 99) };
}

export interface ScratchDatabase {
  url: string;
  /** Drops the database (closing what is still connected to it). */
  drop(): Promise<void>;
}

/** A fresh database on the local PostgreSQL for one run. Throws, saying so, when PostgreSQL is not reachable. */
export async function scratchDatabase(prefix: string): Promise<ScratchDatabase> {
  const admin = new pg.Client({ connectionString: PG_URL });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(`PostgreSQL not reachable at ${PG_URL.replace(/:[^:@/]*@/, ':***@')} (${(err as Error).message}); set AI_PROCESSOR_TEST_PG`, {
      cause: err,
    });
  }
  const db = `${prefix}_${Date.now()}`;
  await admin.query(`CREATE DATABASE ${db}`);
  const url = new URL(PG_URL);
  url.pathname = '/' + db;
  return {
    url: url.toString(),
    drop: async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => {});
      await admin.end();
    },
  };
}

export const postgresSection: Section = async (figures, log) => {
  let scratch: ScratchDatabase;
  try {
    scratch = await scratchDatabase('aip_bench');
  } catch (err) {
    log(`skipped: ${(err as Error).message}`);
    return;
  }
  const url = scratch.url;
  const daemons: DaemonProcess[] = [];
  try {
    const file = await spawnDaemon({ dataDir: mkdtempSync(path.join(os.tmpdir(), 'aip-bench-file-')), args: ['--lease-ms', '3600000'] });
    daemons.push(file);
    await runLoad(file.url, CLIENTS, 10, '/api/coordination/claim', (c, i) => ({ work_id: `warm_${c}_${i}`, agent_id: `w_${c}` }));
    const single = await measure([file.url]);
    await file.stop();
    for (let i = 0; i < 2; i++)
      daemons.push(
        await spawnDaemon({ dataDir: mkdtempSync(path.join(os.tmpdir(), 'aip-bench-pg-')), args: ['--store', url.toString(), '--lease-ms', '3600000'] }),
      );
    const pair = daemons.slice(1).map((d) => d.url);
    await runLoad(pair[0], CLIENTS, 10, '/api/coordination/claim', (c, i) => ({ work_id: `warm_${c}_${i}`, agent_id: `w_${c}` }));
    const two = await measure(pair);
    figures.push({ name: 'file_store_claims_per_s', value: single.perSecond, unit: 'ops/s', better: 'higher' });
    figures.push({ name: 'file_store_claim_p99_ms', value: single.p99, unit: 'ms', better: 'lower' });
    figures.push({ name: 'pg_2_daemons_claims_per_s', value: two.perSecond, unit: 'ops/s', better: 'higher' });
    figures.push({ name: 'pg_2_daemons_claim_p99_ms', value: two.p99, unit: 'ms', better: 'lower' });
    figures.push({ name: 'pg_vs_file_throughput_ratio', value: two.perSecond / single.perSecond, unit: 'x', better: 'higher' });
    log(
      `file store: ${single.perSecond.toFixed(0)} claims/s p99 ${single.p99.toFixed(1)} ms; 2 daemons on PostgreSQL: ${two.perSecond.toFixed(0)} claims/s p99 ${two.p99.toFixed(1)} ms`,
    );
  } finally {
    for (const d of daemons) await d.stop();
    await scratch.drop();
  }
};
