import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { CoordinationState, JsonObject } from '../shared/types.js';
import { analyzeBuiltin, toPlainState, type AnalysisResult } from '../shared/builtin-analysis.js';
import { extractJson, unwrapClaudeEnvelope } from '../daemon/analyzer/claude.js';
import { resolveAnalyzerMode, type AnalyzerOptions } from '../daemon/analyzer/analyzer.js';
import { analyzerRoutes } from '../daemon/analyzer/routes.js';
import { eventually, isAlive, quietLogger, testApp } from './fixtures/http-app.js';
import { startDaemon, tempDir, type DaemonHandle } from './helpers/daemon.js';

const FIX = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const sh = (script: string, ...args: string[]): string => ['sh', join(FIX, script), ...args].map((a) => `'${a}'`).join(' ');
const NOW = Date.parse('2026-11-24T12:00:00Z');
const hoursAgo = (h: number): string => new Date(NOW - h * 3600_000).toISOString();
// No claude-analyze-priorities on this PATH: the default must be the builtin analyzer.
const CLEAN_ENV = { ...process.env, PATH: '/usr/bin:/bin' };

function state(work: JsonObject[], agents: JsonObject[]): CoordinationState {
  const s: CoordinationState = { work: {}, agents: {}, log: {} };
  work.forEach((d, i) => (s.work[d.work_item_id as string] = { v: 1, rev: i + 1, data: d }));
  agents.forEach((d, i) => (s.agents[d.agent_id as string] = { v: 1, rev: 100 + i, data: d }));
  return s;
}

// Two teams with work (alpha, beta), beta's only agent offline; gamma has spare capacity and no work.
const KNOWN = state(
  [
    { work_item_id: 'work_crit', status: 'pending', priority: 'critical', team: 'alpha', work_type: 'fix', created_at: hoursAgo(1) },
    { work_item_id: 'work_high_old', status: 'pending', priority: 'high', team: 'beta', work_type: 'feature', created_at: hoursAgo(48) },
    { work_item_id: 'work_high_new', status: 'pending', priority: 'high', team: 'alpha', work_type: 'feature', created_at: hoursAgo(0.25) },
    { work_item_id: 'work_low_ancient', status: 'pending', priority: 'low', team: 'alpha', created_at: hoursAgo(24 * 100) },
    // Legacy: unknown priority, no created_at, age from the nanosecond id; claimable because no agent holds it.
    { work_item_id: `work_${(NOW - 2 * 3600_000) * 1e6}`, agent_id: null, status: 'active', priority: 'test', team: 'alpha' },
    { work_item_id: 'work_held', agent_id: 'agent_a1', status: 'in_progress', priority: 'critical', team: 'alpha', claimed_at: hoursAgo(3) },
    { work_item_id: 'work_done', agent_id: 'agent_a2', status: 'completed', priority: 'critical', team: 'alpha' },
  ],
  [
    { agent_id: 'agent_a1', team: 'alpha', status: 'active', capacity: 100, current_workload: 0 }, // holds work_held: 75 spare
    { agent_id: 'agent_a2', team: 'alpha', status: 'active', capacity: 100, current_workload: 100 }, // full
    { agent_id: 'agent_b1', team: 'beta', status: 'offline', capacity: 100, current_workload: 0 },
    { agent_id: 'agent_c1', team: 'gamma', status: 'active', capacity: 50 }, // 50 spare
  ],
);
const LEGACY_ID = Object.keys(KNOWN.work)[4];

describe('builtin analyzer', () => {
  const result = analyzeBuiltin(toPlainState(KNOWN)!, { now: NOW });

  it('ranks claimable work by priority class, then age and team load', () => {
    expect(result.priorities.map((p) => p.work_id)).toEqual(['work_crit', 'work_high_old', 'work_high_new', LEGACY_ID, 'work_low_ancient']);
    const scores = result.priorities.map((p) => p.score);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    // 100 days of waiting do not lift low work above medium work.
    expect(result.priorities.at(-1)!.score).toBeLessThan(result.priorities.at(-2)!.score);
    // Older high work beats newer high work; beta (no free slot) adds load pressure.
    expect(result.priorities[1].reason).toMatch(/high priority; waiting 2 days; team beta: 1 claimable for 0 free slots/);
    const legacy = result.priorities.find((p) => p.work_id === LEGACY_ID)!;
    expect(legacy.priority).toBe('medium');
    expect(legacy.reason).toContain('priority "test" unknown');
    expect(legacy.age_s).toBe(7200);
  });

  it('leaves held and finished work out and counts everything', () => {
    expect(result.priorities.map((p) => p.work_id)).not.toContain('work_held');
    expect(result.analysis.work).toEqual({
      total: 7,
      claimable: 5,
      held: 1,
      finished: 1,
      by_priority: { critical: 1, high: 2, medium: 1, low: 1 },
      oldest_claimable_age_s: 100 * 86400,
    });
    expect(result.analysis.agents).toMatchObject({ total: 4, available: 3, with_spare_capacity: 2 });
  });

  it('assigns agents with spare capacity, same team first, and reports what it cannot place', () => {
    // a1 has 3 slots (75 spare), c1 2 slots (50 spare), a2 none, b1 offline: 5 slots for 5 items.
    expect(result.assignments.map((a) => [a.work_id, a.agent_id])).toEqual([
      ['work_crit', 'agent_a1'], // same team
      ['work_high_old', 'agent_c1'], // beta has nobody: idle gamma lends before busy alpha
      ['work_high_new', 'agent_a1'],
      [LEGACY_ID, 'agent_a1'],
      ['work_low_ancient', 'agent_c1'], // alpha is full now: borrowed again
    ]);
    expect(result.assignments[4].reason).toBe('no spare capacity in team alpha; agent of team gamma has 25 capacity points spare');
    expect(result.assignments[0].reason).toContain('same team alpha');
    expect(result.assignments[1].reason).toBe('no available agent in team beta; agent of team gamma has 50 capacity points spare');
    expect(result.analysis.bottlenecks).toEqual([
      { team: 'alpha', claimable: 4, free_slots: 3, reason: '4 claimable items for 3 free slots' },
      { team: 'beta', claimable: 1, free_slots: 0, reason: 'no available agent in this team' },
    ]);
    expect(result.analysis.recommendations[0]).toBe('Claim the 1 critical item first: work_crit');
  });

  it('is deterministic and accepts legacy shapes', () => {
    expect(analyzeBuiltin(toPlainState(KNOWN)!, { now: NOW })).toEqual(result);
    expect(result.generated_at).toBe('2026-11-24T12:00:00.000Z');
    expect(result.source).toBe('builtin');
    const claims = Object.values(KNOWN.work).map((e) => e.data);
    const fromArray = analyzeBuiltin(toPlainState(claims)!, { now: NOW });
    expect(fromArray.priorities.map((p) => p.work_id)).toContain('work_crit');
    expect(fromArray.assignments).toEqual([]); // no agents: nobody to assign
    expect(fromArray.analysis.unassigned).toHaveLength(5);
    expect(toPlainState('nope')).toBeNull();
    expect(toPlainState({ foo: 1 })).toBeNull();
  });
});

describe('claude envelope', () => {
  const envelope = (result: string, extra: object = {}) =>
    JSON.stringify({ type: 'result', subtype: 'success', is_error: false, result, session_id: 's1', ...extra });

  it('unwraps a fenced json block inside the result text', () => {
    const { value, meta } = unwrapClaudeEnvelope(envelope('Sure.\n```bash\nls\n```\n```json\n{"analysis": {"x": 1}}\n```\nDone.', { total_cost_usd: 0.01 }));
    expect(value).toEqual({ analysis: { x: 1 } });
    expect(meta).toEqual({ session_id: 's1', total_cost_usd: 0.01 });
  });

  it('takes bare JSON, an unlabelled fence, or the last result of a message array', () => {
    expect(unwrapClaudeEnvelope(envelope('{"a":1}')).value).toEqual({ a: 1 });
    expect(extractJson('```\n[1,2]\n```')).toEqual([1, 2]);
    expect(extractJson('The answer is {"a": {"b": 2}} as asked')).toEqual({ a: { b: 2 } });
    const messages = [{ type: 'system', subtype: 'init' }, { type: 'assistant' }, JSON.parse(envelope('{"b":2}'))];
    expect(unwrapClaudeEnvelope(JSON.stringify(messages)).value).toEqual({ b: 2 });
  });

  it('reports is_error, non-JSON output and JSON-less answers', () => {
    expect(() => unwrapClaudeEnvelope(envelope('Credit balance is too low', { is_error: true }))).toThrow(/reported an error.*Credit balance is too low/);
    expect(() => unwrapClaudeEnvelope(envelope('x', { subtype: 'error_max_turns' }))).toThrow(/error_max_turns/);
    expect(() => unwrapClaudeEnvelope('Error: not logged in')).toThrow(/not JSON/);
    expect(() => unwrapClaudeEnvelope(envelope('No pending work found.'))).toThrow(/holds no JSON/);
    expect(() => unwrapClaudeEnvelope('{"type":"assistant"}')).toThrow(/no result envelope/);
  });
});

describe('mode resolution', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'analyzer-path-'));
    await copyFile(join(FIX, 'analyzer-echo.sh'), join(dir, 'claude-analyze-priorities'));
    await chmod(join(dir, 'claude-analyze-priorities'), 0o755);
  });

  it('prefers an explicit mode, then a command, then claude-analyze-priorities on PATH, then builtin', () => {
    expect(resolveAnalyzerMode({}, CLEAN_ENV)).toEqual({ mode: 'builtin', command: null });
    expect(resolveAnalyzerMode({ mode: 'auto' }, CLEAN_ENV)).toEqual({ mode: 'builtin', command: null });
    expect(resolveAnalyzerMode({}, { PATH: `${dir}:/usr/bin` })).toEqual({ mode: 'command', command: 'claude-analyze-priorities' });
    expect(resolveAnalyzerMode({ mode: 'builtin' }, { PATH: dir })).toEqual({ mode: 'builtin', command: null });
    expect(resolveAnalyzerMode({ command: 'node x.js' }, CLEAN_ENV)).toEqual({ mode: 'command', command: 'node x.js' });
    expect(resolveAnalyzerMode({ command: '/opt/bin/claude --model sonnet' }, CLEAN_ENV).mode).toBe('claude');
    expect(resolveAnalyzerMode({ mode: 'claude' }, CLEAN_ENV)).toEqual({ mode: 'claude', command: 'claude' });
    expect(() => resolveAnalyzerMode({ mode: 'command' }, CLEAN_ENV)).toThrow(/needs --analyzer-command/);
  });

  it('pipes the current state to claude-analyze-priorities found on PATH (the legacy `| jq .analysis` check)', async () => {
    const app = await testApp(analyzerRoutes(opts({ env: { ...process.env, PATH: `${dir}:/usr/bin:/bin` } })));
    try {
      const res = await app.inject({ method: 'POST', url: '/api/claude/analyze-priorities' });
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body.analysis.received).toEqual(KNOWN); // the state went in on stdin, whole
      expect(body.source).toBe('command');
    } finally {
      await app.close();
    }
  });
});

const outcomes: Array<[string, number]> = [];
function opts(extra: Partial<AnalyzerOptions> = {}): AnalyzerOptions {
  return {
    timeoutMs: 10_000,
    maxConcurrent: 2,
    maxQueue: 8,
    getState: () => KNOWN,
    logger: quietLogger,
    env: CLEAN_ENV,
    now: () => NOW,
    onResult: (o, s) => outcomes.push([o, s]),
    ...extra,
  };
}

describe('POST /api/claude/analyze-priorities', () => {
  let app: FastifyInstance | undefined;
  let tmp: string | undefined;
  beforeEach(() => {
    outcomes.length = 0;
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
    if (tmp) await rm(tmp, { recursive: true, force: true });
    tmp = undefined;
  });
  const post = (payload?: object) => app!.inject({ method: 'POST', url: '/api/claude/analyze-priorities', ...(payload ? { payload } : {}) });

  it('answers with the builtin analysis of the current state, or of the given one', async () => {
    app = await testApp(analyzerRoutes(opts()));
    const res = await post();
    expect(res.statusCode).toBe(200);
    const body = res.json<AnalysisResult>();
    expect(body.source).toBe('builtin');
    expect(body.priorities[0].work_id).toBe('work_crit');
    const other = state([{ work_item_id: 'work_only', status: 'pending', priority: 'low' }], []);
    const res2 = await post({ system_state: other });
    expect(res2.json().priorities.map((p: { work_id: string }) => p.work_id)).toEqual(['work_only']);
    expect((await post({ system_state: 42 })).json()).toMatchObject({ error: 'invalid_request' });
    expect(outcomes.map((o) => o[0])).toEqual(['ok', 'ok', 'rejected']);
  });

  it('runs a command: state on stdin, its JSON back, labelled', async () => {
    app = await testApp(analyzerRoutes(opts({ command: sh('analyzer-echo.sh') })));
    const res = await post({ system_state: { work: {}, note: 'hi' } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ analysis: { summary: 'echo', received: { work: {}, note: 'hi' } }, source: 'command' });
    expect(typeof res.json().generated_at).toBe('string');
  });

  it('gives 502 analyzer_failed with the stderr tail on a non-zero exit, and stays healthy', async () => {
    app = await testApp(analyzerRoutes(opts({ command: sh('analyzer-exit3.sh') })));
    const res = await post();
    expect(res.statusCode).toBe(502);
    expect(res.json()).toMatchObject({ error: 'analyzer_failed', message: 'the analyzer exited with code 3', exit_code: 3 });
    expect(res.json().stderr_tail).toContain('fatal: quota exceeded for analyzer');
    const status = await app.inject({ method: 'GET', url: '/api/claude/status' });
    expect(status.json()).toMatchObject({ mode: 'command', running: 0, queued: 0, last_outcome: 'failed' });
  });

  it('gives 502 when the command prints something that is not JSON', async () => {
    app = await testApp(analyzerRoutes(opts({ command: sh('analyzer-garbage.sh') })));
    const res = await post();
    expect(res.statusCode).toBe(502);
    expect(res.json().message).toMatch(/not JSON: "Sure! Here are your priorities/);
    expect(res.json().stderr_tail).toBe('');
  });

  it('gives 504 on timeout and kills the command with its grandchild', async () => {
    tmp = await mkdtemp(join(tmpdir(), 'analyzer-hang-'));
    const pidFile = join(tmp, 'pids');
    app = await testApp(analyzerRoutes(opts({ command: sh('analyzer-hang.sh', pidFile), timeoutMs: 1500 })));
    const res = await post();
    expect(res.statusCode).toBe(504);
    expect(res.json()).toMatchObject({ error: 'analyzer_timeout', message: 'no answer within 1500 ms', stderr_tail: '' });
    const pids = (await readFile(pidFile, 'utf8')).trim().split(' ').map(Number);
    expect(pids).toHaveLength(2);
    expect(await eventually(async () => !(await isAlive(pids[0])) && !(await isAlive(pids[1])))).toBe(true);
    expect(outcomes.map((o) => o[0])).toEqual(['timeout']);
    expect(outcomes[0][1]).toBeGreaterThanOrEqual(1.5);
  });

  it('bounds a flood: 2 running, 8 queued, the rest 429 at once; every accepted request runs once', async () => {
    tmp = await mkdtemp(join(tmpdir(), 'analyzer-flood-'));
    const started = join(tmp, 'started');
    const gate = join(tmp, 'gate');
    app = await testApp(analyzerRoutes(opts({ command: sh('analyzer-gated.sh', started, gate) })));
    const all = Array.from({ length: 20 }, () => post());
    // The first two processes are running and blocked on the gate; nobody else has started.
    expect(await eventually(async () => existsSync(started) && (await readFile(started, 'utf8')).trim().split('\n').length === 2)).toBe(true);
    const status = await app.inject({ method: 'GET', url: '/api/claude/status' });
    expect(status.json()).toMatchObject({ running: 2, queued: 8 });
    expect((await readFile(started, 'utf8')).trim().split('\n')).toHaveLength(2);
    await writeFile(gate, '');
    const results = await Promise.all(all);
    const codes = results.map((r) => r.statusCode);
    expect(codes.filter((c) => c === 200)).toHaveLength(10);
    expect(codes.filter((c) => c === 429)).toHaveLength(10);
    const refused = results.find((r) => r.statusCode === 429)!;
    expect(refused.json()).toMatchObject({ error: 'too_many_requests', running: 2, queued: 8 });
    expect(refused.headers['retry-after']).toBe('1');
    expect((await readFile(started, 'utf8')).trim().split('\n')).toHaveLength(10);
    expect(outcomes.filter((o) => o[0] === 'rejected')).toHaveLength(10);
  });

  describe('claude mode', () => {
    it('calls claude -p <prompt> --output-format json with the state on stdin and unwraps the answer', async () => {
      tmp = await mkdtemp(join(tmpdir(), 'analyzer-claude-'));
      const stdinCopy = join(tmp, 'stdin.json');
      app = await testApp(analyzerRoutes(opts({ mode: 'claude', command: sh('fake-claude.sh'), env: { ...CLEAN_ENV, FAKE_CLAUDE_STDIN: stdinCopy } })));
      const res = await post();
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({
        analysis: { summary: '1 critical item waiting' },
        priorities: [{ work_id: 'work_crit', score: 118 }],
        assignments: [{ work_id: 'work_crit', agent_id: 'agent_a' }],
        source: 'claude',
      });
      expect(JSON.parse(await readFile(stdinCopy, 'utf8'))).toEqual(KNOWN);
    });

    it('reports is_error as 502 with the CLI message', async () => {
      app = await testApp(analyzerRoutes(opts({ mode: 'claude', command: sh('fake-claude.sh'), env: { ...CLEAN_ENV, FAKE_CLAUDE_MODE: 'is_error' } })));
      const res = await post();
      expect(res.statusCode).toBe(502);
      expect(res.json().message).toMatch(/exited with code 1: claude reported an error.*Credit balance is too low/);
    });

    it('reports an answer without JSON as 502', async () => {
      app = await testApp(analyzerRoutes(opts({ mode: 'claude', command: sh('fake-claude.sh'), env: { ...CLEAN_ENV, FAKE_CLAUDE_MODE: 'prose' } })));
      const res = await post();
      expect(res.statusCode).toBe(502);
      expect(res.json().message).toMatch(/holds no JSON: "I could not find any pending work/);
    });
  });
});

describe('POST /api/claude/stream', () => {
  let app: FastifyInstance | undefined;
  let tmp: string | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
    if (tmp) await rm(tmp, { recursive: true, force: true });
    tmp = undefined;
  });
  const streamOpts = (extra: Partial<AnalyzerOptions> = {}) =>
    opts({ streamCommand: `node '${join(FIX, 'stream-echo.mjs')}'`, timeoutMs: 5000, streamRestartMinMs: 20, ...extra });
  const lines = (payload: string) =>
    payload
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
  const stream = (events: unknown[]) => app!.inject({ method: 'POST', url: '/api/claude/stream', payload: { events } });

  it('answers each event with a builtin analysis when no stream command is configured', async () => {
    app = await testApp(analyzerRoutes(opts()));
    const other = state([{ work_item_id: 'work_x', status: 'pending', priority: 'high' }], []);
    const res = await stream([{}, { system_state: other }, { system_state: 'junk' }]);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('application/x-ndjson');
    const [a, b, c, done] = lines(res.payload);
    expect(a).toMatchObject({ seq: 0, ok: true, result: { source: 'builtin' } });
    expect(a.result.priorities[0].work_id).toBe('work_crit');
    expect(b.result.priorities.map((p: { work_id: string }) => p.work_id)).toEqual(['work_x']);
    expect(c).toMatchObject({ seq: 2, ok: false, error: 'invalid_event' });
    expect(done).toEqual({ done: true, count: 3, failed: 1 });
  });

  it('feeds a long-running process JSON lines (JSON or NDJSON body) and returns its answers in order', async () => {
    app = await testApp(analyzerRoutes(streamOpts()));
    const res = await stream([{ n: 1 }, { n: 2 }]);
    const [a, b, done] = lines(res.payload);
    expect([a.seq, a.result.echo, b.seq, b.result.echo]).toEqual([0, { n: 1 }, 1, { n: 2 }]);
    expect(done).toEqual({ done: true, count: 2, failed: 0 });
    const nd = await app.inject({
      method: 'POST',
      url: '/api/claude/stream',
      headers: { 'content-type': 'application/x-ndjson' },
      payload: '{"n":3}\n\n{"n":4}\n',
    });
    const got = lines(nd.payload);
    expect(got.slice(0, 2).map((l) => l.result.echo)).toEqual([{ n: 3 }, { n: 4 }]);
    expect(got[0].result.pid).toBe(a.result.pid); // the same long-running process
    const bad = await app.inject({
      method: 'POST',
      url: '/api/claude/stream',
      headers: { 'content-type': 'application/x-ndjson' },
      payload: '{"n":3}\nnope\n',
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: 'invalid_json', message: 'Line 2 of the NDJSON body is not JSON' });
    expect((await app.inject({ method: 'POST', url: '/api/claude/stream', payload: { nope: 1 } })).statusCode).toBe(400);
  });

  it('restarts the process when it dies, and answers the lost line with an error', async () => {
    app = await testApp(analyzerRoutes(streamOpts()));
    const [a, crashed, done] = lines((await stream([{ n: 1 }, { crash: true }])).payload);
    expect(a.ok).toBe(true);
    expect(crashed).toMatchObject({ seq: 1, ok: false, error: 'analyzer_exited', message: 'the stream analyzer exited with code 1' });
    expect(crashed.stderr_tail).toContain('crashing on request');
    expect(done.failed).toBe(1);
    const [after] = lines((await stream([{ n: 2 }])).payload);
    expect(after).toMatchObject({ ok: true, result: { echo: { n: 2 } } });
    expect(after.result.pid).not.toBe(a.result.pid);
    const status = (await app.inject({ method: 'GET', url: '/api/claude/status' })).json();
    expect(status.stream).toMatchObject({ running: true, restarts: 1, pending: 0, last_exit: { code: 1 } });
  });

  it('kills and restarts a process that leaves a line unanswered; non-JSON lines are errors, order kept', async () => {
    app = await testApp(analyzerRoutes(streamOpts({ timeoutMs: 4000 })));
    const [hung] = lines((await stream([{ hang: true }])).payload);
    expect(hung).toMatchObject({ ok: false, error: 'analyzer_timeout' });
    const [g, ok] = lines((await stream([{ garbage: true }, { n: 5 }])).payload);
    expect(g).toMatchObject({ seq: 0, ok: false, error: 'invalid_output' });
    expect(ok).toMatchObject({ seq: 1, ok: true, result: { echo: { n: 5 } } });
  });

  it('refuses more lines than it may hold pending (429)', async () => {
    app = await testApp(analyzerRoutes(streamOpts({ streamMaxPending: 3 })));
    const res = await stream([1, 2, 3, 4]);
    expect(res.statusCode).toBe(429);
    expect(res.json()).toMatchObject({ error: 'too_many_requests', pending: 0 });
    expect(lines((await stream([1, 2, 3])).payload)).toHaveLength(4);
  });

  it('streams each answer as it arrives over real HTTP (chunked NDJSON)', async () => {
    tmp = await mkdtemp(join(tmpdir(), 'analyzer-stream-'));
    const gate = join(tmp, 'gate');
    app = await testApp(analyzerRoutes(streamOpts()));
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    const res = await fetch(`${base}/api/claude/stream`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ events: [{ n: 1 }, { wait_file: gate }, { n: 3 }] }),
    });
    expect(res.headers.get('transfer-encoding')).toBe('chunked');
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (!text.includes('\n')) text += decoder.decode((await reader.read()).value, { stream: true });
    // The first answer reached us while the second one cannot exist yet (its gate is closed).
    expect(JSON.parse(text.split('\n')[0])).toMatchObject({ seq: 0, result: { echo: { n: 1 } } });
    expect(existsSync(gate)).toBe(false);
    await writeFile(gate, '');
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += decoder.decode(r.value, { stream: true });
    const all = lines(text);
    expect(all.map((l) => l.seq ?? 'done')).toEqual([0, 1, 2, 'done']);
    expect(all[2].result.echo).toEqual({ n: 3 });
  });

  it('stops the stream process when the app closes', async () => {
    app = await testApp(analyzerRoutes(streamOpts()));
    const [a] = lines((await stream([{ n: 1 }])).payload);
    await app.close();
    app = undefined;
    expect(await eventually(async () => !(await isAlive(a.result.pid)))).toBe(true);
  });
});

// `claude -p` reads TRACEPARENT to join its caller's trace: the daemon's run of it must carry the
// trace of the API request that asked for the analysis, under a span of the run itself.
describe('analyzer runs join the request trace (TRACEPARENT)', () => {
  const W3C = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
  const STALE = `00-${'e'.repeat(32)}-${'f'.repeat(16)}-01`;
  let daemon: DaemonHandle;
  let dir: string;
  let seen: string;
  let runs = 0;

  beforeAll(async () => {
    dir = tempDir('aip-traceparent-');
    seen = join(dir, 'traceparent.txt');
    // The daemon's own environment holds a stale TRACEPARENT (say it was started from a Claude Code
    // session): a run must get the request's, never that one.
    daemon = await startDaemon({
      dataDir: join(dir, 'data'),
      args: ['--analyzer-mode', 'claude', '--analyzer-command', sh('fake-claude.sh')],
      env: { FAKE_CLAUDE_TRACEPARENT: seen, TRACEPARENT: STALE },
    });
  });
  afterAll(async () => {
    await daemon?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** One analysis request; the TRACEPARENT its run was given. */
  async function analyze(headers: Record<string, string> = {}) {
    const res = await fetch(`${daemon.url}/api/claude/analyze-priorities`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: '{}',
    });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(((await res.json()) as { source?: string }).source).toBe('claude');
    const lines = (await readFile(seen, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(++runs);
    return { traceparent: lines.at(-1)!, traceId: res.headers.get('x-trace-id')!, spanId: res.headers.get('x-span-id')! };
  }

  const spansOf = async (traceId: string) =>
    ((await (await fetch(`${daemon.url}/api/telemetry/spans?trace_id=${traceId}`)).json()) as { spans: Record<string, unknown>[] }).spans;

  it("is well-formed, in the caller's trace, under a run span that is a child of the request span", async () => {
    const trace = randomBytes(16).toString('hex');
    const caller = randomBytes(8).toString('hex');
    const run = await analyze({ traceparent: `00-${trace}-${caller}-01` });
    const m = W3C.exec(run.traceparent);
    expect(m, run.traceparent).not.toBeNull();
    const [, traceId, spanId, flags] = m!;
    expect(traceId).toBe(trace);
    expect(run.traceId).toBe(trace);
    expect(flags).toBe('01');
    expect([caller, run.spanId]).not.toContain(spanId); // the run's own span
    // The daemon recorded that span, inside the request's: caller -> request span -> run span.
    const spans = await eventually(async () => {
      const all = await spansOf(trace);
      return all.some((s) => s.span_id === run.spanId) && all.some((s) => s.span_id === spanId) ? all : null;
    });
    expect(spans).not.toBeNull();
    const request = spans!.find((s) => s.span_id === run.spanId)!;
    const runSpan = spans!.find((s) => s.span_id === spanId)!;
    expect(request).toMatchObject({ operation_name: 's2s.claude.priority_analysis', parent_span_id: caller });
    expect(runSpan).toMatchObject({ operation_name: 's2s.analyzer.run', parent_span_id: run.spanId, status: 'ok' });
    expect(runSpan.span_attributes).toMatchObject({ 's2s.analyzer.mode': 'claude', 's2s.status': 'success' });
  });

  it("starts from the daemon's own trace when the request brought none", async () => {
    const run = await analyze();
    expect(run.traceparent).not.toBe(STALE);
    const [, traceId, spanId, flags] = W3C.exec(run.traceparent) ?? [];
    expect(traceId).toBe(run.traceId);
    expect(spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(spanId).not.toBe(run.spanId);
    expect(flags).toBe('01');
  });

  it('passes the caller\'s "do not sample" on: same trace, flag 00, parented on the request', async () => {
    const trace = randomBytes(16).toString('hex');
    const run = await analyze({ traceparent: `00-${trace}-${randomBytes(8).toString('hex')}-00` });
    expect(run.traceparent).toBe(`00-${trace}-${run.spanId}-00`);
  });
});
