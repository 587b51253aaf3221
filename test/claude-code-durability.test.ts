// What a Claude Code hook answer promises across a kill -9 of the daemon (docs/claude-code.md,
// "What an answer promises"): a heartbeat (a tool event of a working session) is answered once
// applied, everything else once on disk. Real daemons, real hook payloads, a real git repository.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startDaemon, tempDir } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';
import { hookFixture as fixture } from './helpers/claude-code.js';

type Rec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- answers are read loosely

const HOOK = '/api/hooks/claude-code';
/** A git repository with an origin (the files the sessions edit need not exist: a lease never opens them). */
function makeRepo(): string {
  const repo = path.join(tempDir('aip-hook-durable-'), 'webapp');
  mkdirSync(path.join(repo, 'src'), { recursive: true });
  execFileSync('git', ['init', '-q'], { cwd: repo });
  execFileSync('git', ['remote', 'add', 'origin', 'https://example.test/team/webapp.git'], { cwd: repo });
  return repo;
}

const session = (n: number) => `d0ab1e00-0000-4000-8000-${String(n).padStart(12, '0')}`;

describe('hook answers across a kill -9', () => {
  it('every lease an answered PreToolUse granted is there after the restart, amid heartbeats answered before the disk', async () => {
    const repo = makeRepo();
    const dataDir = tempDir('aip-hook-durable-data-');
    const d = await startDaemon({ dataDir });
    const sessions = Array.from({ length: 6 }, (_, i) => session(100 + i));
    const clients = sessions.map(() => new HttpClient(d.url));
    const granted = new Map<string, string[]>(); // agent -> paths answered "allowed" on a first edit
    for (const [i, s] of sessions.entries()) {
      expect((await clients[i].post(HOOK, fixture('SessionStart', { session_id: s, cwd: repo }))).status).toBe(200);
      expect((await clients[i].post(HOOK, fixture('UserPromptSubmit', { session_id: s, cwd: repo }))).status).toBe(200);
      granted.set(`cc_${s}`, []);
    }
    let stop = false;
    const workers = sessions.map(async (s, i) => {
      const c = clients[i];
      const post = (name: string, overrides: Record<string, unknown>) => c.post(HOOK, fixture(name, { session_id: s, cwd: repo, ...overrides }));
      for (let n = 0; !stop; n++) {
        const file = `src/s${i}/f${n}.ts`;
        const editOf = { tool_name: 'Edit', tool_input: { file_path: path.join(repo, file), old_string: 'a', new_string: 'b' } };
        try {
          const first = await post('PreToolUse.Edit', editOf);
          if (first.status !== 200) continue;
          expect(first.body).toEqual({}); // nobody else edits these files: allowed, under a new lease
          granted.get(`cc_${s}`)!.push(file);
          // Heartbeats (answered once applied): the edit again (its own lease covers it), a command.
          await post('PostToolUse', { ...editOf, tool_response: { filePath: path.join(repo, file), success: true } });
          await post('PreToolUse.Edit', editOf);
          await post('PreToolUse.Bash', { tool_input: { command: `npm test -- ${n}` } });
        } catch {
          return; // the connection was cut by the kill
        }
      }
    });
    // Killed after a varying amount of granted leases (not after a fixed time: the machine may be busy).
    const total = () => [...granted.values()].reduce((a, l) => a + l.length, 0);
    const target = 40 + Math.floor(Math.random() * 40);
    await expect.poll(total, { timeout: 60_000, interval: 5 }).toBeGreaterThanOrEqual(target);
    d.proc.kill('SIGKILL');
    stop = true;
    await Promise.all(workers);
    await d.exited;
    clients.forEach((c) => c.close());

    const again = await startDaemon({ dataDir });
    const c = new HttpClient(again.url);
    try {
      for (const [agent, files] of granted) {
        const res = await c.get(`/api/paths?agent_id=${agent}`);
        expect(res.status).toBe(200);
        const held = new Set((res.body.leases as Rec[]).map((l) => l.path));
        for (const f of files) expect(held.has(f), `${agent} ${f}`).toBe(true);
        // The session's registration and its status change waited for the disk too.
        expect((await c.get(`/api/agents/${agent}`)).body.agent).toMatchObject({ source: 'claude-code', status: 'working' });
      }
    } finally {
      c.close();
      await again.stop();
    }
  });

  it('a heartbeat answered before the disk is there after a kill once a later answer of the session waited for it', async () => {
    const dataDir = tempDir('aip-hook-order-');
    const d = await startDaemon({ dataDir });
    const c = new HttpClient(d.url);
    const s = session(1);
    const send = async (name: string, overrides: Record<string, unknown> = {}) => {
      const res = await c.post(HOOK, fixture(name, { session_id: s, ...overrides }));
      expect(res.status).toBe(200);
    };
    await send('SessionStart');
    await send('UserPromptSubmit');
    await send('PreToolUse.Bash', { tool_input: { command: 'make check-order' } }); // a heartbeat
    await send('Notification.permission_prompt'); // a status change: answered once on disk, after the heartbeat's record
    d.proc.kill('SIGKILL');
    await d.exited;
    c.close();
    const again = await startDaemon({ dataDir });
    const c2 = new HttpClient(again.url);
    try {
      const agent = (await c2.get(`/api/agents/cc_${s}`)).body.agent;
      expect(agent.status).toBe('needs_input');
      expect(agent.activity).toMatchObject({ tool: 'Bash', target: 'make check-order' });
    } finally {
      c2.close();
      await again.stop();
    }
  });

  it('an answered SessionEnd has released the claims and the path leases for good', async () => {
    const repo = makeRepo();
    const dataDir = tempDir('aip-hook-end-');
    const d = await startDaemon({ dataDir });
    const c = new HttpClient(d.url);
    const s = session(2);
    const agent = `cc_${s}`;
    const send = async (name: string, overrides: Record<string, unknown> = {}) => {
      const res = await c.post(HOOK, fixture(name, { session_id: s, cwd: repo, ...overrides }));
      expect(res.status).toBe(200);
      return res.body as Rec;
    };
    await send('SessionStart');
    expect((await c.post('/api/coordination/claim', { work_id: 'end_durable', agent_id: agent })).status).toBe(200);
    expect(await send('PreToolUse.Edit', { tool_input: { file_path: path.join(repo, 'src/app.ts'), old_string: 'a', new_string: 'b' } })).toEqual({});
    expect((await c.get(`/api/paths?agent_id=${agent}`)).body.leases).toHaveLength(1);
    await send('SessionEnd');
    d.proc.kill('SIGKILL');
    await d.exited;
    c.close();
    const again = await startDaemon({ dataDir });
    const c2 = new HttpClient(again.url);
    try {
      expect((await c2.get(`/api/agents/${agent}`)).body.agent.status).toBe('offline');
      expect((await c2.get('/api/work/end_durable')).body.work).toMatchObject({ status: 'released', agent_id: null, release_reason: 'session_ended' });
      expect((await c2.get(`/api/paths?agent_id=${agent}`)).body.leases).toEqual([]);
    } finally {
      c2.close();
      await again.stop();
    }
  });
});
