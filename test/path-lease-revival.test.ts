// A path lease tied to a work item stops counting when the item is released, and never counts
// again: its agent claiming the item back at once (before the cleanup takes the lease off its
// record) must not revive it over the lease another agent was granted meanwhile. Real daemons, real
// Claude Code PreToolUse payloads in a git repository the test creates; on the file store, and on
// PostgreSQL with the two agents going through two daemons on one schema.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startDaemon, tempDir, type DaemonHandle } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';
import { createDatabase, postgresAvailable } from './helpers/postgres.js';
import { hookFixture, sessionIds } from './helpers/claude-code.js';

type Rec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- answers are read loosely

const HOOK = '/api/hooks/claude-code';
const ORIGIN = 'git@github.com:example/revive.git';
const REPO_ID = 'github.com/example/revive';
/** Rounds of release and immediate re-claim: the old code revived the lease unless the cleanup ran inside every window. */
const ROUNDS = 3;

const daemons: DaemonHandle[] = [];
const clients: HttpClient[] = [];
const drops: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of clients) c.close();
  for (const d of daemons) await d.stop();
  for (const drop of drops) await drop().catch(() => {});
});

/** A repository with an origin and a directory per round. */
function makeRepo(): string {
  const main = path.join(tempDir('aip-revive-'), 'revive');
  for (let i = 0; i < ROUNDS; i++) {
    mkdirSync(path.join(main, 'src', `d${i}`), { recursive: true });
    writeFileSync(path.join(main, 'src', `d${i}`, 'x.ts'), `// ${i}\n`);
  }
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

const newSession = sessionIds('5c1e0000');

const fixture = (name: string): Rec => hookFixture(name);

/** Claude Code's recorded PreToolUse of an Edit, for `session` editing `file` (absolute) in `cwd`. */
async function edit(c: HttpClient, session: string, cwd: string, file: string): Promise<Rec> {
  const base = fixture('PreToolUse.Edit');
  const res = await c.post(HOOK, { ...base, session_id: session, cwd, tool_input: { ...base.tool_input, file_path: file } });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body as Rec;
}

async function ok(c: HttpClient, route: string, body: Rec): Promise<Rec> {
  const res = await c.post(route, body);
  expect(res.status, `${route} ${JSON.stringify(res.body)}`).toBe(200);
  return res.body as Rec;
}

async function leases(c: HttpClient, query: string): Promise<Rec[]> {
  const res = await c.get(`/api/paths${query}`);
  expect(res.status).toBe(200);
  return res.body.leases as Rec[];
}

const stores: Array<[string, boolean]> = [
  ['file store', true],
  ['PostgreSQL, two daemons', postgresAvailable()],
];

describe.each(stores)('a lease tied to a released work item never counts again (%s)', (store, available) => {
  it.skipIf(!available)("its agent re-claiming the item at once does not revive it over another agent's lease", async () => {
    let ca: HttpClient; // agent A's daemon
    let cb: HttpClient; // agent B's (and C's) daemon
    if (store === 'file store') {
      const d = await startDaemon({ args: ['--lease-ms', '3600000'] });
      daemons.push(d);
      ca = cb = new HttpClient(d.url);
      clients.push(ca);
    } else {
      const db = await createDatabase();
      drops.push(db.drop);
      const d1 = await startDaemon({ args: ['--store', db.url, '--lease-ms', '3600000'] });
      daemons.push(d1);
      const d2 = await startDaemon({ args: ['--store', db.url, '--lease-ms', '3600000'] });
      daemons.push(d2);
      ca = new HttpClient(d1.url);
      cb = new HttpClient(d2.url);
      clients.push(ca, cb);
    }
    const repo = makeRepo();
    const a = newSession();
    const b = newSession();
    const agentA = `cc_${a}`;
    const agentB = `cc_${b}`;

    for (let i = 0; i < ROUNDS; i++) {
      const work = `revive_${i}`;
      const rel = `src/d${i}/x.ts`;
      const file = path.join(repo, rel);
      // Odd rounds: B takes the whole directory through the path API rather than the file at its edit.
      const bDir = i % 2 === 1;
      const bPath = bDir ? `src/d${i}/` : rel;

      const claimed = await ok(ca, '/api/coordination/claim', { work_id: work, agent_id: agentA });
      expect(await edit(ca, a, repo, file)).toEqual({});
      expect(await leases(ca, `?agent_id=${agentA}&prefix=${rel}`)).toMatchObject([
        { path: rel, work_id: work, live: true, fencing_token: expect.any(Number) as number },
      ]);
      const firstToken = claimed.claim.fencing_token as number;

      await ok(ca, '/api/coordination/release', { work_id: work, agent_id: agentA });
      // B is granted the path as soon as its daemon has seen the release (at once on one daemon).
      if (bDir) {
        await expect
          .poll(async () => (await cb.post('/api/paths/claim', { agent_id: agentB, paths: [bPath], repo: ORIGIN })).status, { timeout: 20_000 })
          .toBe(200);
      } else {
        await expect.poll(async () => await edit(cb, b, repo, file), { timeout: 20_000 }).toEqual({});
      }
      // A claims the item back at once, through its own daemon.
      const again = await ok(ca, '/api/coordination/claim', { work_id: work, agent_id: agentA });
      expect(again.claim.fencing_token).toBeGreaterThan(firstToken);

      // Only B's lease counts on that path, whichever daemon answers.
      for (const c of new Set([ca, cb])) {
        await expect
          .poll(async () => (await leases(c, `?prefix=${rel}`)).filter((l) => l.live).map((l) => [l.agent_id, l.path]), { timeout: 20_000 })
          .toEqual([[agentB, bPath]]);
      }
      // A's edit through its own daemon is refused naming B (on two daemons the old code let it through: A's revived lease covered the file).
      const denied = await edit(ca, a, repo, file);
      expect(denied.hookSpecificOutput, JSON.stringify(denied)).toMatchObject({ hookEventName: 'PreToolUse', permissionDecision: 'deny' });
      expect(denied.hookSpecificOutput.permissionDecisionReason).toContain(agentB);
      expect(denied.hookSpecificOutput.permissionDecisionReason).not.toContain(agentA);
      // B keeps going: its edit (or its claim again) is not refused by A's old lease.
      if (bDir) {
        const res = await cb.post('/api/paths/claim', { agent_id: agentB, paths: [bPath], repo: ORIGIN });
        expect(res.status, JSON.stringify(res.body)).toBe(200);
      } else {
        expect(await edit(cb, b, repo, file)).toEqual({});
      }
      // A third agent is refused naming B alone.
      const third = await cb.post('/api/paths/claim', { agent_id: `third_${i}`, paths: [rel], repo: ORIGIN });
      expect(third.status).toBe(409);
      expect(third.body.error).toBe('path_held');
      expect((third.body.holders as Rec[]).map((h) => h.agent_id)).toEqual([agentB]);
      // A's old lease is taken off its record by the cleanup; A holds nothing on that path.
      await expect.poll(async () => (await leases(ca, `?agent_id=${agentA}&prefix=${rel}`)).length, { timeout: 20_000 }).toBe(0);
      expect((await leases(ca, `?prefix=${rel}`)).map((l) => l.repo)).toEqual([REPO_ID]);
    }
  });
});

describe('re-leasing a path after its lease stopped counting', () => {
  it('grants a new lease (new fencing token, new since) tied to the new claim, and answers bad input with a 4xx storing nothing', async () => {
    const d = await startDaemon({ args: ['--lease-ms', '3600000'] });
    daemons.push(d);
    const c = new HttpClient(d.url);
    clients.push(c);
    const repo = 'github.com/example/relet';
    await ok(c, '/api/coordination/claim', { work_id: 'relet', agent_id: 'A' });
    const first = (await ok(c, '/api/paths/claim', { agent_id: 'A', paths: ['lib/'], repo, work_id: 'relet' })).leases[0] as Rec;
    // Claiming it again while it counts keeps its token.
    expect((await ok(c, '/api/paths/claim', { agent_id: 'A', paths: ['lib/'], repo, work_id: 'relet' })).leases[0]).toMatchObject({
      fencing_token: first.fencing_token,
      since: first.since,
    });
    await ok(c, '/api/coordination/release', { work_id: 'relet', agent_id: 'A' });
    const reclaimed = await ok(c, '/api/coordination/claim', { work_id: 'relet', agent_id: 'A' });
    const second = (await ok(c, '/api/paths/claim', { agent_id: 'A', paths: ['lib/'], repo, work_id: 'relet' })).leases[0] as Rec;
    expect(second.fencing_token).toBeGreaterThan(reclaimed.claim.fencing_token as number);
    expect(await leases(c, `?agent_id=A`)).toMatchObject([{ path: 'lib/', work_id: 'relet', fencing_token: second.fencing_token, live: true }]);
    // B is refused by the new lease.
    const refused = await c.post('/api/paths/claim', { agent_id: 'B', paths: ['lib/a.ts'], repo });
    expect(refused.status).toBe(409);
    expect((refused.body.holders as Rec[]).map((h) => [h.agent_id, h.fencing_token])).toEqual([['A', second.fencing_token]]);

    // Tying a lease to an item the agent no longer holds: 409; a path climbing out of its repository: 400. Nothing stored.
    await ok(c, '/api/coordination/release', { work_id: 'relet', agent_id: 'A' });
    const stale = await c.post('/api/paths/claim', { agent_id: 'A', paths: ['lib/b.ts'], repo, work_id: 'relet' });
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({ error: 'not_claim_holder', message: expect.any(String) as string });
    const bad = await c.post('/api/paths/claim', { agent_id: 'A', paths: ['../up.ts'], repo });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: expect.any(String) as string, message: expect.any(String) as string });
    const after = await leases(c, '');
    expect(after.filter((l) => l.path !== 'lib/')).toEqual([]);
    expect(after.filter((l) => l.live)).toEqual([]);
    // The released item's lease is taken off its record.
    await expect.poll(async () => (await leases(c, '')).length, { timeout: 20_000 }).toBe(0);
  });
});
