// External edits by real shell scripts while the daemon serves API writes: nothing from either side
// is lost, conflicts are counted, a half-written file is never read as "everything deleted".
import { afterEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync, rmdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { StreamClient } from '../client/stream-client.js';
import type { DeltaMessage, EventMessage } from '../shared/protocol.js';
import { startDaemon, ROOT, type DaemonHandle } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';

const run = promisify(execFile);
const SCRIPTS = path.join(ROOT, 'test/fixtures/scripts');
let d: DaemonHandle | null = null;
afterEach(async () => {
  await d?.stop();
  d = null;
});

const claimsOnDisk = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'work_claims.json'), 'utf8')) as Array<Record<string, unknown>>;

/** mkdir of a lock directory, retried while the daemon holds it (as a script's `until mkdir` loop does). */
export async function takeLock(lock: string): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      mkdirSync(lock);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || i > 250) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

async function waitForFile(dir: string, ids: string[]): Promise<void> {
  await expect
    .poll(
      () => {
        try {
          const onDisk = new Set(claimsOnDisk(dir).map((r) => r.work_item_id));
          return ids.filter((id) => !onDisk.has(id));
        } catch {
          return ['<unreadable>'];
        }
      },
      { timeout: 15_000, interval: 100 },
    )
    .toEqual([]);
}

describe.each(['lock', 'nolock'] as const)('a shell script appending claims (%s) while agents claim over HTTP', (mode) => {
  it('keeps every record from both sides, in the state and in the file', async () => {
    d = await startDaemon({ args: ['--lease-ms', '3600000'] });
    const c = new HttpClient(d.url);
    // Seed the file so the script has something to append to.
    expect((await c.post('/api/coordination/claim', { work_id: 'seed', agent_id: 'api_agent' })).status).toBe(200);
    await waitForFile(d.dataDir, ['seed']);
    const script = run('bash', [path.join(SCRIPTS, 'append-claims.sh'), d.dataDir, `ext_${mode}`, '25', mode]);
    const apiIds: string[] = [];
    for (let i = 0; i < 25; i++) {
      const id = `api_${mode}_${i}`;
      expect((await c.post('/api/coordination/claim', { work_id: id, agent_id: 'api_agent' })).status).toBe(200);
      apiIds.push(id);
      await new Promise((r) => setTimeout(r, 8));
    }
    await script;
    const extIds = Array.from({ length: 25 }, (_, i) => `ext_${mode}_${i}`);
    await expect
      .poll(
        async () => {
          const state = (await c.get('/api/coordination/status')).body.state.work;
          return [...apiIds, ...extIds].filter((id) => !state[id]);
        },
        { timeout: 15_000, interval: 100 },
      )
      .toEqual([]);
    await waitForFile(d.dataDir, [...apiIds, ...extIds, 'seed']);
    const state = (await c.get('/api/coordination/status')).body.state.work;
    // The script's records kept their unknown fields; the API's kept the holder.
    expect(state[`ext_${mode}_3`].data.shell_only_field).toEqual({ n: 3 });
    expect(state[`api_${mode}_3`].data.agent_id).toBe('api_agent');
    const ids = claimsOnDisk(d.dataDir).map((r) => r.work_item_id);
    expect(new Set(ids).size).toBe(ids.length); // nothing doubled
    c.close();
  });
});

describe('unreadable and conflicting external edits', () => {
  it('a truncate-then-write is retried, never read as deletion, and its record is picked up', async () => {
    d = await startDaemon({ args: ['--lease-ms', '3600000'] });
    const c = new HttpClient(d.url);
    for (let i = 0; i < 10; i++) await c.post('/api/coordination/claim', { work_id: `keep_${i}`, agent_id: 'a' });
    await waitForFile(
      d.dataDir,
      Array.from({ length: 10 }, (_, i) => `keep_${i}`),
    );
    const before = (await c.get('/api/coordination/status')).body.revision;
    // Every change from here on, as streamed: none may be a deletion.
    const sc = new StreamClient({ url: d.url }).start();
    const deltas: DeltaMessage[] = [];
    sc.on('delta', (m: DeltaMessage) => deltas.push(m));
    const resyncs: string[] = [];
    sc.on('resync', (r: string) => resyncs.push(r));
    await expect.poll(() => sc.revision, { timeout: 10_000 }).toBeGreaterThanOrEqual(before);
    const script = run('bash', [path.join(SCRIPTS, 'truncate-then-write.sh'), path.join(d.dataDir, 'work_claims.json'), 'from_shell']);
    // While the file is empty or half-written, API writes go on and nothing is deleted.
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 100));
      expect((await c.post('/api/coordination/claim', { work_id: `during_${i}`, agent_id: 'b' })).status).toBe(200);
      const state = (await c.get('/api/coordination/status')).body;
      expect(Object.keys(state.state.work).filter((k) => k.startsWith('keep_'))).toHaveLength(10);
    }
    await script;
    await expect.poll(async () => Boolean((await c.get('/api/work/from_shell')).body.work), { timeout: 10_000 }).toBe(true);
    await waitForFile(d.dataDir, ['from_shell', ...Array.from({ length: 10 }, (_, i) => `keep_${i}`), ...Array.from({ length: 5 }, (_, i) => `during_${i}`)]);
    const status = (await c.get('/api/coordination/status')).body;
    expect(status.revision).toBeGreaterThan(before);
    // No change ever deleted a record: every delta up to the current revision seen, none with a 'del'.
    await expect.poll(() => sc.revision, { timeout: 10_000 }).toBe(status.revision);
    expect(deltas.length).toBeGreaterThanOrEqual(6); // 5 claims and the script's record at least
    expect(deltas.flatMap((m) => m.changes).filter((ch) => ch.op === 'del')).toEqual([]);
    expect(resyncs).toEqual([]); // no delta skipped by a snapshot
    sc.stop();
    c.close();
  });

  it('a script and the API changing the same field: both values kept, the conflict counted and streamed', async () => {
    d = await startDaemon({ args: ['--lease-ms', '3600000'] });
    const c = new HttpClient(d.url);
    const sc = new StreamClient({ url: d.url }).start();
    const events: EventMessage[] = [];
    sc.on('event', (e: EventMessage) => events.push(e));
    expect((await c.post('/api/coordination/claim', { work_id: 'contested', agent_id: 'api_agent' })).status).toBe(200);
    await waitForFile(d.dataDir, ['contested']);
    const file = path.join(d.dataDir, 'work_claims.json');
    // The script takes the lock, so the daemon cannot write its own change in the meantime.
    await takeLock(file + '.lock');
    expect((await c.post('/api/coordination/progress', { work_id: 'contested', agent_id: 'api_agent', progress: 30 })).status).toBe(200);
    await run('bash', [
      '-c',
      `sed -i 's/"work_item_id": "contested",/"work_item_id": "contested",\\n    "progress": 70,\\n    "reviewer": "shell",/' "${file}"`,
    ]);
    rmdirSync(file + '.lock');
    await expect.poll(async () => (await c.get('/api/work/contested')).body.work.reviewer, { timeout: 10_000 }).toBe('shell');
    const work = (await c.get('/api/work/contested')).body.work;
    expect(work.progress).toBe(30); // the acknowledged API write is kept
    expect(work.merge_conflicts).toEqual([expect.objectContaining({ field: 'progress', kept: 30, other: 70, source: 'file' })]);
    const metrics = (await c.get('/metrics')).body as string;
    expect(metrics).toMatch(/coordination_conflicts_total\{type="merge"\} 1/);
    await expect.poll(() => events.some((e) => e.event === 'merge_conflict'), { timeout: 5000 }).toBe(true);
    sc.stop();
    c.close();
  });

  it('a file edited while the daemon was down is picked up at start, with nothing else changed', async () => {
    d = await startDaemon();
    const c = new HttpClient(d.url);
    await c.post('/api/coordination/claim', { work_id: 'offline_1', agent_id: 'a' });
    c.close();
    const dir = d.dataDir;
    expect(await d.stop()).toBe(0);
    const claims = claimsOnDisk(dir);
    claims.push({ work_item_id: 'added_offline', status: 'pending', agent_id: null, odd: [1, { x: null }] });
    writeFileSync(path.join(dir, 'work_claims.json'), JSON.stringify(claims, null, 2) + '\n');
    d = await startDaemon({ dataDir: dir });
    const c2 = new HttpClient(d.url);
    const st = (await c2.get('/api/coordination/status')).body.state.work;
    expect(st.added_offline.data.odd).toEqual([1, { x: null }]);
    expect(st.offline_1.data.agent_id).toBe('a');
    c2.close();
  });

  it('after a clean restart (the file as last written) an edit of one record is picked up as exactly that', async () => {
    d = await startDaemon();
    const c = new HttpClient(d.url);
    for (const id of ['m1', 'm2', 'm3']) expect((await c.post('/api/coordination/claim', { work_id: id, agent_id: 'a' })).status).toBe(200);
    c.close();
    const dir = d.dataDir;
    expect(await d.stop()).toBe(0);
    d = await startDaemon({ dataDir: dir, args: ['--log-level', 'debug'] });
    // The meta described each file exactly: the start took its hashes instead of parsing the file.
    const fromMeta = d.logs.filter((l) => l.includes('base taken from the meta')).map((l) => (JSON.parse(l) as { file: string }).file);
    expect(fromMeta.sort()).toEqual(['agent_status.json', 'work_claims.json']);
    const c2 = new HttpClient(d.url);
    const before = (await c2.get('/api/coordination/status')).body;
    const claims = claimsOnDisk(dir);
    claims.find((r) => r.work_item_id === 'm2')!.note = 'edited by a script';
    writeFileSync(path.join(dir, 'work_claims.json'), JSON.stringify(claims, null, 2) + '\n');
    await expect.poll(async () => (await c2.get('/api/coordination/status')).body.state.work.m2.data.note, { timeout: 10_000 }).toBe('edited by a script');
    const after = (await c2.get('/api/coordination/status')).body;
    c2.close();
    expect(after.revision).toBe(before.revision + 1);
    for (const id of ['m1', 'm3']) expect(after.state.work[id]).toEqual(before.state.work[id]);
    const edits = () => d!.logs.filter((l) => l.includes('picked up external edit')).map((l) => JSON.parse(l) as { changes: number; conflicts: number });
    await expect.poll(() => edits().length, { timeout: 10_000 }).toBeGreaterThan(0); // logged after the change is durable
    expect(edits()).toEqual([expect.objectContaining({ changes: 1, conflicts: 0 })]);
  });
});
