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
        -- State checksum after the event; computed by the daemons as they apply it (filled lazily).
        checksum text
      );
      -- Group commit: a batch of changes in one transaction (one fsync). Each change is a
      -- compare-and-set on the versions of the records it touches; writers are serialized on the
      -- revision row, so revisions are gap-free. Returns, per change, its revision or null (conflict).
      CREATE FUNCTION aip_commit_batch(p_items json) RETURNS json LANGUAGE plpgsql AS $$
      DECLARE
        item json;
        ch json;
        cur bigint;
        found_v integer;
        ok boolean;
        any_ok boolean := false;
        results json[] := '{}';
      BEGIN
        SELECT value INTO cur FROM aip_meta WHERE name = 'revision' FOR UPDATE;
        FOR item IN SELECT * FROM json_array_elements(p_items) LOOP
          ok := true;
          FOR ch IN SELECT * FROM json_array_elements(item->'changes') LOOP
            found_v := NULL;
            SELECT v INTO found_v FROM aip_records WHERE section = ch->>'section' AND key = ch->>'key';
            IF coalesce(found_v, 0) <> (ch->>'expected')::integer THEN
              ok := false;
              EXIT;
            END IF;
          END LOOP;
          IF NOT ok THEN
            results := results || 'null'::json;
            CONTINUE;
          END IF;
          cur := cur + 1;
          FOR ch IN SELECT * FROM json_array_elements(item->'changes') LOOP
            IF ch->>'op' = 'del' THEN
              DELETE FROM aip_records WHERE section = ch->>'section' AND key = ch->>'key';
            ELSE
              INSERT INTO aip_records (section, key, v, rev, data, text)
                VALUES (ch->>'section', ch->>'key', (ch->>'v')::integer, cur, ch->'data', ch->>'text')
              ON CONFLICT (section, key) DO UPDATE SET v = EXCLUDED.v, rev = EXCLUDED.rev, data = EXCLUDED.data, text = EXCLUDED.text;
            END IF;
          END LOOP;
          INSERT INTO aip_events (revision, ts_ns, changes, cause) VALUES (cur, item->>'ts', item->'event', item->'cause');
          results := results || to_json(cur);
          any_ok := true;
        END LOOP;
        IF any_ok THEN
          UPDATE aip_meta SET value = cur WHERE name = 'revision';
          PERFORM pg_notify('aip_events', cur::text);
        END IF;
        RETURN to_json(results);
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
