// bin/coordination_helper.sh against a real daemon: the legacy subcommands, their key output lines,
// their effects on the legacy data files (written by the daemon, coalesced: polled here), the exit
// codes (a refused claim exits 1, unlike the legacy helper), and the seed's end-to-end flow.
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StreamClient } from '../client/stream-client.js';
import { eventually } from './fixtures/http-app.js';
import { ROOT, runCli, startDaemon, tempDir, type DaemonHandle } from './helpers/daemon.js';
import type { JsonResponse } from './helpers/http.js';

const HELPER = path.join(ROOT, 'bin/coordination_helper.sh');
const LEGACY_ENV = ['AGENT_ID', 'AGENT_TEAM', 'AGENT_ROLE', 'COORDINATION_DIR', 'CURRENT_WORK_ITEM', 'AI_PROCESSOR_TOKEN', 'AI_PROCESSOR_URL'];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  lines: string[];
}

/** Runs bin/coordination_helper.sh with a clean legacy environment plus `env`. */
function helper(url: string, args: string[], env: Record<string, string> = {}, input = ''): Promise<Run> {
  const e: NodeJS.ProcessEnv = { ...process.env };
  for (const k of LEGACY_ENV) delete e[k];
  Object.assign(e, { AI_PROCESSOR_URL: url }, env);
  return new Promise((resolve) => {
    const p = spawn(HELPER, args, { env: e, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c) => (stdout += c));
    p.stderr.on('data', (c) => (stderr += c));
    p.stdin.end(input);
    p.on('exit', (code) => resolve({ code, stdout, stderr, lines: (stdout + stderr).split('\n') }));
  });
}

type Rec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- legacy JSON records of any shape, compared field by field

function readJson(dir: string, file: string): Rec[] | null {
  try {
    return JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
  } catch {
    return null; // not written yet
  }
}

/** Polls a legacy file until `find` returns something (the daemon rewrites the files within ~100-500 ms). */
async function inFile(dir: string, file: string, find: (records: Rec[]) => Rec | undefined): Promise<Rec | undefined> {
  let found: Rec | undefined;
  // Generous: the file is rewritten in the background, paced, and a loaded 2-core machine is slow.
  await eventually(() => (found = find(readJson(dir, file) ?? [])) !== undefined, 20_000);
  return found;
}

function readText(dir: string, file: string): string {
  try {
    return readFileSync(path.join(dir, file), 'utf8');
  } catch {
    return '';
  }
}

const OLD_VELOCITY = '2025-06-15T16:16:18Z: Team autonomous_team +8 velocity points\n';

describe('coordination_helper.sh against the daemon', () => {
  let d: DaemonHandle;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = tempDir('aip-legacy-');
    // A legacy velocity log already in place: the daemon appends to it, never rewrites it.
    writeFileSync(path.join(dataDir, 'velocity_log.txt'), OLD_VELOCITY);
    d = await startDaemon({ dataDir });
  });
  afterAll(async () => {
    expect(await d.stop()).toBe(0);
  });

  it('claim, progress, complete: legacy lines, work_<ns>/agent_<ns> ids, and the four data files', async () => {
    const claim = await helper(d.url, ['claim', 'testing', 'legacy compat check', 'high', 'qa_team']);
    expect(claim.code).toBe(0);
    expect(claim.stdout).toMatch(/^🔍 Trace ID: [0-9a-f]{32}$/m);
    const m = /^🤖 Agent (agent_\d{19}) claiming work: (work_\d{19})$/m.exec(claim.stdout);
    expect(m).not.toBeNull();
    const [, agentId, workId] = m!;
    expect(claim.lines).toContain(`✅ SUCCESS: Claimed work item ${workId} for team qa_team`);
    expect(claim.lines).toContain(`🔧 REGISTERED: Agent ${agentId} in team qa_team with 100% capacity`);
    const claimed = await inFile(dataDir, 'work_claims.json', (r) => r.find((w) => w.work_item_id === workId));
    expect(claimed).toMatchObject({
      agent_id: agentId,
      work_type: 'testing',
      description: 'legacy compat check',
      priority: 'high',
      team: 'qa_team',
      status: 'claimed',
    });
    expect(await inFile(dataDir, 'agent_status.json', (r) => r.find((a) => a.agent_id === agentId))).toMatchObject({
      team: 'qa_team',
      status: 'active',
      capacity: 100,
    });

    // Without AGENT_ID (the legacy helper's AGENT_ID never outlived its process) progress acts for the holder.
    const prog = await helper(d.url, ['progress', workId, '40', 'testing_phase']);
    expect(prog.code).toBe(0);
    expect(prog.lines).toContain(`📈 PROGRESS: Updated ${workId} to 40% (testing_phase)`);
    expect(await inFile(dataDir, 'work_claims.json', (r) => r.find((w) => w.work_item_id === workId && w.progress === 40))).toMatchObject({
      status: 'testing_phase',
    });

    const done = await helper(d.url, ['complete', workId, 'all good', '8'], { AGENT_ID: agentId });
    expect(done.code).toBe(0);
    expect(done.lines).toContain(`✅ COMPLETED: Released claim for ${workId} (all good) - 8 velocity points`);
    expect(done.lines).toContain('📊 VELOCITY: Added 8 points to team qa_team velocity');
    expect(await inFile(dataDir, 'coordination_log.json', (r) => r.find((l) => l.work_item_id === workId))).toMatchObject({
      agent_id: agentId,
      result: 'all good',
      velocity_points: 8,
    });
    expect(await inFile(dataDir, 'work_claims.json', (r) => r.find((w) => w.work_item_id === workId && w.status === 'completed'))).toMatchObject({
      result: 'all good',
      progress: 100,
    });
    // velocity_log.txt: the old line kept byte for byte, the new one appended.
    expect(await eventually(() => readText(dataDir, 'velocity_log.txt').split('\n').length === 3, 5000)).toBe(true);
    const velocity = readText(dataDir, 'velocity_log.txt');
    expect(velocity.startsWith(OLD_VELOCITY)).toBe(true);
    expect(velocity.slice(OLD_VELOCITY.length)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ: Team qa_team \+8 velocity points\n$/);
  });

  it('a completion a legacy script wrote into coordination_log.json itself gets no second velocity line', async () => {
    const before = readText(dataDir, 'velocity_log.txt');
    const countLog = async () => ((await (await fetch(`${d.url}/api/coordination/status`)).json()) as JsonResponse['body']).counts.log as number;
    const logCount = await countLog();
    const file = path.join(dataDir, 'coordination_log.json');
    const log = readJson(dataDir, 'coordination_log.json') ?? [];
    log.push({ work_item_id: 'work_by_script', completed_at: '2026-01-01T00:00:00Z', agent_id: 'script_agent', result: 'success', velocity_points: 2 });
    // What the legacy helper does: jq into a temp file, mv over the original, then append its own line.
    writeFileSync(file + '.tmp', JSON.stringify(log, null, 2));
    renameSync(file + '.tmp', file);
    appendFileSync(path.join(dataDir, 'velocity_log.txt'), '2026-01-01T00:00:00Z: Team script_team +2 velocity points\n');
    expect(await eventually(async () => (await countLog()) === logCount + 1, 5000)).toBe(true);
    // A completion through the API after it: the daemon appends velocity lines in commit order, so
    // once this one's line is there, a line for the script's entry would be there before it.
    const post = (route: string, body: object) =>
      fetch(`${d.url}/api/coordination/${route}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await post('claim', { work_id: 'velocity_marker', agent_id: 'marker_agent', team: 'marker_team' })).status).toBe(200);
    expect((await post('complete', { work_id: 'velocity_marker', agent_id: 'marker_agent', result: 'ok', velocity_points: 0 })).status).toBe(200);
    expect(await eventually(() => readText(dataDir, 'velocity_log.txt').includes('Team marker_team +0 velocity points'), 5000)).toBe(true);
    const added = readText(dataDir, 'velocity_log.txt').slice(before.length).split('\n').filter(Boolean);
    expect(added).toEqual([
      '2026-01-01T00:00:00Z: Team script_team +2 velocity points',
      expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ: Team marker_team \+0 velocity points$/),
    ]);
  });

  it('register <agent_id> [team] [capacity] [specialization]; AGENT_TEAM and AGENT_ROLE as defaults', async () => {
    const reg = await helper(d.url, ['register', 'reg_agent', 'backend', '80', 'api_dev']);
    expect(reg.code).toBe(0);
    expect(reg.stdout.trim()).toBe('🔧 REGISTERED: Agent reg_agent in team backend with 80% capacity');
    expect(await inFile(dataDir, 'agent_status.json', (r) => r.find((a) => a.agent_id === 'reg_agent'))).toMatchObject({
      team: 'backend',
      capacity: 80,
      specialization: 'api_dev',
      status: 'active',
    });

    const byEnv = await helper(d.url, ['register', 'env_agent'], { AGENT_TEAM: 'platform', AGENT_ROLE: 'sre' });
    expect(byEnv.stdout.trim()).toBe('🔧 REGISTERED: Agent env_agent in team platform with 100% capacity');
    expect(await inFile(dataDir, 'agent_status.json', (r) => r.find((a) => a.agent_id === 'env_agent'))).toMatchObject({
      team: 'platform',
      specialization: 'sre',
    });
  });

  it('a conflicting claim prints CONFLICT and exits 1 (the legacy helper exited 0); the holder keeps the item', async () => {
    const first = await helper(d.url, ['claim', 'bugfix', 'contested', 'medium', 'backend', '--work-id', 'contested_1'], { AGENT_ID: 'holder_1' });
    expect(first.code).toBe(0);
    expect(first.lines).toContain('✅ SUCCESS: Claimed work item contested_1 for team backend');
    const second = await helper(d.url, ['claim', 'bugfix', 'contested', 'medium', 'backend', '--work-id', 'contested_1'], { AGENT_ID: 'rival_1' });
    expect(second.code).toBe(1);
    expect(second.lines).toContain('⚠️ CONFLICT: Work item contested_1 is already claimed by holder_1');
    expect(second.stdout).not.toMatch(/SUCCESS/);
    // A non-holder's progress is refused too, and nothing changes.
    const prog = await helper(d.url, ['progress', 'contested_1', '90'], { AGENT_ID: 'rival_1' });
    expect(prog.code).toBe(1);
    expect(prog.stderr).toMatch(/CONFLICT: progress on contested_1 refused: .*not_claim_holder/);
    const res = await fetch(`${d.url}/api/work/contested_1`);
    expect(((await res.json()) as JsonResponse['body']).work).toMatchObject({ agent_id: 'holder_1', status: 'claimed' });
  });

  it('usage errors exit 2, unknown items exit 1, an unreachable daemon exits 3; generate-id and help exit 0', async () => {
    const badPriority = await helper(d.url, ['claim', 'bugfix', 'x', 'urgent']);
    expect(badPriority.code).toBe(2);
    expect(badPriority.stderr).toMatch(/❌ ERROR: priority must be one of low, medium, high, critical/);
    expect((await helper(d.url, ['progress', 'w', 'lots'])).code).toBe(2);
    const noId = await helper(d.url, ['complete']);
    expect(noId.code).toBe(2);
    expect(noId.stderr).toContain('❌ ERROR: No work item ID specified');
    const unknown = await helper(d.url, ['complete', 'no_such_item']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('❌ ERROR: Work item no_such_item not found');
    expect((await helper(d.url, ['frobnicate'])).code).toBe(2);
    const gone = await helper('http://127.0.0.1:9', ['register', 'x']);
    expect(gone.code).toBe(3);
    expect(gone.stderr).toMatch(/cannot reach ai-processor/);
    const id = await helper('http://127.0.0.1:9', ['generate-id']);
    expect(id.code).toBe(0);
    expect(id.stdout).toMatch(/^agent_\d{19}\n$/);
    const help = await helper(d.url, ['help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('claude-analyze-priorities');
    // Dashes: an unknown option-like word stays an argument, as in the legacy helper; after `--`
    // even our own option names do.
    const dashy = await helper(d.url, ['claim', 'docs', '--verbose', 'low'], { AGENT_ID: 'dash_agent' });
    expect(dashy.code).toBe(0);
    const wid = /claiming work: (work_\d+)/.exec(dashy.stdout)![1];
    expect(await inFile(dataDir, 'work_claims.json', (r) => r.find((w) => w.work_item_id === wid))).toMatchObject({
      description: '--verbose',
      priority: 'low',
    });
    const escaped = await helper(d.url, ['claim', '--', 'docs', '--json', 'low'], { AGENT_ID: 'dash_agent' });
    expect(escaped.code).toBe(0);
    const wid2 = /claiming work: (work_\d+)/.exec(escaped.stdout)![1];
    expect(await inFile(dataDir, 'work_claims.json', (r) => r.find((w) => w.work_item_id === wid2))).toMatchObject({ description: '--json', priority: 'low' });
  });

  it('the wrapper works through a symlink (e.g. installed into ~/bin)', async () => {
    const dir = tempDir('aip-link-');
    symlinkSync(HELPER, path.join(dir, 'coordination_helper.sh'));
    const out = await new Promise<string>((resolve) => {
      const p = spawn(path.join(dir, 'coordination_helper.sh'), ['generate-id']);
      let s = '';
      p.stdout.on('data', (c) => (s += c));
      p.on('exit', () => resolve(s));
    });
    expect(out).toMatch(/^agent_\d{19}\n$/);
  });

  it('Claude helpers: priorities saved like the legacy, assignments, team and health analyses, pipe, stream, dashboard', async () => {
    const coordDir = path.join(tempDir('aip-coord-'), 'agent_coordination');
    const env = { COORDINATION_DIR: coordDir };
    await fetch(`${d.url}/api/work`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ work_id: 'crit_1', work_type: 'incident', priority: 'critical', team: 'backend' }),
    });

    const pri = await helper(d.url, ['claude-priorities'], env);
    expect(pri.code).toBe(0);
    const analysis = JSON.parse(pri.stdout);
    expect(analysis.analysis.summary).toMatch(/claimable/);
    expect(analysis.priorities[0]).toMatchObject({ work_id: 'crit_1', priority: 'critical' });
    expect(pri.stderr).toContain('✅ Claude Priority Analysis Complete with validated JSON');
    expect(pri.stderr).toContain('⚡ IMMEDIATE ACTIONS RECOMMENDED:');
    const saved = JSON.parse(readFileSync(path.join(coordDir, 'claude_priority_analysis.json'), 'utf8'));
    expect(saved.priorities[0].work_id).toBe('crit_1');

    const opt = await helper(d.url, ['claude-optimize-assignments', 'backend'], env);
    expect(opt.code).toBe(0);
    const assignments = JSON.parse(opt.stdout);
    expect(assignments.team).toBe('backend');
    expect(assignments.assignments).toContainEqual(expect.objectContaining({ work_id: 'crit_1' }));
    expect(existsSync(path.join(coordDir, 'claude_assignment_optimization.json'))).toBe(true);

    const team = await helper(d.url, ['claude-team-analysis', 'qa_team'], env);
    expect(team.code).toBe(0);
    expect(JSON.parse(team.stdout).teams).toEqual([expect.objectContaining({ team: 'qa_team', velocity: 8, completions: 1 })]);
    expect((await helper(d.url, ['claude-team-analysis', 'no_team'])).code).toBe(1);

    const health = await helper(d.url, ['claude-health'], env);
    expect(health.code).toBe(0);
    const h = JSON.parse(health.stdout);
    // The default service list probes XAVOS on localhost:4002, which is not running here.
    expect(h.services).toContainEqual(expect.objectContaining({ name: 'xavos' }));
    expect(['healthy', 'degraded', 'critical']).toContain(h.system_health);
    expect(h.figures.velocity_total).toBe(10); // 8 through the helper + 2 the "script" wrote
    expect(existsSync(path.join(coordDir, 'claude_health_analysis.json'))).toBe(true);

    const status: JsonResponse['body'] = await (await fetch(`${d.url}/api/coordination/status`)).json();
    const pipe = await helper(d.url, ['pipe', 'priorities'], {}, JSON.stringify(status.state));
    expect(pipe.code).toBe(0);
    const piped = JSON.parse(pipe.stdout);
    expect(piped.type).toBe('priorities');
    expect(piped.actions[0]).toMatch(/^Claim crit_1 /);
    expect((await helper(d.url, ['pipe', 'general'], {}, '')).code).toBe(2); // no input
    expect((await helper(d.url, ['pipe', 'general'], {}, 'not json')).code).toBe(2);

    const stream = await helper(d.url, ['claude-stream', 'backend', '1']);
    expect(stream.code).toBe(0);
    expect(stream.lines[0]).toBe('🔄 Starting real-time Claude coordination stream for 1 seconds...');
    expect(stream.stdout).toMatch(/^⚡ \[.+\] Status: (optimal|warning|critical)$/m);
    expect(stream.stdout).toMatch(/^ {2}💡 Next: .+$/m);
    expect(stream.stdout.trim().split('\n').pop()).toBe('✅ Real-time coordination stream completed');

    const dash = await helper(d.url, ['intelligence'], env);
    expect(dash.code).toBe(0);
    expect(dash.stdout).toContain('🧠 CLAUDE INTELLIGENCE COORDINATION DASHBOARD');
    expect(dash.stdout).toContain('🎯 Work Priority Analysis: Available');
    expect(dash.stdout).toMatch(/1\. crit_1 \(score [\d.]+\)/);
  });
});

describe('Scrum-at-Scale reports from the live state', () => {
  let d: DaemonHandle;
  beforeAll(async () => {
    d = await startDaemon();
  });
  afterAll(async () => {
    expect(await d.stop()).toBe(0);
  });

  it('dashboard and friends report exactly what happened: velocity per team, throughput, load, blocked', async () => {
    const run = (args: string[], env: Record<string, string> = {}) => helper(d.url, args, env);
    await Promise.all([run(['register', 'r_a', 'red', '100']), run(['register', 'r_b', 'blue', '50'])]);
    const items: Array<[string, string, string]> = [
      ['r1', 'r_a', '3'],
      ['r2', 'r_a', '5'],
      ['r3', 'r_b', '13'],
    ];
    await Promise.all(
      items.map(async ([id, agent, points]) => {
        const team = agent === 'r_a' ? 'red' : 'blue';
        expect((await run(['claim', 'feature', `item ${id}`, 'medium', team, '--work-id', id], { AGENT_ID: agent })).code).toBe(0);
        expect((await run(['complete', id, 'success', points], { AGENT_ID: agent })).code).toBe(0);
      }),
    );
    expect((await run(['claim', 'bugfix', 'stuck one', 'high', 'red', '--work-id', 'r4'], { AGENT_ID: 'r_a' })).code).toBe(0);
    expect((await run(['progress', 'r4', '10', 'blocked'], { AGENT_ID: 'r_a' })).code).toBe(0);

    const dash = await run(['dashboard', '--json']);
    expect(dash.code).toBe(0);
    const r = JSON.parse(dash.stdout);
    expect(r.velocity).toMatchObject({ total: 21, completions: 3, sprint: 21, by_team: { blue: 13, red: 8 } });
    expect(r.throughput.total).toBe(3);
    expect(r.throughput.per_day.at(-1).completions).toBe(3);
    expect(r.blocked).toBe(1);
    expect(r.active_work.map((w: { work_id: string }) => w.work_id)).toEqual(['r4']);
    expect(r.teams.find((t: { team: string }) => t.team === 'red')).toMatchObject({ agents: 1, capacity_items: 4, held: 1, utilization: 0.25, velocity: 8 });

    const text = await run(['dashboard']);
    expect(text.stdout).toContain('📊 Total Velocity: 21 story points (3 completions)');
    expect(text.stdout).toContain('🚧 Blocked: 1 | ⏳ Stale: 0');

    const demo = JSON.parse((await run(['system-demo', '--json'])).stdout);
    expect(demo.metrics).toMatchObject({ pi_velocity: 21, sprint_velocity: 21, items_delivered: 3, success_rate: 1 });
    const sos = JSON.parse((await run(['scrum-of-scrums', '--json'])).stdout);
    expect(sos.teams.find((t: { team: string }) => t.team === 'red').impediments).toEqual([{ work_id: 'r4', reason: 'status blocked' }]);
    const vsm = JSON.parse((await run(['vsm', '--json'])).stdout);
    expect(vsm.cycle_time.count).toBe(3);
    // Aliases and every ceremony run on the live state.
    const kinds = ['pi-planning', 'ip', 'ia', 'art-sync', 'portfolio-kanban', 'coach-training'];
    const outs = await Promise.all(kinds.map((kind) => run([kind])));
    outs.forEach((out, i) => {
      expect(out.code, kinds[i]).toBe(0);
      expect(out.stdout.split('\n')[1], kinds[i]).toMatch(/^=+$/);
    });
    const kanban = JSON.parse((await run(['portfolio-kanban', '--json'])).stdout);
    expect(kanban.columns.done).toEqual({ count: 3, by_work_type: { feature: 3 } });
    expect(kanban.columns.implementing).toEqual({ count: 1, by_work_type: { bugfix: 1 } });
  });
});

describe('when the analyzer fails', () => {
  let d: DaemonHandle;
  beforeAll(async () => {
    d = await startDaemon({ args: ['--analyzer-command', path.join(ROOT, 'test/fixtures/analyzer-exit3.sh')] });
  });
  afterAll(async () => {
    expect(await d.stop()).toBe(0);
  });

  it('claude-priorities falls back to the builtin analysis and claim-ai still claims', async () => {
    const pri = await helper(d.url, ['claude-priorities']);
    expect(pri.code).toBe(0);
    expect(pri.stderr).toMatch(/⚠️ Claude analysis unavailable - using fallback prioritization \(analyzer_failed: .*exit/);
    const out = JSON.parse(pri.stdout);
    expect(out.source).toBe('builtin');
    expect(out.fallback_reason).toMatch(/analyzer_failed/);
    expect(out.analysis).toBeDefined();

    const claim = await helper(d.url, ['claim-ai', 'feature', 'despite the analyzer', 'medium', 'ai_team'], { AGENT_ID: 'ai_agent' });
    expect(claim.code).toBe(0);
    expect(claim.stdout).toMatch(/⚠️ Claude work recommendation unavailable - proceeding with requested work/);
    expect(claim.stdout).toMatch(/✅ SUCCESS: Claimed work item work_\d+ for team ai_team/);
  });
});

describe('the seed end-to-end flow', () => {
  let d: DaemonHandle;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = tempDir('aip-e2e-');
    d = await startDaemon({ dataDir });
  });
  afterAll(async () => {
    expect(await d.stop()).toBe(0);
  });

  it('agent, work, traced claim, trace recorded, analysis, and the agent seen by a console-style stream client', async () => {
    const client = new StreamClient({ url: d.url }).start();
    try {
      // 1. create the agent (legacy register) and the work (agent CLI)
      const reg = await helper(d.url, ['register', 'e2e_agent', 'e2e_team', '100', 'tester']);
      expect(reg.stdout.trim()).toBe('🔧 REGISTERED: Agent e2e_agent in team e2e_team with 100% capacity');
      const created = await runCli(['create-work', 'e2e_test', '--id', 'e2e_work', '--priority', 'high', '--team', 'e2e_team'], { AI_PROCESSOR_URL: d.url });
      expect(created.code).toBe(0);

      // 2. claim it; the helper sends a traceparent and prints its trace id
      const claim = await helper(d.url, ['claim', 'e2e_test', 'seed flow', 'high', 'e2e_team', '--work-id', 'e2e_work'], { AGENT_ID: 'e2e_agent' });
      expect(claim.code).toBe(0);
      expect(claim.lines).toContain('✅ SUCCESS: Claimed work item e2e_work for team e2e_team');
      const traceId = /^🔍 Trace ID: ([0-9a-f]{32})$/m.exec(claim.stdout)![1];

      // 3. the traced operation: the claim record carries the caller's trace id
      const work = ((await (await fetch(`${d.url}/api/work/e2e_work`)).json()) as JsonResponse['body']).work;
      expect(work).toMatchObject({ agent_id: 'e2e_agent', status: 'claimed' });
      expect(work.telemetry.trace_id).toBe(traceId);
      expect(await inFile(dataDir, 'work_claims.json', (r) => r.find((w) => w.work_item_id === 'e2e_work' && w.telemetry?.trace_id === traceId))).toBeDefined();

      // 4. trace count > 0: the daemon recorded spans of that trace
      const spansRes = await fetch(`${d.url}/api/telemetry/spans?limit=1000`);
      expect(spansRes.status).toBe(200);
      const spansBody: JsonResponse['body'] = await spansRes.json();
      const spans: Array<{ trace_id: string; operation_name: string }> = Array.isArray(spansBody) ? spansBody : spansBody.spans;
      expect(spans.filter((s) => s.trace_id === traceId).length).toBeGreaterThan(0);

      // 5. analysis
      const pri = await helper(d.url, ['claude-analyze-priorities']);
      expect(pri.code).toBe(0);
      expect(JSON.parse(pri.stdout).analysis).toBeDefined();

      // 6. progress and completion, as the seed's agents do
      expect((await helper(d.url, ['progress', 'e2e_work', '50'], { AGENT_ID: 'e2e_agent' })).code).toBe(0);
      expect((await helper(d.url, ['complete', 'e2e_work', 'success', '5'], { AGENT_ID: 'e2e_agent' })).code).toBe(0);
      expect(await eventually(() => /Team e2e_team \+5 velocity points/.test(readText(dataDir, 'velocity_log.txt')), 5000)).toBe(true);

      // 7. the console's view: the stream client's verified copy shows the agent and the finished work
      const revision = ((await (await fetch(`${d.url}/api/coordination/status`)).json()) as JsonResponse['body']).revision;
      await client.waitForRevision(revision);
      expect(client.verified).toBe(true);
      expect(client.state.agents.e2e_agent.data).toMatchObject({ agent_id: 'e2e_agent', team: 'e2e_team', status: 'active', specialization: 'tester' });
      expect(client.state.work.e2e_work.data).toMatchObject({ status: 'completed', agent_id: 'e2e_agent', progress: 100 });
    } finally {
      client.stop();
    }
  });
});
