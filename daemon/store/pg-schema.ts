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
  {
    version: 3,
    sql: `
      -- The paths held, one row per lease: something for two daemons' path leases to conflict on
      -- (the leases themselves sit on different agents' records, so the version check alone lets two
      -- daemons grant overlapping paths to two agents). Derived from the agent records by a trigger,
      -- in the same transaction as the record, whoever writes it (a commit, migrate-store).
      -- rev: the revision that last changed the row's terms, so a daemon's decision can be checked
      -- against the rows it could not have seen.
      CREATE TABLE aip_path_leases (
        agent_id text NOT NULL,
        repo text NOT NULL,
        path text NOT NULL,
        mode text NOT NULL,
        -- What makes a lease wider when it changes (mode, checkout, work item, end, token).
        terms text NOT NULL,
        rev bigint NOT NULL,
        PRIMARY KEY (agent_id, repo, path)
      );
      CREATE INDEX aip_path_leases_fresh ON aip_path_leases (repo, rev);

      -- The well-formed leases of an agent record's path_leases. The daemons write a list of objects,
      -- read in one pass; a list with anything else in it (a hand edit migrated from files) is read
      -- element by element, skipping what the daemons skip.
      CREATE FUNCTION aip_lease_rows(p_data json) RETURNS TABLE (repo text, path text, mode text, terms text) LANGUAGE plpgsql IMMUTABLE AS $f$
      DECLARE
        list json := p_data->'path_leases';
        r_repo text[];
        r_path text[];
        r_mode text[];
        r_terms text[];
      BEGIN
        IF json_typeof(list) IS DISTINCT FROM 'array' THEN RETURN; END IF;
        BEGIN
          SELECT array_agg(x.repo), array_agg(x.path), array_agg(x.mode),
                 array_agg(concat_ws(E'\\x1f', x.mode, coalesce(x.worktree, ''), coalesce(x.work_id, ''), coalesce(x.expires_at, ''), coalesce(x.fencing_token, '')))
            INTO r_repo, r_path, r_mode, r_terms
            FROM json_to_recordset(list) AS x(repo text, path text, mode text, worktree text, work_id text, expires_at text, fencing_token text)
            WHERE x.repo IS NOT NULL AND x.path IS NOT NULL AND x.mode IN ('exclusive', 'shared');
        EXCEPTION WHEN others THEN
          SELECT array_agg(e->>'repo'), array_agg(e->>'path'), array_agg(e->>'mode'),
                 array_agg(concat_ws(E'\\x1f', e->>'mode', coalesce(e->>'worktree', ''), coalesce(e->>'work_id', ''), coalesce(e->>'expires_at', ''), coalesce(e->>'fencing_token', '')))
            INTO r_repo, r_path, r_mode, r_terms
            FROM json_array_elements(list) AS e
            WHERE json_typeof(e) = 'object' AND json_typeof(e->'repo') = 'string' AND json_typeof(e->'path') = 'string' AND e->>'mode' IN ('exclusive', 'shared');
        END;
        RETURN QUERY SELECT * FROM unnest(r_repo, r_path, r_mode, r_terms);
      END $f$;

      -- Keeps aip_path_leases in step with the agent records: only the leases that differ are
      -- written (new or changed ones at the record's revision), unchanged ones keep their rev.
      CREATE FUNCTION aip_sync_path_leases() RETURNS trigger LANGUAGE plpgsql AS $f$
      DECLARE
        d record;
      BEGIN
        IF TG_OP = 'DELETE' THEN
          IF OLD.section = 'agents' THEN DELETE FROM aip_path_leases WHERE agent_id = OLD.key; END IF;
          RETURN NULL;
        END IF;
        IF NEW.section <> 'agents' THEN RETURN NULL; END IF;
        IF TG_OP = 'UPDATE' AND (OLD.data->'path_leases')::text IS NOT DISTINCT FROM (NEW.data->'path_leases')::text THEN RETURN NULL; END IF;
        FOR d IN
          SELECT o.repo AS old_repo, o.path AS old_path, n.repo, n.path, n.mode, n.terms
          FROM (SELECT l.repo, l.path, l.terms FROM aip_path_leases l WHERE l.agent_id = NEW.key) o
          FULL JOIN (SELECT DISTINCT ON (r.repo, r.path) r.repo, r.path, r.mode, r.terms FROM aip_lease_rows(NEW.data) r) n
            ON o.repo = n.repo AND o.path = n.path
          WHERE o.terms IS DISTINCT FROM n.terms
        LOOP
          IF d.repo IS NULL THEN
            DELETE FROM aip_path_leases WHERE agent_id = NEW.key AND repo = d.old_repo AND path = d.old_path;
          ELSE
            INSERT INTO aip_path_leases (agent_id, repo, path, mode, terms, rev) VALUES (NEW.key, d.repo, d.path, d.mode, d.terms, NEW.rev)
            ON CONFLICT (agent_id, repo, path) DO UPDATE SET mode = EXCLUDED.mode, terms = EXCLUDED.terms, rev = EXCLUDED.rev;
          END IF;
        END LOOP;
        RETURN NULL;
      END $f$;
      CREATE TRIGGER aip_records_path_leases AFTER INSERT OR UPDATE OR DELETE ON aip_records
        FOR EACH ROW EXECUTE FUNCTION aip_sync_path_leases();

      -- A database from before this table: its rows from the records as they are.
      INSERT INTO aip_path_leases (agent_id, repo, path, mode, terms, rev)
        SELECT r.key, n.repo, n.path, n.mode, n.terms, r.rev FROM aip_records r, aip_lease_rows(r.data) n WHERE r.section = 'agents'
        ON CONFLICT (agent_id, repo, path) DO NOTHING;

      -- Would this agent record put lease a path that another agent's lease, written after the
      -- daemon's decision (revision p_seen) and before this batch (p_upto), overlaps? Only the
      -- leases new or changed by the put count; both shared never conflict. The daemon then
      -- catches up and decides again (a refusal naming the holder, or a grant on fresh state).
      CREATE FUNCTION aip_path_conflict(p_agent text, p_data json, p_seen bigint, p_upto bigint) RETURNS boolean LANGUAGE plpgsql STABLE AS $f$
      BEGIN
        RETURN EXISTS (
          WITH n AS MATERIALIZED (
            SELECT l.repo, l.path, l.mode FROM aip_lease_rows(p_data) l
            LEFT JOIN (SELECT s.repo, s.path, s.terms FROM aip_path_leases s WHERE s.agent_id = p_agent) s ON s.repo = l.repo AND s.path = l.path
            WHERE s.terms IS DISTINCT FROM l.terms
          )
          SELECT 1 FROM n
          JOIN aip_path_leases o ON o.repo = n.repo AND o.rev > p_seen AND o.rev <= p_upto AND o.agent_id <> p_agent
          WHERE (n.mode = 'exclusive' OR o.mode = 'exclusive')
            AND (o.path = n.path
                 OR (right(o.path, 1) = '/' AND left(n.path, length(o.path)) = o.path)
                 OR (right(n.path, 1) = '/' AND left(o.path, length(n.path)) = n.path))
        );
      END $f$;

      -- As in version 1, plus the check above for every item that says which revision it was decided at
      -- (all writers are serialized on the revision row, so the check and the write are one step).
      CREATE OR REPLACE FUNCTION aip_commit_batch(p_items json) RETURNS json LANGUAGE plpgsql AS $$
      DECLARE
        item json;
        ch json;
        cur bigint;
        upto bigint;
        found_v integer;
        found_leases text;
        ok boolean;
        any_ok boolean := false;
        results json[] := '{}';
      BEGIN
        SELECT value INTO cur FROM aip_meta WHERE name = 'revision' FOR UPDATE;
        upto := cur;
        FOR item IN SELECT * FROM json_array_elements(p_items) LOOP
          ok := true;
          FOR ch IN SELECT * FROM json_array_elements(item->'changes') LOOP
            found_v := NULL;
            found_leases := NULL;
            SELECT v, (data->'path_leases')::text INTO found_v, found_leases FROM aip_records WHERE section = ch->>'section' AND key = ch->>'key';
            IF coalesce(found_v, 0) <> (ch->>'expected')::integer
               OR (item->>'seen' IS NOT NULL AND ch->>'section' = 'agents' AND ch->>'op' = 'put'
                   AND found_leases IS DISTINCT FROM (ch->'data'->'path_leases')::text
                   AND aip_path_conflict(ch->>'key', ch->'data', (item->>'seen')::bigint, upto)) THEN
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
