// The PostgreSQL schema, created and migrated by the daemon itself. Migrations are versioned and
// run under a transaction-scoped advisory lock, so two daemons starting at once do not race.
import type pg from 'pg';
import type { Logger } from './memory-state.js';

const MIGRATIONS: Array<{ version: number; sql: string }> = [
  {
    version: 1,
    sql: `
      CREATE TABLE aip_meta (name text PRIMARY KEY, value bigint NOT NULL);
      INSERT INTO aip_meta (name, value) VALUES ('revision', 0);
      -- json (not jsonb) keeps each record's key order; text keeps bytes that differ from our formatting.
      CREATE TABLE aip_records (
        section text NOT NULL,
        key text NOT NULL,
        ord bigserial NOT NULL,
        v integer NOT NULL,
        rev bigint NOT NULL,
        data json NOT NULL,
        text text,
        PRIMARY KEY (section, key)
      );
      CREATE TABLE aip_events (
        revision bigint PRIMARY KEY,
        ts_ns text NOT NULL,
        changes json NOT NULL,
        cause json,
        checksum text NOT NULL
      );
      -- One round trip per change: compare-and-set on the revision, records, event, wake-up.
      CREATE FUNCTION aip_commit(p_revision bigint, p_puts json, p_dels json, p_ts text, p_changes json, p_cause json, p_checksum text)
      RETURNS boolean LANGUAGE plpgsql AS $$
      DECLARE current bigint;
      BEGIN
        SELECT value INTO current FROM aip_meta WHERE name = 'revision' FOR UPDATE;
        IF current <> p_revision - 1 THEN
          RETURN false;
        END IF;
        INSERT INTO aip_records (section, key, v, rev, data, text)
          SELECT x.section, x.key, x.v, x.rev, x.data, x.text
          FROM json_to_recordset(p_puts) AS x(section text, key text, v integer, rev bigint, data json, text text)
        ON CONFLICT (section, key) DO UPDATE SET v = EXCLUDED.v, rev = EXCLUDED.rev, data = EXCLUDED.data, text = EXCLUDED.text;
        DELETE FROM aip_records r USING json_to_recordset(p_dels) AS d(section text, key text)
          WHERE r.section = d.section AND r.key = d.key;
        INSERT INTO aip_events (revision, ts_ns, changes, cause, checksum) VALUES (p_revision, p_ts, p_changes, p_cause, p_checksum);
        UPDATE aip_meta SET value = p_revision WHERE name = 'revision';
        PERFORM pg_notify('aip_events', p_revision::text);
        RETURN true;
      END $$;
    `,
  },
  {
    version: 2,
    sql: `
      -- The other files of a migrated data directory (telemetry_spans.jsonl, velocity_log.txt,
      -- backlog.json, ...), byte for byte, so migrate-store can give them back unchanged.
      CREATE TABLE aip_files (name text PRIMARY KEY, content bytea NOT NULL, migrated_at timestamptz NOT NULL DEFAULT now());
    `,
  },
];

export const SCHEMA_VERSION = MIGRATIONS.at(-1)!.version;

export async function migrate(pool: pg.Pool, logger: Logger): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query("SELECT pg_advisory_xact_lock(hashtext('ai-processor-schema'))");
    await client.query('CREATE TABLE IF NOT EXISTS aip_schema (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
    const done = new Set((await client.query<{ version: number }>('SELECT version FROM aip_schema')).rows.map((r) => r.version));
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      await client.query(m.sql);
      await client.query('INSERT INTO aip_schema (version) VALUES ($1)', [m.version]);
      logger.info({ version: m.version }, 'database schema migrated');
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}
