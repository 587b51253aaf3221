// Path leases on the PostgreSQL store with two daemons on one schema: a lease granted through one
// daemon holds against the other at once (not only after the other has caught up), separate OS
// processes claiming overlapping sets through both daemons never get an overlap granted (checked
// on every committed revision and on every 200 answer), ends through one daemon free the paths for
// the other, and a database from before the table of held paths gets it filled on migration.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { migrate } from '../daemon/store/pg-schema.js';
import { startDaemon, tempDir, type DaemonHandle } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';
import { createDatabase, postgresAvailable, query } from './helpers/postgres.js';
import { hookFixture, sessionIds } from './helpers/claude-code.js';

type Rec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- answers are read loosely

const HOOK = '/api/hooks/claude-code';
const ORIGIN = 'git@github.com:example/pgwebapp.git';

const available = postgresAvailable();
const daemons: DaemonHandle[] = [];
const drops: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const d of daemons.splice(0)) await d.stop();
});
afterAll(async () => {
  for (const drop of drops) await drop().catch(() => {});
});

async function pair(): Promise<{ url: string; a: DaemonHandle; b: DaemonHandle }> {
  const db = await createDatabase();
  drops.push(db.drop);
  const a = await startDaemon({ args: ['--store', db.url, '--lease-ms', '3600000'] });
  daemons.push(a);
  const b = await startDaemon({ args: ['--store', db.url, '--lease-ms', '3600000'] });
  daemons.push(b);
  return { url: db.url, a, b };
}

/** A git repository with an origin and a few files. */
function makeRepo(): string {
  const main = path.join(tempDir('aip-pgpaths-'), 'pgwebapp');
  mkdirSync(path.join(main, 'src', 'db'), { recursive: true });
  for (const f of ['src/a.ts', 'src/db/x.ts']) writeFileSync(path.join(main, f), `// ${f}\n`);
  const env = { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' };
  for (const args of [
    ['init', '-q', '-b', 'main'],
    ['remote', 'add', 'origin', ORIGIN],
    ['add', '.'],
    ['commit', '-q', '-m', 'init'],
  ])
    execFileSync('git', args, { cwd: main, env });
  return main;
}

const newSession = sessionIds('7b3d0000');

const fixture = (name: string): Rec => hookFixture(name);

/** Claude Code's recorded PreToolUse of an Edit, for `session` editing `file` in `cwd`. */
function editPayload(session: string, cwd: string, file: string): Rec {
  const base = fixture('PreToolUse.Edit');
  return { ...base, session_id: session, cwd, tool_input: { ...base.tool_input, file_path: file } };
}

async function edit(c: HttpClient, session: string, cwd: string, file: string): Promise<Rec> {
  const res = await c.post(HOOK, editPayload(session, cwd, file));
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body as Rec;
}

/** Two paths overlap: the same, or one a directory above the other. */
const overlap = (x: string, y: string) => x === y || (x.endsWith('/') && y.startsWith(x)) || (y.endsWith('/') && x.startsWith(y));

// Racing agents in a separate OS process: each claims its set through the two daemons in turn
// (starting at the given one), releases each grant through the daemon that granted it, and keeps its
// last grant; the agents of a process run at once, so each daemon decides several claims together.
const WORKER = `
const [prefix, agentsStr, urlsJson, setJson, iterStr, repo, offsetStr, startAt] = process.argv.slice(2);
const urls = JSON.parse(urlsJson);
const paths = JSON.parse(setJson);
const n = Number(iterStr);
const post = async (url, body) => {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, body: await r.json() };
};
async function agent(k) {
  const agent_id = prefix + '_' + k;
  const answers = [];
  for (let i = 0; i < n; i++) {
    const via = (i + k + Number(offsetStr)) % 2;
    const claim = await post(urls[via] + '/api/paths/claim', { agent_id, paths, repo });
    answers.push({ agent: agent_id, kind: 'claim', via, ...claim });
    if (claim.status === 200 && i < n - 1) answers.push({ agent: agent_id, kind: 'release', via, ...(await post(urls[via] + '/api/paths/release', { agent_id })) });
  }
  return answers;
}
while (Date.now() < Number(startAt)) await new Promise((r) => setTimeout(r, 2));
const all = await Promise.all(Array.from({ length: Number(agentsStr) }, (_, k) => agent(k)));
process.stdout.write(JSON.stringify(all.flat()));
`;

function runWorker(script: string, args: string[]): Promise<{ code: number | null; answers: Rec[]; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout.on('data', (c) => (out += c));
    proc.stderr.on('data', (c) => (err += c));
    proc.on('exit', (code) => resolve({ code, answers: out ? (JSON.parse(out) as Rec[]) : [], stderr: err }));
  });
}

/** The path leases of every agent after each committed revision, replayed from the events table. */
async function leaseHistory(url: string, repo: string): Promise<Map<number, Map<string, Array<{ path: string; fencing_token: number }>>>> {
  const events = await query<{ revision: string; changes: Rec[] }>(url, 'SELECT revision, changes FROM aip_events ORDER BY revision');
  const held = new Map<string, Array<{ path: string; fencing_token: number }>>();
  const out = new Map<number, Map<string, Array<{ path: string; fencing_token: number }>>>();
  for (const e of events) {
    for (const c of e.changes) {
      if (c.section !== 'agents') continue;
      const list = c.op === 'put' && Array.isArray(c.entry?.data?.path_leases) ? (c.entry.data.path_leases as Rec[]) : [];
      const mine = list.filter((l) => l.repo === repo).map((l) => ({ path: l.path as string, fencing_token: l.fencing_token as number }));
      if (mine.length) held.set(c.key as string, mine);
      else held.delete(c.key as string);
    }
    out.set(Number(e.revision), new Map(held));
  }
  return out;
}

describe.skipIf(!available)('path leases across two daemons on one PostgreSQL schema', () => {
  it('a lease granted through daemon A refuses an Edit announced through daemon B at once, naming the holder and its work item', async () => {
    const { a, b } = await pair();
    const main = makeRepo();
    const ca = new HttpClient(a.url);
    const cb = new HttpClient(b.url);
    try {
      // Each round: a directory lease through A, then straight away (B may not have caught up yet)
      // an edit of a file under it through B.
      for (let round = 0; round < 5; round++) {
        const holder = `pg_holder_${round}`;
        const editor = newSession();
        expect((await ca.post('/api/coordination/claim', { work_id: `pg_work_${round}`, agent_id: holder })).status).toBe(200);
        const claim = await ca.post('/api/paths/claim', { agent_id: holder, paths: ['src/db/'], repo: main, work_id: `pg_work_${round}` });
        expect(claim.status, JSON.stringify(claim.body)).toBe(200);
        const denied = await edit(cb, editor, main, path.join(main, 'src', 'db', 'x.ts'));
        expect(denied.hookSpecificOutput, JSON.stringify(denied)).toMatchObject({ hookEventName: 'PreToolUse', permissionDecision: 'deny' });
        expect(denied.hookSpecificOutput.permissionDecisionReason).toContain(holder);
        expect(denied.hookSpecificOutput.permissionDecisionReason).toContain(`pg_work_${round}`);
        // The refused session holds nothing, as both daemons see it.
        for (const c of [ca, cb]) expect((await c.get(`/api/paths?agent_id=cc_${editor}`)).body.leases).toEqual([]);
        expect((await ca.post('/api/paths/release', { agent_id: holder })).status).toBe(200);
      }
      // The other way round: an edit through B takes the file, a directory claim through A is refused.
      const s = newSession();
      expect(await edit(cb, s, main, path.join(main, 'src', 'a.ts'))).toEqual({});
      const refused = await ca.post('/api/paths/claim', { agent_id: 'pg_dir_taker', paths: ['src/'], repo: main });
      expect(refused.status).toBe(409);
      expect(refused.body.error).toBe('path_held');
      expect(refused.body.holders.map((h: Rec) => h.agent_id)).toEqual([`cc_${s}`]);
      expect((await ca.get('/api/paths?agent_id=pg_dir_taker')).body.leases).toEqual([]);
    } finally {
      ca.close();
      cb.close();
    }
  }, 120_000);

  it('separate OS processes claiming overlapping sets through both daemons in turn: no overlap is ever granted', async () => {
    const { url, a, b } = await pair();
    const R = 'git.example.com/team/pgrace';
    // Each set overlaps several others: directories over files, and shared files.
    const sets = [
      ['r/a/', 'r/f0.ts'],
      ['r/a/x.ts', 'r/f1.ts'],
      ['r/f0.ts', 'r/b/y.ts'],
      ['r/b/', 'r/f1.ts'],
      ['r/a/x.ts', 'r/b/y.ts'],
      ['r/f0.ts', 'r/f1.ts'],
    ];
    const dir = tempDir('aip-pgrace-');
    const script = path.join(dir, 'worker.mjs');
    writeFileSync(script, WORKER);
    const iterations = 6;
    const perProcess = 4;
    // Every process starts at the same moment, after all have loaded.
    const startAt = Date.now() + 2000;
    const runs = await Promise.all(
      sets.map((set, i) =>
        runWorker(script, [
          `race_${i}`,
          String(perProcess),
          JSON.stringify([a.url, b.url]),
          JSON.stringify(set),
          String(iterations),
          R,
          String(i % 2),
          String(startAt),
        ]).then((r) => ({ ...r, set })),
      ),
    );
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    const claims: Rec[] = runs.flatMap((r) => r.answers.filter((x) => x.kind === 'claim').map((x) => ({ ...x, set: r.set })));
    expect(claims).toHaveLength(sets.length * perProcess * iterations);
    for (const c of claims) {
      expect([200, 409], JSON.stringify(c.body)).toContain(c.status);
      if (c.status === 409) expect(c.body.error).toBe('path_held');
    }
    const granted = claims.filter((c) => c.status === 200);
    expect(granted.length).toBeGreaterThan(0);
    // Grants came through both daemons.
    expect(new Set(granted.map((c) => c.via)).size).toBe(2);
    for (const r of runs) for (const x of r.answers.filter((y) => y.kind === 'release')) expect(x.status, JSON.stringify(x.body)).toBe(200);

    // Every committed revision: no two agents hold overlapping paths.
    const history = await leaseHistory(url, R);
    for (const [revision, held] of history) {
      const all = [...held].flatMap(([agent, list]) => list.map((l) => ({ agent, path: l.path })));
      for (const x of all)
        for (const y of all)
          if (x.agent !== y.agent) expect(overlap(x.path, y.path), `revision ${revision}: ${x.agent}:${x.path} vs ${y.agent}:${y.path}`).toBe(false);
    }
    // Every 200 answer: at the revision it names, its agent holds exactly its set with the tokens it was given.
    for (const c of granted) {
      const at = history.get(c.body.revision as number)?.get(c.agent) ?? [];
      expect(at.map((l) => l.path).sort(), `${c.agent} at revision ${c.body.revision}`).toEqual([...c.set].sort());
      expect(at.map((l) => l.fencing_token).sort()).toEqual((c.body.leases as Rec[]).map((l) => l.fencing_token).sort());
    }
    // The final state, as both daemons see it once caught up: each last grant held, no overlap.
    const lastClaim = new Map(claims.map((c) => [c.agent as string, c]));
    const kept = [...lastClaim.values()]
      .filter((c) => c.status === 200)
      .flatMap((c) => (c.set as string[]).map((p) => `${c.agent}:${p}`))
      .sort();
    const revision = (await query<{ value: string }>(url, "SELECT value FROM aip_meta WHERE name = 'revision'")).map((r) => Number(r.value))[0];
    for (const d of [a, b]) {
      const c = new HttpClient(d.url);
      await expect.poll(async () => (await c.get('/api/coordination/status')).body.revision, { timeout: 15_000 }).toBe(revision);
      const list = (await c.get('/api/paths?prefix=r/')).body.leases as Array<{ agent_id: string; path: string }>;
      c.close();
      expect(list.map((l) => `${l.agent_id}:${l.path}`).sort()).toEqual(kept);
      for (const x of list) for (const y of list) if (x.agent_id !== y.agent_id) expect(overlap(x.path, y.path)).toBe(false);
    }
  }, 240_000);

  it('a release, a completed work item and a SessionEnd through one daemon let the other grant', async () => {
    const { a, b } = await pair();
    const main = makeRepo();
    const ca = new HttpClient(a.url);
    const cb = new HttpClient(b.url);
    const file = path.join(main, 'src', 'db', 'x.ts');
    const leasesOf = async (c: HttpClient, agent: string) => (await c.get(`/api/paths?agent_id=${agent}`)).body.leases as Rec[];
    try {
      // Released through A: B's edit is allowed once B sees the release.
      expect((await ca.post('/api/paths/claim', { agent_id: 'pg_rel', paths: ['src/db/'], repo: main })).status).toBe(200);
      const s1 = newSession();
      expect((await edit(cb, s1, main, file)).hookSpecificOutput?.permissionDecision).toBe('deny');
      expect((await ca.post('/api/paths/release', { agent_id: 'pg_rel' })).body.released).toHaveLength(1);
      await expect.poll(() => leasesOf(cb, 'pg_rel'), { timeout: 15_000 }).toEqual([]);
      expect(await edit(cb, s1, main, file)).toEqual({});
      await expect.poll(async () => (await leasesOf(ca, `cc_${s1}`)).map((l) => l.path), { timeout: 15_000 }).toEqual(['src/db/x.ts']);

      // The session's lease ends with its SessionEnd announced through A; B then grants the file to another.
      expect((await ca.post(HOOK, { ...fixture('SessionEnd'), session_id: s1, cwd: main })).status).toBe(200);
      await expect.poll(() => leasesOf(cb, `cc_${s1}`), { timeout: 15_000 }).toEqual([]);
      const claimB = await cb.post('/api/paths/claim', { agent_id: 'pg_after_end', paths: ['src/db/x.ts'], repo: main });
      expect(claimB.status, JSON.stringify(claimB.body)).toBe(200);

      // Tied to a work item completed through B: A grants once the lease has ended.
      expect((await cb.post('/api/coordination/claim', { work_id: 'pg_done', agent_id: 'pg_after_end' })).status).toBe(200);
      expect((await cb.post('/api/paths/claim', { agent_id: 'pg_after_end', paths: ['src/db/x.ts'], repo: main, work_id: 'pg_done' })).status).toBe(200);
      const blocked = await ca.post('/api/paths/claim', { agent_id: 'pg_next', paths: ['src/'], repo: main });
      expect(blocked.status).toBe(409);
      expect(blocked.body.holders.map((h: Rec) => h.agent_id)).toEqual(['pg_after_end']);
      expect((await cb.post('/api/coordination/complete', { work_id: 'pg_done', agent_id: 'pg_after_end' })).status).toBe(200);
      await expect
        .poll(async () => (await ca.post('/api/paths/claim', { agent_id: 'pg_next', paths: ['src/'], repo: main })).status, { timeout: 15_000 })
        .toBe(200);
      expect((await cb.get('/api/paths?agent_id=pg_next')).status).toBe(200);
    } finally {
      ca.close();
      cb.close();
    }
  }, 120_000);

  it('the table of held paths follows the agent records, and a database from before it gets it filled on migration', async () => {
    const { url, a } = await pair();
    const main = makeRepo();
    const ca = new HttpClient(a.url);
    try {
      expect((await ca.post('/api/paths/claim', { agent_id: 'pg_tab_1', paths: ['src/db/', 'README.md'], repo: main })).status).toBe(200);
      expect((await ca.post('/api/paths/claim', { agent_id: 'pg_tab_2', paths: ['lib/', 'src/a.ts'], repo: main, mode: 'shared' })).status).toBe(200);
      expect((await ca.post('/api/paths/claim', { agent_id: 'pg_tab_3', paths: ['src/a.ts'], repo: main, mode: 'shared' })).status).toBe(200);
      expect((await ca.post('/api/paths/release', { agent_id: 'pg_tab_2', paths: ['lib/'], repo: main })).status).toBe(200);
      const s = newSession();
      expect(await edit(ca, s, main, path.join(main, 'src', 'b.ts'))).toEqual({});
    } finally {
      ca.close();
    }
    const fromRecords = async () =>
      (await query<{ key: string; data: Rec }>(url, "SELECT key, data FROM aip_records WHERE section = 'agents'"))
        .flatMap((r) => ((r.data.path_leases as Rec[] | undefined) ?? []).map((l) => `${r.key} ${l.repo} ${l.path} ${l.mode}`))
        .sort();
    const table = async () =>
      (await query<{ row: string }>(url, "SELECT agent_id || ' ' || repo || ' ' || path || ' ' || mode AS row FROM aip_path_leases")).map((r) => r.row).sort();
    const expected = await fromRecords();
    expect(expected).toHaveLength(5);
    expect(await table()).toEqual(expected);

    // A database from before the table: the daemons stopped, what migration 3 adds taken away.
    for (const d of daemons.splice(0)) expect(await d.stop()).toBe(0);
    await query(
      url,
      `DROP TRIGGER aip_records_path_leases ON aip_records; DROP TABLE aip_path_leases;
       DROP FUNCTION aip_path_conflict(text, json, bigint, bigint); DROP FUNCTION aip_sync_path_leases(); DROP FUNCTION aip_lease_rows(json);
       DELETE FROM aip_schema WHERE version = 3`,
    );
    // A hand-edited record from a migrated data directory: a malformed entry beside a lease (skipped, as the daemons skip it).
    const hand = {
      agent_id: 'pg_hand',
      path_leases: [1, { repo: 'github.com/example/pgwebapp', path: 'docs/', mode: 'exclusive', fencing_token: 1, since: '' }],
    };
    await query(url, "INSERT INTO aip_records (section, key, v, rev, data) VALUES ('agents', 'pg_hand', 1, 1, $1::json)", [JSON.stringify(hand)]);
    expected.push('pg_hand github.com/example/pgwebapp docs/ exclusive');
    expected.sort();
    const again = await startDaemon({ args: ['--store', url, '--lease-ms', '3600000'] });
    daemons.push(again);
    expect(again.logs.filter((l) => l.includes('database schema migrated')).map((l) => (JSON.parse(l) as { version: number }).version)).toEqual([3]);
    expect(await table()).toEqual(expected);
    // And it holds: an overlapping claim is refused, naming the holder.
    const c = new HttpClient(again.url);
    const refused = await c.post('/api/paths/claim', { agent_id: 'pg_tab_4', paths: ['src/db/x.ts'], repo: main });
    c.close();
    expect(refused.status).toBe(409);
    expect(refused.body.holders.map((h: Rec) => h.agent_id)).toEqual(['pg_tab_1']);
  }, 120_000);

  it("the database refuses a put that leases a path overlapping another agent's lease written after the put's decision", async () => {
    const db = await createDatabase();
    drops.push(db.drop);
    const pool = new pg.Pool({ connectionString: db.url, max: 1 });
    const quiet = { info() {}, warn() {}, error() {}, debug() {} };
    try {
      await migrate(pool, quiet);
      const versions = new Map<string, number>();
      /** One agent record put through the commit function, as a daemon sends it (seen: the revision it decided at). */
      const put = async (agent: string, leases: Rec[], seen?: number, extra: Rec = {}) => {
        const v = versions.get(agent) ?? 0;
        const data = { agent_id: agent, ...extra, path_leases: leases };
        const item: Rec = { ts: '1', cause: null, event: [], changes: [{ section: 'agents', key: agent, op: 'put', expected: v, v: v + 1, data, text: null }] };
        if (seen !== undefined) item.seen = seen;
        const res = await pool.query<{ r: Array<number | null> }>('SELECT aip_commit_batch($1::json) AS r', [JSON.stringify([item])]);
        const revision = res.rows[0].r[0];
        if (revision !== null) versions.set(agent, v + 1);
        return revision === null ? null : Number(revision);
      };
      const lease = (p: string, mode = 'exclusive', token = 1) => ({ repo: 'r', path: p, mode, fencing_token: token, since: '2026-01-01T00:00:00Z' });
      expect(await put('x', [lease('src/db/')], 0)).toBe(1);
      // Decided at revision 0, before x's directory lease: refused, whatever the depth of the overlap.
      expect(await put('y', [lease('src/db/x.ts')], 0)).toBeNull();
      expect(await put('y', [lease('src/')], 0)).toBeNull();
      expect(await put('y', [lease('src/db/')], 0)).toBeNull();
      // Not overlapping, or both shared, or decided after it: the database lets the daemon's decision stand.
      expect(await put('y', [lease('src/dbx.ts'), lease('lib/')], 0)).toBe(2);
      expect(await put('s1', [lease('docs/', 'shared')], 2)).toBe(3);
      expect(await put('s2', [lease('docs/a.md', 'shared')], 2)).toBe(4);
      expect(await put('s3', [lease('docs/a.md')], 2)).toBeNull();
      expect(await put('z', [lease('src/db/x.ts')], 1)).toBe(5);
      // Leases the agent already held do not count again (nor change their row): x's directory over
      // z's fresh file lease, in a put of x decided long ago that changes something else, passes.
      expect(await put('x', [lease('src/db/')], 0, { status: 'busy' })).toBe(6);
      // A changed lease counts as new (here: a wider mode over s2's fresh shared lease).
      expect(await put('s1', [lease('docs/', 'exclusive')], 3)).toBeNull();
      // A writer that does not say what it saw (a daemon from before this check) is not checked.
      expect(await put('w', [lease('src/db/x.ts')])).toBe(7);
      const rows = await query<{ agent_id: string; path: string; rev: string }>(
        db.url,
        'SELECT agent_id, path, rev FROM aip_path_leases ORDER BY agent_id, path',
      );
      expect(rows.map((r) => `${r.agent_id} ${r.path} ${r.rev}`)).toEqual([
        's1 docs/ 3',
        's2 docs/a.md 4',
        'w src/db/x.ts 7',
        'x src/db/ 1',
        'y lib/ 2',
        'y src/dbx.ts 2',
        'z src/db/x.ts 5',
      ]);
    } finally {
      await pool.end();
    }
  });
});
