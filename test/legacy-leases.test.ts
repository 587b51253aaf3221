// Legacy agents never heartbeat: their claims must last as long as their work, not one default
// lease. Through bin/coordination_helper.sh a claim's lease comes from its estimate (30m -> 90 min)
// and `progress` renews it; imported legacy claims take theirs from their record's
// estimated_duration, from the takeover on. The daemons run with a short default lease; every
// "still held" is checked once a silent control claim with the default lease has been released.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyReference, ROOT, startDaemon, type DaemonHandle } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';

const HELPER = path.join(ROOT, 'bin/coordination_helper.sh');
const WAIT = { timeout: 60_000, interval: 100 };

function helper(url: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  const e: NodeJS.ProcessEnv = { ...process.env, AI_PROCESSOR_URL: url, ...env };
  for (const k of ['AGENT_TEAM', 'AGENT_ROLE', 'COORDINATION_DIR', 'CURRENT_WORK_ITEM', 'AI_PROCESSOR_TOKEN']) delete e[k];
  return new Promise((resolve) => {
    const p = spawn(HELPER, args, { env: e, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (c) => (out += c));
    p.stderr.on('data', (c) => (out += c));
    p.on('exit', (code) => resolve({ code, out }));
  });
}

async function holder(c: HttpClient, workId: string): Promise<string | null> {
  const r = await c.get(`/api/work/${workId}`);
  expect(r.status).toBe(200);
  return r.body.work.agent_id;
}

/** The agents whose claims the daemon logged as expired (the log line may follow the change by a moment). */
function expiredAgents(d: DaemonHandle): string[] {
  return d.logs
    .filter((l) => l.includes('lease expired'))
    .map((l) => JSON.parse(l).agent_id)
    .sort();
}

/** Claims `workId` for a silent agent with the default lease and waits until the sweeper released it. */
async function outlastDefaultLease(c: HttpClient, workId: string, minMs: number): Promise<void> {
  const started = Date.now();
  expect((await c.post('/api/coordination/claim', { work_id: workId, agent_id: `${workId}_agent` })).status).toBe(200);
  await expect.poll(async () => Date.now() - started >= minMs && (await holder(c, workId)) === null, WAIT).toBe(true);
}

describe('claims through coordination_helper.sh outlive the default lease', () => {
  const LEASE_MS = 3000;
  let d: DaemonHandle;
  let c: HttpClient;
  beforeAll(async () => {
    d = await startDaemon({ args: ['--lease-ms', String(LEASE_MS)], env: { AI_PROCESSOR_SERVICES: '[]' } });
    c = new HttpClient(d.url);
  });
  afterAll(async () => {
    c.close();
    expect(await d.stop()).toBe(0);
  });

  it('claim -> longer than the default lease -> progress -> longer again -> complete', async () => {
    const env = { AGENT_ID: 'legacy_worker' };
    const claim = await helper(d.url, ['claim', 'refactoring', 'a long legacy task', 'high', 'legacy_team'], env);
    expect(claim.code, claim.out).toBe(0);
    const workId = /claiming work: (work_\d+)/.exec(claim.out)?.[1];
    expect(workId).toBeDefined();
    const record = (await c.get(`/api/work/${workId}`)).body.work;
    expect(record.estimated_duration).toBe('30m'); // as the legacy helper wrote on every claim
    expect(record.lease_ms).toBe(90 * 60_000); // 3 x the estimate

    await outlastDefaultLease(c, 'helper_control_1', 2 * LEASE_MS);
    expect(await holder(c, workId!)).toBe('legacy_worker');
    const progress = await helper(d.url, ['progress', workId!, '60'], env);
    expect(progress.code, progress.out).toBe(0);
    expect(progress.out).toContain('PROGRESS');

    await outlastDefaultLease(c, 'helper_control_2', 2 * LEASE_MS);
    const complete = await helper(d.url, ['complete', workId!, 'shipped', '8'], env);
    expect(complete.code, complete.out).toBe(0);
    expect(complete.out).toContain(`COMPLETED: Released claim for ${workId}`);
    const done = (await c.get(`/api/work/${workId}`)).body.work;
    expect(done.status).toBe('completed');
    await expect.poll(() => expiredAgents(d), WAIT).toEqual(['helper_control_1_agent', 'helper_control_2_agent']);
  });
});

describe('imported legacy claims keep their estimate-sized lease from the takeover', () => {
  const LEASE_MS = 1000;
  let d: DaemonHandle;
  let c: HttpClient;
  let started: number;
  let heldAtStart: Map<string, string>;

  beforeAll(async () => {
    // The legacy reference data plus three crafted claims: a short estimate, an unparseable one, and none.
    const dir = copyReference('legacy');
    const file = path.join(dir, 'work_claims.json');
    const claims = JSON.parse(readFileSync(file, 'utf8')) as Array<Record<string, unknown>>;
    const crafted = (id: string, agent: string, estimate: string | undefined) => ({
      work_item_id: id,
      agent_id: agent,
      reactor_id: 'shell_agent',
      claimed_at: '2025-06-16T08:05:20Z',
      ...(estimate === undefined ? {} : { estimated_duration: estimate }),
      work_type: 'legacy_task',
      priority: 'medium',
      description: 'crafted legacy claim',
      status: 'active',
      team: 'legacy_team',
    });
    claims.push(
      crafted('imp_short', 'agent_imp_short', '6s'),
      crafted('imp_unparsed', 'agent_imp_unparsed', 'a while'),
      crafted('imp_none', 'agent_imp_none', undefined),
    );
    writeFileSync(file, JSON.stringify(claims, null, 2));
    d = await startDaemon({ dataDir: dir, args: ['--lease-ms', String(LEASE_MS)], env: { AI_PROCESSOR_SERVICES: '[]' } });
    started = Date.now();
    c = new HttpClient(d.url);
    heldAtStart = await heldClaims(c);
  });
  afterAll(async () => {
    c.close();
    expect(await d.stop()).toBe(0);
  });

  async function heldClaims(client: HttpClient): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const w of (await client.get('/api/work?status=active')).body.work) if (typeof w.agent_id === 'string') out.set(w.work_item_id, w.agent_id);
    return out;
  }

  it('held after several default leases; the 6s estimate (an 18 s lease) expires on its own, the others stay', async () => {
    // The reference data's held claims and the three crafted ones.
    expect(heldAtStart.size).toBeGreaterThan(50);
    expect(heldAtStart.get('imp_short')).toBe('agent_imp_short');
    await outlastDefaultLease(c, 'import_control', 5 * LEASE_MS);
    expect(await heldClaims(c)).toEqual(heldAtStart);

    await expect.poll(() => holder(c, 'imp_short'), WAIT).toBeNull();
    // Its own lease is 3 x 6 s from the takeover, which came just before `started`.
    expect(Date.now() - started).toBeGreaterThan(12_000);
    const work = (await c.get('/api/work/imp_short')).body.work;
    expect(work.release_reason).toBe('lease_expired');
    expect(work.previous_agent_id).toBe('agent_imp_short');
    const rest = new Map(heldAtStart);
    rest.delete('imp_short');
    expect(await heldClaims(c)).toEqual(rest); // 90 min for the others (30m estimates, or none that parses)
    await expect.poll(() => expiredAgents(d), WAIT).toEqual(['agent_imp_short', 'import_control_agent']);
  });

  it('imported agents are not expected to heartbeat: coordination_agents_heartbeating (NoHeartbeats) counts API heartbeaters only', async () => {
    const gauge = async (name: string) => {
      const text = (await c.get('/metrics')).body as string;
      return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    };
    expect(await gauge('coordination_agents\\{status="active"\\}')).toBeGreaterThan(10); // the imported agents
    expect(await gauge('coordination_agents_heartbeating')).toBe(0);
    const agent = ((await c.get('/api/agents')).body.agents as Array<{ agent_id: string; status: string }>).find((a) => a.status === 'active')!.agent_id;
    expect((await c.post(`/api/agents/${agent}/heartbeat`, { status: 'active' })).status).toBe(200);
    expect(await gauge('coordination_agents_heartbeating')).toBe(1);
    expect((await c.post(`/api/agents/${agent}/heartbeat`, { status: 'offline' })).status).toBe(200);
    expect(await gauge('coordination_agents_heartbeating')).toBe(0);
  });
});
