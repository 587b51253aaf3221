// Scale-out on PostgreSQL: several daemons, one database, one fleet. All in one file so that the
// test that restarts the database server does not disturb others.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { StreamClient } from '../client/stream-client.js';
import { copyReference, REFERENCE, runCli, startDaemon, tempDir, type DaemonHandle } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';
import { createDatabase, postgresAvailable, query } from './helpers/postgres.js';
import { requireTool } from './helpers/system-tools.js';

const available = postgresAvailable();
const daemons: DaemonHandle[] = [];
const drops: Array<() => Promise<void>> = [];

async function pair(args: string[] = []): Promise<{ url: string; a: DaemonHandle; b: DaemonHandle }> {
  const db = await createDatabase();
  drops.push(db.drop);
  const a = await startDaemon({ args: ['--store', db.url, ...args] });
  const b = await startDaemon({ args: ['--store', db.url, ...args] });
  daemons.push(a, b);
  return { url: db.url, a, b };
}

afterEach(async () => {
  // Stop each test's daemons at its end: every daemon holds database connections.
  for (const d of daemons.splice(0)) await d.stop();
});
afterAll(async () => {
  for (const drop of drops) await drop().catch(() => {});
});

describe.skipIf(!available)('PostgreSQL store', () => {
  it('two daemons, dozens of agents racing for the same items: one winner per item, nothing lost or doubled', async () => {
    const { url, a, b } = await pair(['--lease-ms', '3600000']);
    const items = Array.from({ length: 12 }, (_, i) => `pg_item_${i}`);
    const clients = Array.from({ length: 36 }, (_, i) => new HttpClient(i % 2 ? a.url : b.url));
    const attempts = clients.flatMap((c, i) => items.map((work_id) => ({ c, agent: `pg_agent_${i}`, work_id })));
    attempts.sort(() => Math.random() - 0.5);
    const results = await Promise.all(
      attempts.map(({ c, agent, work_id }) => c.post('/api/coordination/claim', { work_id, agent_id: agent }).then((r) => ({ r, agent, work_id }))),
    );
    clients.forEach((c) => c.close());
    for (const work_id of items) {
      const mine = results.filter((x) => x.work_id === work_id);
      expect(mine.filter((x) => x.r.status === 200)).toHaveLength(1);
      expect(mine.filter((x) => x.r.status === 409)).toHaveLength(35);
    }
    const rows = await query<{ key: string; data: { agent_id: string } }>(url, "SELECT key, data FROM aip_records WHERE section = 'work'");
    expect(rows.map((r) => r.key).sort()).toEqual([...items].sort());
    for (const r of rows) expect(r.data.agent_id).toBe(results.find((x) => x.work_id === r.key && x.r.status === 200)!.agent);
    // Revisions are gap-free and both daemons converge on the same state.
    const revs = (await query<{ revision: string }>(url, 'SELECT revision FROM aip_events ORDER BY revision')).map((r) => Number(r.revision));
    expect(revs).toEqual(Array.from({ length: revs.length }, (_, i) => i + 1));
    await expect
      .poll(async () => (await new HttpClient(a.url).get('/api/coordination/status')).body.checksum, { timeout: 5000 })
      .toBe((await new HttpClient(b.url).get('/api/coordination/status')).body.checksum);
  });

  it('a console on daemon A sees changes made through daemon B, verified and gap-free', async () => {
    const { a, b } = await pair(['--lease-ms', '3600000']);
    const sc = new StreamClient({ url: a.url }).start();
    await new Promise((r) => sc.once('snapshot', r));
    const cb = new HttpClient(b.url);
    let last = 0;
    for (let i = 0; i < 60; i++) last = (await cb.post('/api/coordination/claim', { work_id: `cross_${i}`, agent_id: `x_${i % 4}` })).body.revision;
    await sc.waitForRevision(last);
    const statusB = (await cb.get('/api/coordination/status')).body;
    expect(sc.revision).toBe(statusB.revision);
    expect(sc.checksum).toBe(statusB.checksum);
    expect(sc.verified).toBe(true);
    expect(sc.resyncs).toBe(0);
    sc.stop();
    cb.close();
  });

  it('one daemon killed under load: the other serves on, acknowledged changes are in the database, its agents expire once', async () => {
    const { url, a, b } = await pair(['--lease-ms', '1500']);
    const acked: string[] = [];
    let stop = false;
    const loop = async (base: string, tag: string) => {
      const c = new HttpClient(base);
      for (let i = 0; !stop; i++) {
        try {
          const r = await c.post('/api/coordination/claim', { work_id: `kill_${tag}_${i}`, agent_id: `kill_agent_${tag}_${i % 3}` });
          if (r.status === 200) acked.push(`kill_${tag}_${i}`);
        } catch {
          if (tag.startsWith('a')) return; // A was killed
        }
      }
      c.close();
    };
    const loops = [loop(a.url, 'a1'), loop(a.url, 'a2'), loop(b.url, 'b1'), loop(b.url, 'b2')];
    await expect.poll(() => acked.length, { timeout: 20_000 }).toBeGreaterThan(60);
    a.proc.kill('SIGKILL');
    await a.exited;
    const afterKill = acked.length;
    await expect.poll(() => acked.length, { timeout: 20_000 }).toBeGreaterThan(afterKill + 30); // B keeps serving
    stop = true;
    await Promise.all(loops);
    const keys = new Set((await query<{ key: string }>(url, "SELECT key FROM aip_records WHERE section = 'work'")).map((r) => r.key));
    for (const id of acked) expect(keys.has(id)).toBe(true);
    // A's agents never heartbeat again: B expires each of them exactly once.
    await expect
      .poll(
        async () =>
          (
            await query<{ n: string }>(
              url,
              "SELECT count(*) AS n FROM aip_events WHERE cause->>'op' = 'lease_expired' AND cause->>'agent_id' LIKE 'kill_agent_a%'",
            )
          )[0].n,
        { timeout: 20_000, interval: 250 },
      )
      .toBe('6');
    const held = await query<{ n: string }>(url, "SELECT count(*) AS n FROM aip_records WHERE section = 'work' AND data->>'agent_id' LIKE 'kill_agent_a%'");
    expect(held[0].n).toBe('0');
  });

  it.skipIf(!requireTool('pg_ctlcluster'))(
    'the database restarted under load: not ready, then recovered; nothing acknowledged that was not committed',
    async () => {
      const { url, a, b } = await pair(['--lease-ms', '3600000']);
      const acked: string[] = [];
      const refused: number[] = [];
      let stop = false;
      const loop = async (base: string, tag: string) => {
        const c = new HttpClient(base);
        for (let i = 0; !stop; i++) {
          const r = await c.post('/api/coordination/claim', { work_id: `db_${tag}_${i}`, agent_id: `db_agent_${tag}` }).catch(() => null);
          if (r?.status === 200) acked.push(`db_${tag}_${i}`);
          else if (r) {
            refused.push(r.status);
            await new Promise((res) => setTimeout(res, 20));
          }
        }
        c.close();
      };
      const loops = [loop(a.url, 'a'), loop(b.url, 'b')];
      await expect.poll(() => acked.length, { timeout: 20_000 }).toBeGreaterThan(30);
      const cluster = readdirSync('/etc/postgresql')[0];
      execFileSync('pg_ctlcluster', [cluster, 'main', 'stop', '-m', 'fast']);
      await expect.poll(async () => (await new HttpClient(a.url).get('/ready')).status, { timeout: 15_000 }).toBe(503);
      await new Promise((r) => setTimeout(r, 500));
      execFileSync('pg_ctlcluster', [cluster, 'main', 'start']);
      await expect.poll(async () => (await new HttpClient(a.url).get('/ready')).status, { timeout: 30_000, interval: 250 }).toBe(200);
      await expect.poll(async () => (await new HttpClient(b.url).get('/ready')).status, { timeout: 30_000, interval: 250 }).toBe(200);
      const before = acked.length;
      await expect.poll(() => acked.length, { timeout: 20_000 }).toBeGreaterThan(before + 20); // writes flow again
      stop = true;
      await Promise.all(loops);
      expect(refused.filter((s) => s === 503).length).toBeGreaterThan(0);
      expect(refused.every((s) => s === 503)).toBe(true);
      const keys = new Set((await query<{ key: string }>(url, "SELECT key FROM aip_records WHERE section = 'work'")).map((r) => r.key));
      for (const id of acked) expect(keys.has(id)).toBe(true);
      const statusA = (await new HttpClient(a.url).get('/api/coordination/status')).body;
      await expect.poll(async () => (await new HttpClient(b.url).get('/api/coordination/status')).body.checksum, { timeout: 5000 }).toBe(statusA.checksum);
    },
  );

  it('migration file store → PostgreSQL → file store keeps every record and file of the legacy data byte for byte', async () => {
    const db = await createDatabase();
    drops.push(db.drop);
    const src = copyReference('legacy');
    const to = await runCli(['migrate-store', '--from', src, '--to', db.url, '--json']);
    expect(to.code).toBe(0);
    expect(JSON.parse(to.stdout).records).toBe(141 + 44 + 156);
    // A daemon on the database serves every record.
    const d = await startDaemon({ args: ['--store', db.url, '--lease-ms', '3600000'] });
    daemons.push(d);
    const status = (await new HttpClient(d.url).get('/api/coordination/status')).body;
    expect(status.counts).toEqual({ work: 141, agents: 44, log: 156 });
    await d.stop();
    const back = tempDir('aip-back-');
    const from = await runCli(['migrate-store', '--from', db.url, '--to', back]);
    expect(from.code).toBe(0);
    for (const f of readdirSync(path.join(REFERENCE, 'legacy'))) {
      expect(readFileSync(path.join(back, f), 'utf8')).toBe(readFileSync(path.join(REFERENCE, 'legacy', f), 'utf8'));
    }
    // Refuses to overwrite a database that holds records, unless forced.
    const again = await runCli(['migrate-store', '--from', src, '--to', db.url]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already holds 341 records/);
  });

  it('two daemons started at the same moment on a fresh database: both serve, the schema is created once, and they share state', async () => {
    const db = await createDatabase();
    drops.push(db.drop);
    // Started together: both connect and migrate the empty database at the same time.
    const started = await Promise.allSettled([0, 1].map(() => startDaemon({ args: ['--store', db.url, '--lease-ms', '600000'] })));
    for (const r of started) if (r.status === 'fulfilled') daemons.push(r.value);
    expect(started.map((r) => (r.status === 'rejected' ? String(r.reason) : 'started'))).toEqual(['started', 'started']);
    const [a, b] = daemons.slice(-2);

    // Each migration applied once, by one of the two.
    const versions = await query<{ version: number }>(db.url, 'SELECT version FROM aip_schema ORDER BY version');
    expect(versions.map((r) => r.version)).toEqual([1, 2, 3]);
    expect(await query(db.url, "SELECT value FROM aip_meta WHERE name = 'revision'")).toHaveLength(1);
    const migrated = [...a.logs, ...b.logs].filter((l) => l.includes('database schema migrated'));
    expect(migrated.map((l) => (JSON.parse(l) as { version: number }).version).sort()).toEqual([1, 2, 3]);

    // A claim through one daemon is seen through the other.
    const ha = new HttpClient(a.url);
    const hb = new HttpClient(b.url);
    expect((await ha.post('/api/agents', { agent_id: 'mig_agent', team: 'backend' })).status).toBe(201);
    expect((await ha.post('/api/coordination/claim', { work_id: 'work_mig', agent_id: 'mig_agent', work_type: 'bug_fix' })).status).toBe(200);
    await expect.poll(async () => (await hb.get('/api/work/work_mig')).body.work?.agent_id, { timeout: 15_000, interval: 100 }).toBe('mig_agent');
    // And the other way round.
    expect((await hb.post('/api/coordination/claim', { work_id: 'work_mig_2', agent_id: 'mig_agent', work_type: 'bug_fix' })).status).toBe(200);
    await expect.poll(async () => (await ha.get('/api/work/work_mig_2')).body.work?.agent_id, { timeout: 15_000, interval: 100 }).toBe('mig_agent');
  });

  it('an unreachable database at start is a clear error, not a hang', async () => {
    const r = await runCli(['start', '--store', 'postgres://nobody:x@127.0.0.1:1/none', '--port', '0', '--data-dir', tempDir()]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/ECONNREFUSED|connect/);
    expect(r.stderr).not.toMatch(/nobody:x@/); // no password in messages
  });
});
