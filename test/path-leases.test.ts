// Path leases against a real daemon: Claude Code's recorded PreToolUse payloads (cwd and file_path
// rewritten into a git repository the test creates) for several sessions, the path API, separate
// CLI processes racing for overlapping sets, and expiry with the agent's lease.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PathIndex, ancestorDirs, normalizeOrigin, normalizeRelPath, overlaps, type PathLease } from '../shared/path-leases.js';
import { originFromConfig } from '../daemon/claude-code/project.js';
import { runCli, startDaemon, tempDir, type DaemonHandle } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';
import { createDatabase, postgresAvailable } from './helpers/postgres.js';
import { git, hookFixture as fixture, sessionIds } from './helpers/claude-code.js';

type Rec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- answers are read loosely

const HOOK = '/api/hooks/claude-code';
const ORIGIN = 'git@github.com:example/webapp.git';
const REPO_ID = 'github.com/example/webapp';

const newSession = sessionIds('9a7e0000');

/** A repository with an origin, a few files, and a second worktree beside it. */
function makeRepo(): { main: string; second: string } {
  const root = tempDir('aip-paths-');
  const main = path.join(root, 'webapp');
  mkdirSync(path.join(main, 'src', 'db'), { recursive: true });
  for (const f of ['src/a.ts', 'src/b.ts', 'src/db/x.ts', 'README.md']) writeFileSync(path.join(main, f), `// ${f}\n`);
  git(main, 'init', '-q', '-b', 'main');
  git(main, 'remote', 'add', 'origin', ORIGIN);
  git(main, 'add', '.');
  git(main, 'commit', '-q', '-m', 'init');
  const second = path.join(root, 'webapp-feature');
  git(main, 'worktree', 'add', '-q', '-b', 'feature', second);
  return { main, second };
}

describe('path leases at Claude Code edits', () => {
  let d: DaemonHandle;
  let c: HttpClient;
  let repo: { main: string; second: string };
  beforeAll(async () => {
    repo = makeRepo();
    d = await startDaemon();
    c = new HttpClient(d.url);
  });
  afterAll(async () => {
    c.close();
    expect(await d.stop()).toBe(0);
  });

  /** A recorded hook payload of `session`, working in `cwd`. */
  async function hook(name: string, session: string, cwd: string, overrides: Record<string, unknown> = {}) {
    const res = await c.post(HOOK, { ...fixture(name), session_id: session, cwd, ...overrides });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body as Rec;
  }

  /** PreToolUse of an edit tool on `file` (absolute), as Claude Code sends it. */
  function edit(session: string, cwd: string, file: string, tool = 'Edit') {
    const base = fixture('PreToolUse.Edit');
    const input =
      tool === 'NotebookEdit'
        ? { notebook_path: file, new_source: 'x' }
        : tool === 'Write'
          ? { file_path: file, content: 'x' }
          : { ...(base.tool_input as object), file_path: file };
    return hook('PreToolUse.Edit', session, cwd, { tool_name: tool, tool_input: input });
  }

  async function leases(query = '') {
    const res = await c.get(`/api/paths${query}`);
    expect(res.status).toBe(200);
    return res.body.leases as Array<Rec>;
  }

  it('refuses an edit of a file another session is editing, naming the holder, its work item, its activity and since when; allows it once the holder completes its claim', async () => {
    const a = newSession();
    const b = newSession();
    const file = path.join(repo.main, 'src', 'a.ts');
    await hook('SessionStart', a, repo.main);
    await hook('SessionStart', b, path.join(repo.main, 'src'));
    const claim = await c.post('/api/coordination/claim', { work_id: 'fix_login', agent_id: `cc_${a}` });
    expect(claim.status).toBe(200);

    expect(await edit(a, repo.main, file)).toEqual({});
    const held = await leases(`?agent_id=cc_${a}`);
    expect(held).toHaveLength(1);
    expect(held[0]).toMatchObject({ agent_id: `cc_${a}`, repo: REPO_ID, path: 'src/a.ts', mode: 'exclusive', work_id: 'fix_login', live: true });
    expect(held[0].fencing_token).toBeGreaterThan(claim.body.claim.fencing_token);

    const denied = await edit(b, path.join(repo.main, 'src'), file, 'Write');
    expect(denied.hookSpecificOutput).toMatchObject({ hookEventName: 'PreToolUse', permissionDecision: 'deny' });
    const reason = denied.hookSpecificOutput.permissionDecisionReason as string;
    expect(reason).toContain(`cc_${a}`);
    expect(reason).toContain('fix_login');
    expect(reason).toContain('Edit'); // the holder's current activity
    expect(reason).toContain(held[0].since);
    // The refused session holds nothing.
    expect(await leases(`?agent_id=cc_${b}`)).toEqual([]);

    expect((await c.post('/api/coordination/complete', { work_id: 'fix_login', agent_id: `cc_${a}` })).status).toBe(200);
    expect(await edit(b, path.join(repo.main, 'src'), file, 'Write')).toEqual({});
    expect(await leases(`?agent_id=cc_${b}`)).toMatchObject([{ path: 'src/a.ts', work_id: null }]);
    // The completed item's lease is taken off its record by the cleanup.
    await expect.poll(async () => (await leases(`?agent_id=cc_${a}`)).length, { timeout: 10_000 }).toBe(0);
  });

  it('allows the edit once the holding session ends (SessionEnd), and counts the refusal', async () => {
    const a = newSession();
    const b = newSession();
    const file = path.join(repo.main, 'src', 'db', 'x.ts');
    expect(await edit(a, repo.main, file, 'MultiEdit')).toEqual({});
    const denied = await edit(b, repo.main, file);
    expect(denied.hookSpecificOutput?.permissionDecision).toBe('deny');
    await hook('SessionEnd', a, repo.main);
    expect(await leases(`?agent_id=cc_${a}`)).toEqual([]);
    expect(await edit(b, repo.main, file)).toEqual({});
    const text = await metricsText(c);
    expect(Number(/coordination_path_conflicts_total\{action="denied"\} (\d+)/.exec(text)?.[1])).toBeGreaterThanOrEqual(1);
    expect(Number(/coordination_path_leases\{mode="exclusive"\} (\d+)/.exec(text)?.[1])).toBeGreaterThanOrEqual(1);
  });

  it('warns, without refusing, when the file is edited in another worktree of the same repository', async () => {
    const a = newSession();
    const b = newSession();
    expect(await edit(a, repo.second, path.join(repo.second, 'src', 'b.ts'))).toEqual({});
    const mine = await leases(`?agent_id=cc_${a}`);
    expect(mine).toMatchObject([{ repo: REPO_ID, path: 'src/b.ts' }]);
    const warned = await edit(b, repo.main, path.join(repo.main, 'src', 'b.ts'));
    expect(warned.hookSpecificOutput.permissionDecision).toBeUndefined();
    expect(warned.hookSpecificOutput.hookEventName).toBe('PreToolUse');
    expect(warned.hookSpecificOutput.additionalContext).toContain(`cc_${a}`);
    expect(warned.hookSpecificOutput.additionalContext).toContain('another worktree');
    // Both hold their own checkout's file.
    expect((await leases('?prefix=src/b.ts')).map((l) => l.agent_id).sort()).toEqual([`cc_${a}`, `cc_${b}`].sort());
    const text = await metricsText(c);
    expect(Number(/coordination_path_conflicts_total\{action="warned"\} (\d+)/.exec(text)?.[1])).toBeGreaterThanOrEqual(1);
  });

  it("an edit of a file under a shared lease: refused while another agent shares it, then the shared lease becomes the editor's exclusive one", async () => {
    const a = newSession();
    const file = path.join(repo.main, 'README.md');
    expect((await c.post('/api/paths/claim', { agent_id: `cc_${a}`, paths: ['README.md'], repo: ORIGIN, mode: 'shared' })).status).toBe(200);
    expect((await c.post('/api/paths/claim', { agent_id: 'reader', paths: ['README.md'], repo: ORIGIN, mode: 'shared' })).status).toBe(200);
    expect((await edit(a, repo.main, file)).hookSpecificOutput.permissionDecision).toBe('deny');
    expect((await c.post('/api/paths/release', { agent_id: 'reader' })).status).toBe(200);
    expect(await edit(a, repo.main, file)).toEqual({});
    const record = (await c.get(`/api/agents/cc_${a}`)).body.agent as Rec;
    expect(record.path_leases).toMatchObject([{ repo: REPO_ID, path: 'README.md', mode: 'exclusive' }]);
  });

  it('a NotebookEdit and a relative file_path are placed in the repository too', async () => {
    const a = newSession();
    const b = newSession();
    mkdirSync(path.join(repo.main, 'nb'), { recursive: true });
    expect(await edit(a, path.join(repo.main, 'nb'), 'analysis.ipynb', 'NotebookEdit')).toEqual({});
    expect(await leases(`?agent_id=cc_${a}`)).toMatchObject([{ repo: REPO_ID, path: 'nb/analysis.ipynb' }]);
    const denied = await edit(b, repo.main, path.join(repo.main, 'nb', 'analysis.ipynb'), 'NotebookEdit');
    expect(denied.hookSpecificOutput.permissionDecision).toBe('deny');
  });
});

async function metricsText(c: HttpClient): Promise<string> {
  const res = await c.get('/metrics');
  expect(res.status).toBe(200);
  return String(res.body);
}

describe('path lease API', () => {
  let d: DaemonHandle;
  let c: HttpClient;
  const R = 'https://git.example.com/team/api.git';
  beforeAll(async () => {
    d = await startDaemon();
    c = new HttpClient(d.url);
  });
  afterAll(async () => {
    c.close();
    expect(await d.stop()).toBe(0);
  });

  const claim = (agent_id: string, paths: unknown[], extra: Record<string, unknown> = {}) => c.post('/api/paths/claim', { agent_id, paths, repo: R, ...extra });
  const held = async (agent: string) => ((await c.get(`/api/paths?agent_id=${agent}`)).body.leases as Array<Rec>).map((l) => l.path).sort();

  it('a directory lease covers the files under it, and a file lease blocks a directory above it', async () => {
    const dir = await claim('dir_x', ['src/db/'], { reason: 'schema change' });
    expect(dir.status).toBe(200);
    expect(dir.body.leases).toMatchObject([
      { agent_id: 'dir_x', repo: 'git.example.com/team/api', path: 'src/db/', mode: 'exclusive', reason: 'schema change' },
    ]);
    const inside = await claim('dir_y', ['src/db/models/user.ts']);
    expect(inside.status).toBe(409);
    expect(inside.body.error).toBe('path_held');
    expect(inside.body.holders).toMatchObject([{ agent_id: 'dir_x', path: 'src/db/', work_id: null, since: dir.body.leases[0].since }]);
    expect(inside.body.message).toContain('dir_x');
    // The other way round: a file lease inside, then a directory claim above it.
    expect((await claim('dir_y', ['lib/util/strings.ts'])).status).toBe(200);
    const above = await claim('dir_x', ['lib/']);
    expect(above.status).toBe(409);
    expect(above.body.holders).toMatchObject([{ agent_id: 'dir_y', path: 'lib/util/strings.ts' }]);
    // Siblings do not overlap: src/dbx.ts is not under src/db/.
    expect((await claim('dir_y', ['src/dbx.ts', 'lib2/'])).status).toBe(200);
    // Same agent: its own leases never conflict.
    expect((await claim('dir_x', ['src/db/schema.sql'])).status).toBe(200);
  });

  it('takes all the paths or none', async () => {
    expect((await claim('all_a', ['docs/guide.md'])).status).toBe(200);
    const mixed = await claim('all_b', ['docs/other.md', 'docs/guide.md', 'docs/third.md']);
    expect(mixed.status).toBe(409);
    expect(mixed.body.holders.map((h: Record<string, unknown>) => h.path)).toEqual(['docs/guide.md']);
    expect(await held('all_b')).toEqual([]);
  });

  it('shared leases go together; an exclusive one conflicts with each; releases end them', async () => {
    expect((await claim('sh_a', ['config/'], { mode: 'shared' })).status).toBe(200);
    expect((await claim('sh_b', ['config/app.json'], { mode: 'shared' })).status).toBe(200);
    const ex = await claim('sh_c', ['config/app.json']);
    expect(ex.status).toBe(409);
    expect(ex.body.holders.map((h: Record<string, unknown>) => h.agent_id).sort()).toEqual(['sh_a', 'sh_b']);
    const rel = await c.post('/api/paths/release', { agent_id: 'sh_a', paths: ['config/'], repo: R });
    expect(rel.status).toBe(200);
    expect(rel.body.released).toMatchObject([{ path: 'config/' }]);
    expect((await c.post('/api/paths/release', { agent_id: 'sh_b' })).status).toBe(200);
    expect(await held('sh_a')).toEqual([]);
    expect(await held('sh_b')).toEqual([]);
    expect((await claim('sh_c', ['config/app.json'])).status).toBe(200);
  });

  it('a lease tied to a work item the agent does not hold is refused; one tied to a held item ends when it is released', async () => {
    expect((await claim('tie_a', ['tied/a.ts'], { work_id: 'nobody_holds_this' })).status).toBe(409);
    expect((await c.post('/api/coordination/claim', { work_id: 'tie_item', agent_id: 'tie_a' })).status).toBe(200);
    expect((await claim('tie_a', ['tied/a.ts'], { work_id: 'tie_item' })).status).toBe(200);
    expect((await claim('tie_b', ['tied/a.ts'])).status).toBe(409);
    expect((await c.post('/api/coordination/release', { work_id: 'tie_item', agent_id: 'tie_a' })).status).toBe(200);
    // Refused no longer, at once (the lease is dead); taken off the record by the cleanup.
    expect((await claim('tie_b', ['tied/a.ts'])).status).toBe(200);
    await expect.poll(() => held('tie_a'), { timeout: 10_000 }).toEqual([]);
  });

  it('a lease with a TTL ends at it', async () => {
    expect((await claim('ttl_a', ['ttl/file.ts'], { ttl_ms: 1500 })).status).toBe(200);
    expect((await claim('ttl_b', ['ttl/file.ts'])).status).toBe(409);
    await expect.poll(() => held('ttl_a'), { timeout: 15_000, interval: 200 }).toEqual([]);
    expect((await claim('ttl_b', ['ttl/file.ts'])).status).toBe(200);
  });

  it('refuses bad input with {error, message} and stores nothing', async () => {
    const before = (await c.get('/api/coordination/status')).body.revision;
    const bad: Array<[string, Record<string, unknown>]> = [
      ['climbs out', { agent_id: 'bad_a', paths: ['src/../../etc/passwd'], repo: R }],
      ['NUL', { agent_id: 'bad_a', paths: ['src/a\u0000.ts'], repo: R }],
      ['too long', { agent_id: 'bad_a', paths: ['a/'.repeat(2100)], repo: R }],
      ['not a string', { agent_id: 'bad_a', paths: ['src/ok.ts', 42], repo: R }],
      ['too many', { agent_id: 'bad_a', paths: Array.from({ length: 300 }, (_, i) => `f${i}.ts`), repo: R }],
      ['empty list', { agent_id: 'bad_a', paths: [], repo: R }],
      ['relative without repo', { agent_id: 'bad_a', paths: ['src/a.ts'] }],
      ['absolute with repo', { agent_id: 'bad_a', paths: ['/etc/passwd'], repo: R }],
      ['repository itself', { agent_id: 'bad_a', paths: ['./'], repo: R }],
      ['bad mode', { agent_id: 'bad_a', paths: ['src/a.ts'], repo: R, mode: 'mine' }],
      ['bad agent', { agent_id: '../x', paths: ['src/a.ts'], repo: R }],
      ['ttl over the maximum', { agent_id: 'bad_a', paths: ['src/a.ts'], repo: R, ttl_ms: 10 * 24 * 3_600_000 }],
      ['absolute climbing above /', { agent_id: 'bad_a', paths: ['/../x'] }],
    ];
    for (const [what, body] of bad) {
      const res = await c.post('/api/paths/claim', body);
      expect(res.status, what).toBeGreaterThanOrEqual(400);
      expect(res.status, what).toBeLessThan(500);
      expect(typeof res.body.error, what).toBe('string');
      expect(typeof res.body.message, what).toBe('string');
    }
    expect((await c.post('/api/paths/release', { agent_id: 'bad_a', paths: ['x/../../y'], repo: R })).status).toBe(400);
    expect((await c.get('/api/paths?prefix=a%00b')).status).toBe(400);
    expect(await held('bad_a')).toEqual([]);
    expect((await c.get('/api/agents/bad_a')).status).toBe(404);
    expect((await c.get('/api/coordination/status')).body.revision).toBe(before);
  });

  it('separate CLI processes claiming overlapping sets at once: no overlap is ever granted', async () => {
    // Six files in a ring; process i claims files i and i+1 (and, every other one, their directory).
    const files = Array.from({ length: 6 }, (_, i) => `ring/f${i}.ts`);
    const sets = files.map((_, i) => (i % 2 === 0 ? [files[i], files[(i + 1) % files.length]] : ['ring/', files[i]]));
    const runs = await Promise.all(
      sets.flatMap((set, i) =>
        [0, 1].map((k) =>
          runCli(['paths', 'claim', ...set, '--agent', `ring_${i}_${k}`, '--repo', R, '--url', d.url, '--json']).then((r) => ({
            ...r,
            agent: `ring_${i}_${k}`,
            set,
          })),
        ),
      ),
    );
    for (const r of runs) expect([0, 1], r.stderr).toContain(r.code);
    const winners = runs.filter((r) => r.code === 0);
    expect(winners.length).toBeGreaterThanOrEqual(1);
    for (const r of runs.filter((x) => x.code === 1)) expect(JSON.parse(r.stdout).error).toBe('path_held');
    const all = (await c.get('/api/paths?prefix=ring')).body.leases as Array<{ agent_id: string; path: string }>;
    // All or none per process: each winner holds its whole set, each loser nothing.
    for (const r of runs)
      expect(
        all
          .filter((l) => l.agent_id === r.agent)
          .map((l) => l.path)
          .sort(),
      ).toEqual(r.code === 0 ? [...r.set].sort() : []);
    // No two agents hold overlapping paths.
    for (const x of all)
      for (const y of all)
        if (x.agent_id !== y.agent_id)
          expect(x.path === y.path || (x.path.endsWith('/') && y.path.startsWith(x.path)), `${x.agent_id}:${x.path} vs ${y.agent_id}:${y.path}`).toBe(false);
    // Exit codes as for claims: a usage error is 2, an unreachable daemon 3.
    expect((await runCli(['paths', 'claim', 'x.ts', '--agent', 'u', '--ttl', 'soon', '--url', d.url])).code).toBe(2);
    expect((await runCli(['paths', 'list', '--url', 'http://127.0.0.1:1'])).code).toBe(3);
    const list = await runCli(['paths', 'list', '--agent', winners[0].agent, '--url', d.url]);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(winners[0].set[0]);
    const rel = await runCli(['paths', 'release', '--agent', winners[0].agent, '--url', d.url]);
    expect(rel.code).toBe(0);
    expect(await held(winners[0].agent)).toEqual([]);
  });
  it('the legacy helper: claim-paths and release-paths for AGENT_ID (absolute paths outside any repository)', async () => {
    const dir = tempDir('aip-paths-legacy-');
    const env = (agent: string) => ({ AGENT_ID: agent, AI_PROCESSOR_URL: d.url, CURRENT_WORK_ITEM: undefined });
    const a = await runCli(['legacy', 'claim-paths', path.join(dir, 'a.ts'), path.join(dir, 'lib') + '/'], env('leg_a'));
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toContain('Leased 2 path(s) for leg_a');
    const b = await runCli(['legacy', 'claim-paths', path.join(dir, 'lib', 'q.ts')], env('leg_b'));
    expect(b.code).toBe(1);
    expect(b.stderr).toContain('path_held');
    expect(b.stderr).toContain('leg_a');
    expect((await runCli(['legacy', 'claim-paths'], env('leg_b'))).code).toBe(2);
    const r = await runCli(['legacy', 'release-paths'], env('leg_a'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Released 2 path lease(s)');
    expect((await runCli(['legacy', 'claim-paths', path.join(dir, 'lib', 'q.ts')], env('leg_b'))).code).toBe(0);
  });
});

describe("path leases end with their agent's lease", () => {
  it('an agent that goes silent loses its path leases to the sweeper', async () => {
    const d = await startDaemon({ args: ['--lease-ms', '1500'] });
    const c = new HttpClient(d.url);
    try {
      const R = 'git.example.com/team/expiry';
      expect((await c.post('/api/paths/claim', { agent_id: 'silent', paths: ['a.ts', 'lib/'], repo: R })).status).toBe(200);
      expect((await c.post('/api/paths/claim', { agent_id: 'other', paths: ['lib/x.ts'], repo: R })).status).toBe(409);
      await expect.poll(async () => ((await c.get('/api/paths?agent_id=silent')).body.leases as unknown[]).length, { timeout: 20_000, interval: 250 }).toBe(0);
      expect((await c.post('/api/paths/claim', { agent_id: 'other', paths: ['lib/x.ts'], repo: R })).status).toBe(200);
      expect(d.logs.join('\n')).toMatch(/path leases ended/);
    } finally {
      c.close();
      expect(await d.stop()).toBe(0);
    }
  });
});

describe('path rules (pure)', () => {
  it('normalises relative paths and refuses what leaves the repository', () => {
    expect(normalizeRelPath('src//./db/../db/x.ts')).toEqual({ ok: true, path: 'src/db/x.ts', dir: false });
    expect(normalizeRelPath('src/db/')).toEqual({ ok: true, path: 'src/db/', dir: true });
    expect(normalizeRelPath('src/db/.')).toEqual({ ok: true, path: 'src/db/', dir: true });
    for (const bad of ['../x', 'a/../../x', '', './', '.', 'a/..', '/abs', 'a\0b', 'x'.repeat(4097), 7, null])
      expect(normalizeRelPath(bad).ok, String(bad).slice(0, 20)).toBe(false);
    expect(normalizeRelPath('x'.repeat(4096)).ok).toBe(true);
  });

  it('one repository id for every spelling of its origin', () => {
    for (const url of [
      'git@github.com:example/webapp.git',
      'https://github.com/example/webapp',
      'https://user:pw@GitHub.com/example/webapp.git/',
      'ssh://git@github.com:22/example/webapp.git',
      'git+ssh://git@github.com/example/webapp',
    ]) {
      expect(normalizeOrigin(url), url).toBe('github.com/example/webapp');
    }
    expect(originFromConfig('[core]\n\tbare = false\n[remote "upstream"]\n\turl = git@x.org:a/b.git\n[remote "origin"]\n\turl = https://x.org/c/d.git\n')).toBe(
      'x.org/c/d',
    );
    expect(originFromConfig('[core]\n\tbare = false\n')).toBeNull();
  });

  it("the index finds exactly the overlapping leases a full scan finds, from the path's own depth", () => {
    const names = ['a/', 'a/b/', 'a/b/c.ts', 'a/b/d.ts', 'a/e.ts', 'ab/', 'ab/c.ts', 'b/', 'b/a/', 'b/a/x.ts'];
    let seed = 7;
    const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    const index = new PathIndex();
    const byAgent = new Map<string, PathLease[]>();
    for (let i = 0; i < 200; i++) {
      const agent = `ag${rnd(12)}`;
      const list = (byAgent.get(agent) ?? []).filter(() => rnd(4) !== 0);
      const p = names[rnd(names.length)];
      if (!list.some((l) => l.path === p))
        list.push({ agent_id: agent, repo: rnd(2) ? 'r1' : 'r2', path: p, mode: rnd(2) ? 'shared' : 'exclusive', fencing_token: i, since: '' });
      byAgent.set(agent, list);
      index.setAgent(agent, list);
    }
    const all = [...byAgent.values()].flat();
    expect(index.size).toBe(all.length);
    for (const repo of ['r1', 'r2']) {
      for (const p of [...names, 'a/b/c.ts/', 'zz/']) {
        const scan = all
          .filter((l) => l.repo === repo && overlaps(l.path, p))
          .map((l) => `${l.agent_id}:${l.path}`)
          .sort();
        expect(
          index
            .overlapping(repo, p)
            .map((l) => `${l.agent_id}:${l.path}`)
            .sort(),
          `${repo} ${p}`,
        ).toEqual(scan);
      }
    }
    expect(ancestorDirs('a/b/c.ts')).toEqual(['a/', 'a/b/']);
    expect(ancestorDirs('a/b/')).toEqual(['a/']);
    for (const agent of byAgent.keys()) index.setAgent(agent, []);
    expect(index.size).toBe(0);
  });
});

describe('--path-leases and --path-conflicts-across-worktrees', () => {
  it('deny across worktrees refuses; warn answers with context and takes no lease; off (after a reload) takes none', async () => {
    const repo = makeRepo();
    const dir = tempDir('aip-paths-cfg-');
    const configFile = path.join(dir, 'config.json');
    writeFileSync(configFile, JSON.stringify({ path_conflicts_across_worktrees: 'deny' }));
    const d = await startDaemon({ args: ['--config', configFile] });
    const c = new HttpClient(d.url);
    const edit = async (session: string, cwd: string, file: string) => {
      const base = fixture('PreToolUse.Edit');
      const res = await c.post(HOOK, { ...base, session_id: session, cwd, tool_input: { ...(base.tool_input as object), file_path: file } });
      expect(res.status).toBe(200);
      return res.body as Rec;
    };
    const leasesOf = async (session: string) => (await c.get(`/api/paths?agent_id=cc_${session}`)).body.leases as Rec[];
    try {
      const [a, b, e, f] = [newSession(), newSession(), newSession(), newSession()];
      expect(await edit(a, repo.main, path.join(repo.main, 'src', 'a.ts'))).toEqual({});
      const denied = await edit(b, repo.second, path.join(repo.second, 'src', 'a.ts'));
      expect(denied.hookSpecificOutput.permissionDecision).toBe('deny');
      expect(denied.hookSpecificOutput.permissionDecisionReason).toContain(`cc_${a}`);

      writeFileSync(configFile, JSON.stringify({ path_leases: 'warn' }));
      d.proc.kill('SIGHUP');
      await expect.poll(async () => (await c.get('/api/stats')).body.reload?.count, { timeout: 10_000 }).toBe(1);
      expect((await c.get('/api/stats')).body.reload.last.changed).toEqual(expect.arrayContaining(['path_leases', 'path_conflicts_across_worktrees']));
      const warned = await edit(e, repo.main, path.join(repo.main, 'src', 'a.ts'));
      expect(warned.hookSpecificOutput.permissionDecision).toBeUndefined();
      expect(warned.hookSpecificOutput.additionalContext).toContain(`cc_${a}`);
      expect(await leasesOf(e)).toEqual([]);

      writeFileSync(configFile, JSON.stringify({ path_leases: 'off' }));
      d.proc.kill('SIGHUP');
      await expect.poll(async () => (await c.get('/api/stats')).body.reload?.count, { timeout: 10_000 }).toBe(2);
      expect(await edit(f, repo.main, path.join(repo.main, 'src', 'b.ts'))).toEqual({});
      expect(await leasesOf(f)).toEqual([]);
      expect((await c.get(`/api/agents/cc_${f}`)).body.agent.activity.tool).toBe('Edit'); // the event itself still counts
    } finally {
      c.close();
      expect(await d.stop()).toBe(0);
    }
  });
});

const pgAvailable = postgresAvailable();

describe.skipIf(!pgAvailable)('path leases on the PostgreSQL store', () => {
  it('a lease taken through one daemon refuses an edit announced through the other; concurrent overlapping claims through one daemon never overlap', async () => {
    const db = await createDatabase();
    const repo = makeRepo();
    const a = await startDaemon({ args: ['--store', db.url] });
    const b = await startDaemon({ args: ['--store', db.url] });
    const ca = new HttpClient(a.url);
    const cb = new HttpClient(b.url);
    try {
      const [x, y] = [newSession(), newSession()];
      const file = path.join(repo.main, 'src', 'a.ts');
      const edit = async (c: HttpClient, session: string) => {
        const base = fixture('PreToolUse.Edit');
        const res = await c.post(HOOK, { ...base, session_id: session, cwd: repo.main, tool_input: { ...(base.tool_input as object), file_path: file } });
        expect(res.status).toBe(200);
        return res.body as Rec;
      };
      expect(await edit(ca, x)).toEqual({});
      await expect.poll(async () => ((await cb.get(`/api/paths?agent_id=cc_${x}`)).body.leases as Rec[]).length, { timeout: 10_000 }).toBe(1);
      const denied = await edit(cb, y);
      expect(denied.hookSpecificOutput.permissionDecision).toBe('deny');
      expect(denied.hookSpecificOutput.permissionDecisionReason).toContain(`cc_${x}`);

      // One daemon batches concurrent changes: overlapping claims in one batch still exclude each other.
      const R = 'git.example.com/team/pg';
      const sets = Array.from({ length: 16 }, (_, i) => (i % 2 ? ['pg/'] : [`pg/f${i}.ts`, `pg/f${i + 1}.ts`]));
      const clients = sets.map(() => new HttpClient(a.url));
      const results = await Promise.all(sets.map((paths, i) => clients[i].post('/api/paths/claim', { agent_id: `pg_${i}`, paths, repo: R })));
      for (const cl of clients) cl.close();
      for (const r of results) expect([200, 409]).toContain(r.status);
      const all = (await ca.get('/api/paths?prefix=pg')).body.leases as Array<{ agent_id: string; path: string }>;
      expect(all.length).toBeGreaterThan(0);
      for (const p of all)
        for (const q of all)
          if (p.agent_id !== q.agent_id)
            expect(p.path === q.path || (p.path.endsWith('/') && q.path.startsWith(p.path)), `${p.agent_id}:${p.path} vs ${q.agent_id}:${q.path}`).toBe(false);
    } finally {
      ca.close();
      cb.close();
      await a.stop();
      await b.stop();
      await db.drop();
    }
  });
});
