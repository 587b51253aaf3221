// Moving a data directory (file store, or a legacy agent_coordination/ folder) into PostgreSQL, or
// back, with nothing lost: every record with its exact text, every other file byte for byte.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { formatRecord, renderArray } from '../../shared/legacy-json.js';
import { SECTIONS, type Section } from '../../shared/types.js';
import { FileStore, META_DIR, VIEW_FILES } from './file-store.js';
import { migrate } from './pg-schema.js';
import { redactUrl } from './pg-store.js';
import { writeFileAtomic } from '../../io/fsutil.js';

const quiet = { info() {}, warn() {}, error() {} };

/** Files of the directory that are not the store's own: kept byte for byte. */
async function sideFiles(dir: string): Promise<string[]> {
  const own = new Set<string>(Object.values(VIEW_FILES));
  const names: string[] = [];
  for (const entry of await fsp.readdir(dir, { withFileTypes: true })) {
    if (!entry.isFile() || own.has(entry.name) || entry.name.startsWith('.') || entry.name.endsWith('.lock')) continue;
    names.push(entry.name);
  }
  return names.sort();
}

export async function dirToPg(dir: string, url: string, force = false): Promise<{ records: number; files: number; revision: number }> {
  const store = new FileStore({ dataDir: dir, logger: quiet, watch: false });
  await store.open(); // imports a legacy folder on first use; refuses if a daemon runs on it
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  try {
    await migrate(pool, quiet);
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const existing = await client.query<{ n: string }>('SELECT count(*) AS n FROM aip_records');
      if (Number(existing.rows[0].n) > 0 && !force)
        throw new Error(`${redactUrl(url)} already holds ${existing.rows[0].n} records; use --force to replace them`);
      await client.query('DELETE FROM aip_records; DELETE FROM aip_events; DELETE FROM aip_files');
      let records = 0;
      for (const section of SECTIONS) {
        const rows = [...store.tables.maps[section]].map(([key, slot]) => ({
          section,
          key,
          v: slot.v,
          rev: slot.rev,
          data: slot.data,
          // The exact text where it differs from our formatting (e.g. jq's 100.0).
          text: slot.t !== undefined && slot.t !== formatRecord(slot.data) ? slot.t : null,
        }));
        for (let i = 0; i < rows.length; i += 1000) {
          await client.query(
            `INSERT INTO aip_records (section, key, v, rev, data, text)
             SELECT x.section, x.key, x.v, x.rev, x.data, x.text FROM json_to_recordset($1::json) AS x(section text, key text, v integer, rev bigint, data json, text text)`,
            [JSON.stringify(rows.slice(i, i + 1000))],
          );
        }
        records += rows.length;
      }
      const files = await sideFiles(dir);
      for (const name of files) await client.query('INSERT INTO aip_files (name, content) VALUES ($1, $2)', [name, await fsp.readFile(path.join(dir, name))]);
      await client.query("UPDATE aip_meta SET value = $1 WHERE name = 'revision'", [store.revision]);
      await client.query('COMMIT');
      return { records, files: files.length, revision: store.revision };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  } finally {
    await pool.end();
    await store.close();
  }
}

export async function pgToDir(url: string, dir: string, force = false): Promise<{ records: number; files: number }> {
  await fsp.mkdir(dir, { recursive: true });
  const present = (await fsp.readdir(dir)).filter((n) => n !== META_DIR);
  if (present.length > 0 && !force) throw new Error(`${dir} is not empty; use --force to overwrite its files`);
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  try {
    const rows = await pool.query<{ section: Section; data: Record<string, never>; text: string | null }>(
      'SELECT section, data, text FROM aip_records ORDER BY ord',
    );
    const texts: Record<Section, string[]> = { work: [], agents: [], log: [] };
    for (const r of rows.rows) texts[r.section].push(r.text ?? formatRecord(r.data));
    for (const section of SECTIONS) await writeFileAtomic(path.join(dir, VIEW_FILES[section]), renderArray(texts[section]));
    const files = await pool.query<{ name: string; content: Buffer }>('SELECT name, content FROM aip_files ORDER BY name');
    for (const f of files.rows) await writeFileAtomic(path.join(dir, path.basename(f.name)), f.content);
    return { records: rows.rows.length, files: files.rows.length };
  } finally {
    await pool.end();
  }
}
