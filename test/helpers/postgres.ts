// A real PostgreSQL for the scale-out tests: AI_PROCESSOR_TEST_PG (a URL to a server where we may
// create databases; .ci/run starts Debian's cluster and sets it). Missing: skip with a reason, or
// fail under REQUIRE_SYSTEM_TOOLS=1.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const PG_URL = process.env.AI_PROCESSOR_TEST_PG ?? 'postgres://postgres:postgres@127.0.0.1:5432/postgres';

/** True when the server answers; checked once, synchronously, at collection time. */
export function postgresAvailable(): boolean {
  try {
    execFileSync(
      process.execPath,
      [
        '-e',
        `const pg=require('pg');const c=new pg.Client(${JSON.stringify(PG_URL)});c.connect().then(()=>c.end()).then(()=>process.exit(0),()=>process.exit(1))`,
      ],
      { stdio: 'ignore', timeout: 5000 },
    );
    return true;
  } catch {
    const reason = `PostgreSQL not reachable at ${PG_URL.replace(/:[^:@/]*@/, ':***@')} (set AI_PROCESSOR_TEST_PG; .ci/run installs and starts Debian's postgresql)`;
    if (process.env.REQUIRE_SYSTEM_TOOLS === '1') throw new Error(`REQUIRE_SYSTEM_TOOLS=1 but ${reason}`);
    console.warn(`skipping: ${reason}`);
    return false;
  }
}

/** A fresh database for one test; returns its URL and a function that drops it. */
export async function createDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `aip_test_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(PG_URL);
  url.pathname = '/' + name;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export async function query<T extends pg.QueryResultRow = Record<string, unknown>>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}
