// Claude Code sessions as agents: the recorded hook payloads (test/fixtures/claude-code/hooks)
// POSTed over HTTP to a real daemon, the session's agent read back through the API after each.
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startDaemon, tempDir, type DaemonHandle } from './helpers/daemon.js';
import { HttpClient, postAnnouncingBody } from './helpers/http.js';
import { hookFixture as fixture, sessionIds } from './helpers/claude-code.js';

const HOOK = '/api/hooks/claude-code';
/** A session id of its own per test, so tests do not see each other's agents. */
const newSession = sessionIds('0c0ffee0');

async function send(c: HttpClient, name: string, session: string, overrides: Record<string, unknown> = {}, headers?: Record<string, string>) {
  const res = await c.post(HOOK, fixture(name, { session_id: session, ...overrides }), headers);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  expect(res.body).toEqual({});
  return res;
}

/** The fields of a Claude Code agent record these tests read. */
interface HookAgent {
  status: string;
  transcript_path: string;
  permission_mode: string;
  project: string;
  last_event: string;
  last_heartbeat: string;
  ended_reason: string;
  activity: { tool: string; target: string; at: string };
  needs_input: { message: string; since: string };
  subagents: Array<{ agent_id: string; started_at: string; stopped_at: string }>;
}

async function agentOf(c: HttpClient, session: string) {
  const res = await c.get(`/api/agents/cc_${session}`);
  expect(res.status).toBe(200);
  return res.body as { agent: HookAgent; claims: string[] };
}

describe('POST /api/hooks/claude-code', () => {
  let d: DaemonHandle;
  let c: HttpClient;
  let repo: string;
  beforeAll(async () => {
    d = await startDaemon();
    c = new HttpClient(d.url);
    // A repository the daemon can see (same host): the session works in a subdirectory of it.
    repo = path.join(tempDir('aip-cc-'), 'webapp-repo');
    mkdirSync(path.join(repo, '.git'), { recursive: true });
    mkdirSync(path.join(repo, 'src'), { recursive: true });
  });
  afterAll(async () => {
    c.close();
    expect(await d.stop()).toBe(0);
  });

  it('follows a session through every event type', async () => {
    const s = newSession();
    const cwd = path.join(repo, 'src');
    const at = (name: string, o: Record<string, unknown> = {}) => send(c, name, s, { cwd, ...o });

    await at('SessionStart');
    let a = (await agentOf(c, s)).agent;
    expect(a).toMatchObject({
      agent_id: `cc_${s}`,
      source: 'claude-code',
      session_id: s,
      status: 'idle',
      cwd,
      model: 'claude-sonnet-4-6',
      subagents: [],
      last_event: 'SessionStart',
    });
    expect(a.transcript_path).toMatch(/\.jsonl$/);

    await at('UserPromptSubmit');
    a = (await agentOf(c, s)).agent;
    expect(a.status).toBe('working');
    expect(a.permission_mode).toBe('default');
    expect(JSON.stringify(a)).not.toContain('failing login test'); // the prompt is not kept

    await at('PreToolUse.Edit');
    a = (await agentOf(c, s)).agent;
    expect(a.status).toBe('working');
    expect(a.activity).toMatchObject({ tool: 'Edit', target: '/home/dev/projects/webapp/src/auth/login.ts' });
    expect(Date.parse(a.activity.at)).toBeGreaterThan(0);
    expect(a.last_heartbeat).toBe(a.activity.at);
    expect(JSON.stringify(a)).not.toContain('user = null'); // never the file's contents

    await at('PreToolUse.Bash');
    a = (await agentOf(c, s)).agent;
    expect(a.activity).toMatchObject({ tool: 'Bash', target: 'npm test -- --run' });

    await at('PostToolUse');
    a = (await agentOf(c, s)).agent;
    expect(a.status).toBe('working');
    expect(a.activity.tool).toBe('Edit');
    // The git top-level directory's name, from cwd: looked up once per directory, and a lookup that
    // takes longer than the request may wait lands with a later event.
    await expect
      .poll(
        async () => {
          await at('PostToolUse');
          return (await agentOf(c, s)).agent.project;
        },
        { timeout: 10_000, interval: 100 },
      )
      .toBe('webapp-repo');

    await at('Notification.permission_prompt');
    a = (await agentOf(c, s)).agent;
    expect(a.status).toBe('needs_input');
    expect(a.needs_input.message).toBe('Claude needs your permission to use Bash');
    const since = a.needs_input.since;
    expect(Date.parse(since)).toBeGreaterThan(0);

    await at('PermissionRequest');
    a = (await agentOf(c, s)).agent;
    expect(a.status).toBe('needs_input');
    expect(a.needs_input.since).toBe(since); // the same wait
    expect(a.needs_input.message).toContain('permission to use Bash: rm -rf node_modules');

    await at('PostToolUse');
    a = (await agentOf(c, s)).agent;
    expect(a.status).toBe('working');
    expect(a.needs_input).toBeUndefined();

    await at('Elicitation');
    a = (await agentOf(c, s)).agent;
    expect(a.status).toBe('needs_input');
    expect(a.needs_input.message).toBe('Which environment should the release go to?');

    await at('Stop');
    expect((await agentOf(c, s)).agent.status).toBe('idle');

    await at('UserPromptSubmit');
    expect((await agentOf(c, s)).agent.status).toBe('working');
    await at('Notification.idle_prompt');
    expect((await agentOf(c, s)).agent.status).toBe('idle');

    await at('SubagentStart');
    a = (await agentOf(c, s)).agent;
    expect(a.subagents).toHaveLength(1);
    expect(a.subagents[0]).toMatchObject({ agent_id: 'agent-a1b2c3d4', agent_type: 'Explore', stopped_at: null });
    expect(Date.parse(a.subagents[0].started_at)).toBeGreaterThan(0);

    await at('SubagentStop');
    a = (await agentOf(c, s)).agent;
    expect(a.subagents).toHaveLength(1);
    expect(Date.parse(a.subagents[0].stopped_at)).toBeGreaterThan(0);

    // An event nobody knows yet: accepted, its name kept, its fields not.
    await at('FutureEvent');
    a = (await agentOf(c, s)).agent;
    expect(a.last_event).toBe('TranscriptRewound');
    expect(a.status).toBe('idle');
    expect(JSON.stringify(a)).not.toContain('rewound_to_message');

    await at('SessionEnd');
    a = (await agentOf(c, s)).agent;
    expect(a.status).toBe('offline');
    expect(a.ended_reason).toBe('prompt_input_exit');
  });

  it('registers a session it never saw on any event (hooks installed mid-session)', async () => {
    const s = newSession();
    expect((await c.get(`/api/agents/cc_${s}`)).status).toBe(404);
    await send(c, 'PreToolUse.Bash', s);
    const a = (await agentOf(c, s)).agent;
    expect(a).toMatchObject({ source: 'claude-code', session_id: s, status: 'working', activity: { tool: 'Bash', target: 'npm test -- --run' } });
    expect(a.project).toBeNull(); // /home/dev/projects/webapp is in no repository here
  });

  it('turns agent-team tasks into work items created, claimed and completed by the session', async () => {
    const s = newSession();
    const team = `team-${s.slice(-4)}`;
    await send(c, 'SessionStart', s);
    await send(c, 'TaskCreated', s, { team_name: team });
    const workId = `cc_task_${team}_task-001`;
    let w = (await c.get(`/api/work/${workId}`)).body.work;
    expect(w).toMatchObject({ agent_id: `cc_${s}`, status: 'claimed', description: 'Implement user authentication', work_type: 'claude_code_task' });
    expect((await agentOf(c, s)).claims).toEqual([workId]);
    await send(c, 'TaskCompleted', s, { team_name: team });
    w = (await c.get(`/api/work/${workId}`)).body.work;
    expect(w.status).toBe('completed');
    expect((await c.get(`/api/work?status=completed&agent_id=cc_${s}`)).body.work.map((x: { work_item_id: string }) => x.work_item_id)).toEqual([workId]);
  });

  it("SessionEnd releases the session's claims with reason session_ended", async () => {
    const s = newSession();
    await send(c, 'SessionStart', s);
    for (const id of [`end_a_${s}`, `end_b_${s}`]) expect((await c.post('/api/coordination/claim', { work_id: id, agent_id: `cc_${s}` })).status).toBe(200);
    expect((await agentOf(c, s)).claims).toHaveLength(2);
    await send(c, 'SessionEnd', s);
    for (const id of [`end_a_${s}`, `end_b_${s}`]) {
      const w = (await c.get(`/api/work/${id}`)).body.work;
      expect(w).toMatchObject({ status: 'released', agent_id: null, previous_agent_id: `cc_${s}`, release_reason: 'session_ended' });
    }
    const after = await agentOf(c, s);
    expect(after.claims).toEqual([]);
    expect(after.agent.status).toBe('offline');
  });

  it('counts waiting sessions in the agents-by-status metric and exports the longest wait', async () => {
    const metric = async (re: RegExp) => Number(re.exec((await c.get('/metrics')).body)?.[1] ?? NaN);
    const waitingCount = () => metric(/^coordination_agents\{status="needs_input"\} (\S+)$/m);
    const longest = () => metric(/^coordination_agents_longest_wait_seconds (\S+)$/m);
    const heartbeats = () => metric(/^coordination_heartbeats_total (\S+)$/m);
    expect(await waitingCount()).toBe(0);
    expect(await longest()).toBe(0);
    const beats = await heartbeats();
    const s = newSession();
    await send(c, 'Notification.permission_prompt', s);
    expect(await waitingCount()).toBe(1);
    await expect.poll(longest, { timeout: 10_000, interval: 200 }).toBeGreaterThanOrEqual(1);
    await send(c, 'Stop', s);
    expect(await waitingCount()).toBe(0);
    expect(await longest()).toBe(0);
    expect(await heartbeats()).toBe(beats + 2); // each hook event is a sign of life (NoHeartbeats stays quiet)
  });

  it("takes a PostToolUse carrying a large tool response (above the other routes' body limit) and keeps none of it", async () => {
    const s = newSession();
    const big = 'line of output from a long file\n'.repeat(8000); // ~250 KB
    await send(c, 'PostToolUse', s, {
      tool_name: 'Read',
      tool_input: { file_path: '/w/big.log' },
      tool_response: { type: 'text', file: { filePath: '/w/big.log', content: big } },
    });
    const res = await c.get(`/api/agents/cc_${s}`);
    expect(res.body.agent.activity).toMatchObject({ tool: 'Read', target: '/w/big.log' });
    expect(JSON.stringify(res.body).length).toBeLessThan(4000);
  });

  it('refuses bad input with {error, message} and changes nothing', async () => {
    const s = newSession();
    const before = (await c.get('/api/coordination/status')).body.revision;
    const good = fixture('PreToolUse.Edit', { session_id: s });
    const cases: Array<[string, string | Buffer, number]> = [
      ['an array', '[1,2]', 400],
      ['a string', '"PreToolUse"', 400],
      ['not JSON', '{"session_id": ', 400],
      ['no session_id', JSON.stringify({ ...good, session_id: undefined }), 400],
      ['an empty session_id', JSON.stringify({ ...good, session_id: '' }), 400],
      ['a session_id with ..', JSON.stringify({ ...good, session_id: 'a/../b' }), 400],
      ['a numeric session_id', JSON.stringify({ ...good, session_id: 42 }), 400],
      ['a session_id too long', JSON.stringify({ ...good, session_id: 'x'.repeat(200) }), 400],
      ['no event name', JSON.stringify({ ...good, hook_event_name: undefined }), 400],
      ['an odd event name', JSON.stringify({ ...good, hook_event_name: 'Pre Tool Use' }), 400],
      ['a numeric cwd', JSON.stringify({ ...good, cwd: 7 }), 400],
      ['a cwd of 5000 characters', JSON.stringify({ ...good, cwd: '/' + 'a'.repeat(5000) }), 400],
      ['a body of 3 MB', JSON.stringify({ ...good, tool_response: 'x'.repeat(3 * 1024 * 1024) }), 413],
    ];
    for (const [what, raw, status] of cases) {
      // The oversized body is refused by its content-length, before it is read.
      const big = Buffer.byteLength(raw) > 2 * 1024 * 1024;
      const res = big
        ? await postAnnouncingBody(d.url, HOOK, { 'content-type': 'application/json' }, Buffer.byteLength(raw))
        : await c.request('POST', HOOK, undefined, { 'content-type': 'application/json' }, raw);
      expect(res.status, what).toBe(status);
      expect(typeof res.body.error, what).toBe('string');
      expect(typeof res.body.message, what).toBe('string');
    }
    expect((await c.get(`/api/agents/cc_${s}`)).status).toBe(404);
    expect((await c.get('/api/coordination/status')).body.revision).toBe(before);
  });
});

describe('leases of Claude Code sessions', () => {
  let d: DaemonHandle;
  let c: HttpClient;
  beforeAll(async () => {
    d = await startDaemon({ args: ['--lease-ms', '1000'] });
    c = new HttpClient(d.url);
  });
  afterAll(async () => {
    c.close();
    expect(await d.stop()).toBe(0);
  });

  it('a session waiting for input keeps its claim; one gone silent while working loses it', async () => {
    const waiting = newSession();
    const silent = newSession();
    // The waiting session's last sign of life comes first: when the silent one's lease has run
    // out, the waiting one's has too, and only the exemption keeps its claim.
    // Waiting before it claims: no window in which a slow machine could expire the claim first.
    await send(c, 'UserPromptSubmit', waiting);
    await send(c, 'Notification.permission_prompt', waiting);
    expect((await c.post('/api/coordination/claim', { work_id: 'wait_item', agent_id: `cc_${waiting}` })).status).toBe(200);
    await send(c, 'UserPromptSubmit', silent);
    expect((await c.post('/api/coordination/claim', { work_id: 'silent_item', agent_id: `cc_${silent}` })).status).toBe(200);
    await send(c, 'PreToolUse.Bash', silent);

    await expect.poll(async () => (await c.get('/api/work/silent_item')).body.work.status, { timeout: 15_000, interval: 100 }).toBe('released');
    expect((await c.get('/api/work/silent_item')).body.work.release_reason).toBe('lease_expired');
    // Several sweeps later still held: wait until the sweeper has run past another lease period.
    const expiries = () => d.logs.filter((l) => l.includes('lease expired')).length;
    const seen = expiries();
    expect((await c.post('/api/coordination/claim', { work_id: 'probe_item', agent_id: 'probe_agent' })).status).toBe(200);
    await expect.poll(async () => (await c.get('/api/work/probe_item')).body.work.status, { timeout: 15_000, interval: 100 }).toBe('released');
    // The expiry is logged once durable, a little after the release is visible.
    await expect.poll(expiries, { timeout: 15_000, interval: 100 }).toBeGreaterThan(seen);
    let w = (await c.get('/api/work/wait_item')).body.work;
    expect(w).toMatchObject({ status: 'claimed', agent_id: `cc_${waiting}` });
    expect((await agentOf(c, waiting)).agent.status).toBe('needs_input');

    // Answered, working again, then silent: now it loses the claim like any agent.
    await send(c, 'PostToolUse', waiting);
    await expect.poll(async () => (await c.get('/api/work/wait_item')).body.work.status, { timeout: 15_000, interval: 100 }).toBe('released');
    w = (await c.get('/api/work/wait_item')).body.work;
    expect(w).toMatchObject({ release_reason: 'lease_expired', previous_agent_id: `cc_${waiting}` });
  });
});

describe('with a token', () => {
  let d: DaemonHandle;
  let c: HttpClient;
  beforeAll(async () => {
    d = await startDaemon({ env: { AI_PROCESSOR_TOKEN: 'hook-secret' } });
    c = new HttpClient(d.url);
  });
  afterAll(async () => {
    c.close();
    expect(await d.stop()).toBe(0);
  });

  it('refuses hooks without the token and takes them with it', async () => {
    const s = newSession();
    for (const auth of [undefined, 'Bearer wrong', 'hook-secret']) {
      const res = await c.post(HOOK, fixture('SessionStart', { session_id: s }), auth ? { authorization: auth } : {});
      expect(res.status).toBe(401);
      expect(res.body.error).toBe('unauthorized');
    }
    expect((await c.get(`/api/agents/cc_${s}`)).status).toBe(404);
    await send(c, 'SessionStart', s, {}, { authorization: 'Bearer hook-secret' });
    expect((await agentOf(c, s)).agent.status).toBe('idle');
  });

  it('the handler `hooks install` writes reaches the daemon with the token taken from the environment', async () => {
    const file = path.join(tempDir('aip-cc-set-'), 'settings.json');
    const install = await runCli(['hooks', 'install', '--settings', file, '--url', d.url], { AI_PROCESSOR_TOKEN: 'hook-secret' });
    expect(install.code, install.stderr).toBe(0);
    const handler = JSON.parse(readFileSync(file, 'utf8')).hooks.PreToolUse[0].hooks[0];
    // As Claude Code sends it: the body to `url`, header values with $VAR filled only from allowedEnvVars.
    const env: Record<string, string> = { AI_PROCESSOR_TOKEN: 'hook-secret', HOME: '/root' };
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(handler.headers as Record<string, string>)) {
      headers[k] = v.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_m, name: string) => (handler.allowedEnvVars.includes(name) ? (env[name] ?? '') : ''));
    }
    const s = newSession();
    const url = new URL(handler.url);
    const res = await c.post(url.pathname, fixture('PreToolUse.Edit', { session_id: s }), headers);
    expect(res.status).toBe(200);
    expect((await agentOf(c, s)).agent.activity.tool).toBe('Edit');
    expect(handler.timeout).toBe(5);
  });
});
