// Refused edits as the stream carries them (path_conflict events) and the stuck-pair metric: a real
// daemon, recorded PreToolUse payloads of two Claude Code sessions in a git repository the test
// creates, a real WebSocket client on the coordination stream, GET /metrics read as Prometheus does.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wsText } from '../client/ws-text.js';
import { StuckPairs } from '../daemon/observability/stuck-pairs.js';
import { PATH_CONFLICT_EVENT, STREAM_PATH, parsePathConflict, toWsUrl, type PathConflictDetail, type ServerMessage } from '../shared/protocol.js';
import { startDaemon, tempDir, type DaemonHandle } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';
import { git, hookFixture as fixture } from './helpers/claude-code.js';

type Rec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- answers are read loosely

const HOOK = '/api/hooks/claude-code';
const REPO_ID = 'github.com/example/stuck';

describe('StuckPairs (the tally behind coordination_path_stuck_pairs)', () => {
  it('counts a pair once it is refused the threshold number of times within the window, and forgets it after', () => {
    const t = new StuckPairs(3, 60_000);
    expect(t.record('a', 'r', 'x.ts', 0)).toBe(1);
    expect(t.record('a', 'r', 'x.ts', 10_000)).toBe(2);
    expect(t.record('a', 'r', 'y.ts', 10_000)).toBe(1); // another path: another pair
    expect(t.record('b', 'r', 'x.ts', 10_000)).toBe(1); // another agent: another pair
    expect(t.stuck(20_000)).toBe(0);
    expect(t.record('a', 'r', 'x.ts', 20_000)).toBe(3);
    expect(t.stuck(20_000)).toBe(1);
    // The first refusal leaves the window at 60 s: two remain, under the threshold.
    expect(t.stuck(60_001)).toBe(0);
    expect(t.record('a', 'r', 'x.ts', 60_002)).toBe(3);
    expect(t.stuck(60_002)).toBe(1);
    // Nothing left in the window: every pair is forgotten.
    expect(t.stuck(200_000)).toBe(0);
    expect(t.size).toBe(0);
  });

  it('remembers a bounded number of pairs, the least recently refused going first', () => {
    const t = new StuckPairs(2, 60_000, 3);
    t.record('a', 'r', 'old.ts', 0);
    t.record('a', 'r', 'old.ts', 1);
    for (const p of ['p1', 'p2', 'p3']) t.record('a', 'r', p, 2);
    expect(t.size).toBe(3);
    expect(t.stuck(3)).toBe(0); // old.ts (stuck) was the least recently refused: forgotten
    expect(t.record('a', 'r', 'p3', 4)).toBe(2);
    expect(t.stuck(4)).toBe(1);
  });
});

describe('parsePathConflict', () => {
  const good: PathConflictDetail = {
    action: 'denied',
    source: 'edit',
    agent_id: 'cc_b',
    repo: 'r',
    path: 'a.ts',
    paths: 1,
    holders: [{ agent_id: 'cc_a', path: 'a.ts', mode: 'exclusive', work_id: null, since: '2026-01-01T00:00:00Z' }],
    refusals: 2,
    stuck: false,
    at: '2026-01-01T00:00:01Z',
  };
  it('takes a well-formed detail and refuses malformed ones or other events', () => {
    expect(parsePathConflict({ event: PATH_CONFLICT_EVENT, detail: { ...good, extra: 1 } })).toEqual(good);
    expect(parsePathConflict({ event: 'file_problem', detail: { ...good } })).toBeNull();
    expect(parsePathConflict({ event: PATH_CONFLICT_EVENT, detail: { ...good, action: 'maybe' } })).toBeNull();
    expect(parsePathConflict({ event: PATH_CONFLICT_EVENT, detail: { ...good, refusals: -1 } })).toBeNull();
    expect(parsePathConflict({ event: PATH_CONFLICT_EVENT, detail: { ...good, holders: [{ agent_id: 'x' }] } })).toBeNull();
  });
});

/** A repository with an origin and a second worktree beside it. */
function makeRepo(): string {
  const root = path.join(tempDir('aip-stuck-'), 'stuck');
  mkdirSync(path.join(root, 'src'), { recursive: true });
  for (const f of ['src/db.ts', 'src/api.ts']) writeFileSync(path.join(root, f), `// ${f}\n`);
  git(root, 'init', '-q', '-b', 'main');
  git(root, 'remote', 'add', 'origin', 'git@github.com:example/stuck.git');
  git(root, 'add', '.');
  git(root, 'commit', '-q', '-m', 'init');
  git(root, 'worktree', 'add', '-q', '-b', 'feature', `${root}-feature`);
  return root;
}

describe('refused edits on the stream, and the stuck-pair metric (real daemon)', () => {
  let d: DaemonHandle;
  let c: HttpClient;
  let ws: WebSocket;
  let repo: string;
  const conflicts: PathConflictDetail[] = [];
  const HOLDER = '5a5a0000-0000-4000-8000-000000000001';
  const REFUSED = '5a5a0000-0000-4000-8000-000000000002';
  const OTHER = '5a5a0000-0000-4000-8000-000000000003';

  beforeAll(async () => {
    repo = makeRepo();
    d = await startDaemon();
    c = new HttpClient(d.url);
    ws = new WebSocket(toWsUrl(d.url, STREAM_PATH));
    let live = false;
    ws.on('message', (raw) => {
      const msg = JSON.parse(wsText(raw)) as ServerMessage;
      if (msg.type === 'snapshot') live = true;
      if (msg.type !== 'event') return;
      const detail = parsePathConflict(msg);
      if (detail) conflicts.push(detail);
    });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    // Events go to clients past their snapshot only.
    for (const end = Date.now() + 10_000; !live && Date.now() < end;) await new Promise((r) => setTimeout(r, 20));
    expect(live).toBe(true);
  });
  afterAll(async () => {
    ws?.close();
    c?.close();
    expect(await d.stop()).toBe(0);
  });

  async function hook(name: string, session: string, overrides: Record<string, unknown> = {}): Promise<Rec> {
    const res = await c.post(HOOK, { ...fixture(name), session_id: session, cwd: repo, ...overrides });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body as Rec;
  }
  const edit = (session: string, file: string): Promise<Rec> =>
    hook('PreToolUse.Edit', session, { tool_input: { ...(fixture('PreToolUse.Edit').tool_input as object), file_path: path.join(repo, file) } });

  async function metric(line: string): Promise<number> {
    const res = await c.get('/metrics');
    expect(res.status).toBe(200);
    const found = String(res.body)
      .split('\n')
      .find((l) => l.startsWith(line + ' '));
    expect(found, `${line} in /metrics`).toBeDefined();
    return Number(found!.slice(line.length + 1));
  }

  async function conflictCount(n: number): Promise<PathConflictDetail[]> {
    for (const end = Date.now() + 10_000; conflicts.length < n && Date.now() < end;) await new Promise((r) => setTimeout(r, 20));
    expect(conflicts.length, JSON.stringify(conflicts)).toBe(n);
    return conflicts.slice();
  }

  it('streams each refused edit with its holder and work item; the fifth refusal of the pair moves coordination_path_stuck_pairs', async () => {
    expect(await metric('coordination_path_stuck_pairs')).toBe(0);
    const denied0 = await metric('coordination_path_conflicts_total{action="denied"}');
    await hook('SessionStart', HOLDER);
    await hook('SessionStart', REFUSED);
    expect((await c.post('/api/coordination/claim', { work_id: 'schema_v2', agent_id: `cc_${HOLDER}` })).status).toBe(200);
    expect(await edit(HOLDER, 'src/db.ts')).toEqual({});
    expect(await metric('coordination_path_leases{mode="exclusive"}')).toBe(1);

    for (let i = 1; i <= 5; i++) {
      const answer = await edit(REFUSED, 'src/db.ts');
      expect(answer.hookSpecificOutput?.permissionDecision).toBe('deny');
      const seen = await conflictCount(i);
      expect(seen[i - 1]).toMatchObject({
        action: 'denied',
        source: 'edit',
        agent_id: `cc_${REFUSED}`,
        repo: REPO_ID,
        path: 'src/db.ts',
        paths: 1,
        holders: [{ agent_id: `cc_${HOLDER}`, path: 'src/db.ts', mode: 'exclusive', work_id: 'schema_v2' }],
        refusals: i,
        stuck: i >= 5,
      });
      // Under the threshold the pair is not stuck; at it, the gauge counts it.
      expect(await metric('coordination_path_stuck_pairs')).toBe(i >= 5 ? 1 : 0);
    }
    expect(await metric('coordination_path_conflicts_total{action="denied"}')).toBe(denied0 + 5);
    // Another file is another pair: one refusal there adds no stuck pair.
    expect((await c.post('/api/paths/claim', { agent_id: `cc_${HOLDER}`, repo: REPO_ID, paths: ['src/api.ts'] })).status).toBe(200);
    expect((await edit(REFUSED, 'src/api.ts')).hookSpecificOutput?.permissionDecision).toBe('deny');
    expect((await conflictCount(6))[5]).toMatchObject({ path: 'src/api.ts', refusals: 1, stuck: false });
    expect(await metric('coordination_path_stuck_pairs')).toBe(1);
  });

  it('an edit in another worktree of the repository is streamed as warned: no refusal counted, no stuck pair', async () => {
    const before = conflicts.length;
    const warned0 = await metric('coordination_path_conflicts_total{action="warned"}');
    const stuck0 = await metric('coordination_path_stuck_pairs');
    const answer = await hook('PreToolUse.Edit', OTHER, {
      cwd: `${repo}-feature`,
      tool_input: { ...(fixture('PreToolUse.Edit').tool_input as object), file_path: path.join(`${repo}-feature`, 'src/db.ts') },
    });
    expect(answer.hookSpecificOutput?.permissionDecision).toBeUndefined();
    expect(answer.hookSpecificOutput?.additionalContext).toContain(`cc_${HOLDER}`);
    const seen = await conflictCount(before + 1);
    expect(seen[before]).toMatchObject({
      action: 'warned',
      source: 'edit',
      agent_id: `cc_${OTHER}`,
      repo: REPO_ID,
      path: 'src/db.ts',
      refusals: 0,
      stuck: false,
    });
    expect(seen[before].holders.map((h) => h.agent_id)).toContain(`cc_${HOLDER}`);
    expect(await metric('coordination_path_conflicts_total{action="warned"}')).toBe(warned0 + 1);
    expect(await metric('coordination_path_stuck_pairs')).toBe(stuck0);
  });

  it('a refused path claim is streamed too (source claim, every refused path counted), and a bad claim changes nothing', async () => {
    const before = conflicts.length;
    const denied0 = await metric('coordination_path_conflicts_total{action="denied"}');
    const res = await c.post('/api/paths/claim', { agent_id: 'shell_agent', repo: REPO_ID, paths: ['src/', 'docs/x.md'], mode: 'shared' });
    expect(res.status).toBe(409);
    expect(res.body.error).toBe('path_held');
    const seen = await conflictCount(before + 1);
    expect(seen[before]).toMatchObject({ action: 'denied', source: 'claim', agent_id: 'shell_agent', repo: REPO_ID, path: 'src/', paths: 1, refusals: 1 });
    // The holder's two files, and the lease the warned session took on its worktree's copy.
    expect(seen[before].holders.map((h) => `${h.agent_id} ${h.path}`).sort()).toEqual(
      [`cc_${HOLDER} src/api.ts`, `cc_${HOLDER} src/db.ts`, `cc_${OTHER} src/db.ts`].sort(),
    );
    expect(await metric('coordination_path_conflicts_total{action="denied"}')).toBe(denied0 + 1);

    // Bad input: a path that climbs out of its repository. 400, nothing stored, no conflict counted or streamed.
    const bad = await c.post('/api/paths/claim', { agent_id: 'shell_agent', repo: REPO_ID, paths: ['../../etc/passwd'] });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: 'invalid_request' });
    expect(typeof bad.body.message).toBe('string');
    expect(await metric('coordination_path_conflicts_total{action="denied"}')).toBe(denied0 + 1);
    expect((await c.get('/api/paths?agent_id=shell_agent')).body.leases).toEqual([]);
    // A later conflict arrives right after the one above: the bad claim sent nothing in between.
    expect((await edit(REFUSED, 'src/api.ts')).hookSpecificOutput?.permissionDecision).toBe('deny');
    const after = await conflictCount(before + 2);
    expect(after[before + 1]).toMatchObject({ source: 'edit', path: 'src/api.ts', refusals: 2 });
  });
});
