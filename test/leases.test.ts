// Leases: a silent holder loses its claims; its late calls are refused; heartbeats keep them; a claim
// may carry a lease of its own (lease_ms, CLI --lease), bounded by --max-lease-ms.
// Margins: a 5 s lease against heartbeats every 200 ms, and every "still held" is checked at the
// moment a silent control claim made at the same time has expired (a condition, not a fixed sleep).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startDaemon, type DaemonHandle } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';

const LEASE_MS = 5000;
const MAX_LEASE_MS = 7_200_000;
/** Long enough for a loaded machine to be slow, far beyond one lease and one sweep. */
const EXPIRY_WAIT = { timeout: 30_000, interval: 100 };

let d: DaemonHandle;
let c: HttpClient;
beforeAll(async () => {
  d = await startDaemon({ args: ['--lease-ms', String(LEASE_MS), '--max-lease-ms', String(MAX_LEASE_MS)], env: { AI_PROCESSOR_SERVICES: '[]' } });
  c = new HttpClient(d.url);
});
afterAll(async () => {
  c.close();
  expect(await d.stop()).toBe(0);
});

async function holder(workId: string): Promise<string | null> {
  return (await c.get(`/api/work/${workId}`)).body.work.agent_id;
}

/** Heartbeats `agent` every 200 ms until `done()` holds and at least `minMs` passed; returns the heartbeats sent. */
async function heartbeatUntil(agent: string, done: () => Promise<boolean>, minMs: number): Promise<number> {
  const started = Date.now();
  let sent = 0;
  for (;;) {
    expect((await c.post(`/api/agents/${agent}/heartbeat`, { status: 'busy' })).status).toBe(200);
    sent++;
    if (Date.now() - started >= minMs && (await done())) return sent;
    if (Date.now() - started > EXPIRY_WAIT.timeout) throw new Error(`condition not met within ${EXPIRY_WAIT.timeout} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('leases and fencing', () => {
  it('expires a silent holder, refuses its late complete, and lets another agent claim with a higher token', async () => {
    const first = await c.post('/api/coordination/claim', { work_id: 'lease_item', agent_id: 'silent_agent' });
    expect(first.status).toBe(200);
    expect(first.body.lease_ms).toBe(LEASE_MS);
    await expect.poll(async () => (await c.get('/api/work/lease_item')).body.work.status, EXPIRY_WAIT).toBe('released');
    const work = (await c.get('/api/work/lease_item')).body.work;
    expect(work.release_reason).toBe('lease_expired');
    expect(work.previous_agent_id).toBe('silent_agent');
    const late = await c.post('/api/coordination/complete', { work_id: 'lease_item', agent_id: 'silent_agent' });
    expect(late.status).toBe(409);
    expect(late.body.error).toBe('not_claim_holder');
    expect(late.body.reason).toBe('lease_expired');
    const second = await c.post('/api/coordination/claim', { work_id: 'lease_item', agent_id: 'new_agent' });
    expect(second.status).toBe(200);
    expect(second.body.claim.fencing_token).toBeGreaterThan(first.body.claim.fencing_token);
    // The expiry is in the journal-backed history: the old holder is kept on the record.
    await expect.poll(() => d.logs.some((l) => l.includes('lease expired') && l.includes('silent_agent')), { timeout: 10_000 }).toBe(true);
  });

  it('a heartbeating holder keeps its claim past the lease period', async () => {
    expect((await c.post('/api/coordination/claim', { work_id: 'kept_item', agent_id: 'busy_agent' })).status).toBe(200);
    expect((await c.post('/api/coordination/claim', { work_id: 'kept_control', agent_id: 'quiet_agent' })).status).toBe(200);
    // Until the silent control (same lease, claimed just after) is released, and two leases at least.
    await heartbeatUntil('busy_agent', async () => (await holder('kept_control')) === null, 2 * LEASE_MS);
    const work = (await c.get('/api/work/kept_item')).body.work;
    expect(work.agent_id).toBe('busy_agent');
    expect(work.status).toBe('claimed');
    expect((await c.post('/api/coordination/complete', { work_id: 'kept_item', agent_id: 'busy_agent', result: 'done' })).status).toBe(200);
  });

  it('a stale fencing token is refused even for the right agent after a re-claim', async () => {
    const a = await c.post('/api/coordination/claim', { work_id: 'fence_item', agent_id: 'fence_agent' });
    await expect.poll(async () => (await c.get('/api/work/fence_item')).body.work.status, EXPIRY_WAIT).toBe('released');
    const b = await c.post('/api/coordination/claim', { work_id: 'fence_item', agent_id: 'fence_agent' });
    expect(b.body.claim.fencing_token).toBeGreaterThan(a.body.claim.fencing_token);
    const stale = await c.post('/api/coordination/progress', {
      work_id: 'fence_item',
      agent_id: 'fence_agent',
      progress: 50,
      fencing_token: a.body.claim.fencing_token,
    });
    expect(stale.status).toBe(409);
    expect(stale.body.error).toBe('stale_fencing_token');
    const fresh = await c.post('/api/coordination/progress', {
      work_id: 'fence_item',
      agent_id: 'fence_agent',
      progress: 50,
      fencing_token: b.body.claim.fencing_token,
    });
    expect(fresh.status).toBe(200);
  });
});

describe('a claim with a lease of its own', () => {
  it('lease_ms outlives the default lease; a shorter one expires first; progress renews it', async () => {
    const long = await c.post('/api/coordination/claim', { work_id: 'own_long', agent_id: 'long_agent', lease_ms: 600_000 });
    expect(long.status).toBe(200);
    expect(long.body.claim.lease_ms).toBe(600_000); // on the record: it survives a restart
    expect(long.body.lease_ms).toBe(600_000);
    expect(Date.parse(long.body.lease_expires_at) - Date.now()).toBeGreaterThan(500_000);
    const short = await c.post('/api/coordination/claim', { work_id: 'own_short', agent_id: 'short_agent', lease_ms: 1000 });
    const plain = await c.post('/api/coordination/claim', { work_id: 'own_plain', agent_id: 'plain_agent' });
    expect([short.status, plain.status]).toEqual([200, 200]);
    expect(plain.body.claim.lease_ms).toBeUndefined();
    // Both holders are silent: the 1 s claim goes first, then the default-lease one.
    await expect.poll(() => holder('own_short'), EXPIRY_WAIT).toBeNull();
    await expect.poll(() => holder('own_plain'), EXPIRY_WAIT).toBeNull();
    // Well past three default leases the long one is held, and progress renews it.
    expect(await holder('own_long')).toBe('long_agent');
    const p = await c.post('/api/coordination/progress', { work_id: 'own_long', agent_id: 'long_agent', progress: 40 });
    expect(p.status).toBe(200);
    expect(p.body.lease_ms).toBe(600_000);
    expect(Date.parse(p.body.lease_expires_at)).toBeGreaterThan(Date.parse(long.body.lease_expires_at));
    expect((await c.post('/api/coordination/complete', { work_id: 'own_long', agent_id: 'long_agent' })).status).toBe(200);
    // A later claim of the same item does not inherit the earlier holder's lease.
    const again = await c.post('/api/coordination/claim', { work_id: 'own_short', agent_id: 'next_agent' });
    expect(again.status).toBe(200);
    expect(again.body.claim.lease_ms).toBeUndefined();
    expect(again.body.lease_ms).toBe(LEASE_MS);
  });

  it('lease_from_estimate: three times the estimate, at least the default, at most the maximum', async () => {
    const cases: Array<[string, string | undefined, number]> = [
      ['est_30m', '30m', 90 * 60_000],
      ['est_1s', '1s', LEASE_MS], // 3 s: not below the default
      ['est_2h', '2h', MAX_LEASE_MS], // 6 h: capped at the 2 h maximum
      ['est_bad', 'soon', 90 * 60_000], // unparseable: the legacy helper's own 30m
      ['est_none', undefined, 90 * 60_000],
    ];
    for (const [work_id, estimated_duration, expected] of cases) {
      const r = await c.post('/api/coordination/claim', { work_id, agent_id: 'est_agent', estimated_duration, lease_from_estimate: true });
      expect(r.status).toBe(200);
      expect(r.body.claim.lease_ms).toBe(expected);
    }
  });

  it('bad lease input: 400 with {error, message}, and nothing changes', async () => {
    const before = (await c.get('/api/coordination/status')).body;
    const bad: Array<[unknown, string]> = [
      [{ work_id: 'bad_lease', agent_id: 'bad_agent', lease_ms: MAX_LEASE_MS + 1 }, 'lease_too_long'],
      [{ work_id: 'bad_lease', agent_id: 'bad_agent', lease_ms: 0 }, 'invalid_request'],
      [{ work_id: 'bad_lease', agent_id: 'bad_agent', lease_ms: 1.5 }, 'invalid_request'],
      [{ work_id: 'bad_lease', agent_id: 'bad_agent', lease_ms: '30m' }, 'invalid_request'],
      [{ work_id: 'bad_lease', agent_id: 'bad_agent', lease_ms: 5000, lease_from_estimate: true }, 'invalid_request'],
      [{ work_id: 'bad_lease', agent_id: 'bad_agent', lease_from_estimate: 'yes' }, 'invalid_request'],
    ];
    for (const [body, error] of bad) {
      const r = await c.post('/api/coordination/claim', body);
      expect(r.status).toBe(400);
      expect(r.body.error).toBe(error);
      expect(typeof r.body.message).toBe('string');
    }
    expect((await c.post('/api/coordination/claim', bad[0][0])).body.max_lease_ms).toBe(MAX_LEASE_MS);
    const after = (await c.get('/api/coordination/status')).body;
    expect(after.revision).toBe(before.revision);
    expect(after.checksum).toBe(before.checksum);
    expect((await c.get('/api/work/bad_lease')).status).toBe(404);
    expect((await c.get('/api/agents/bad_agent')).status).toBe(404);
  });

  it('the CLI: claim --lease 30m; a bad duration is a usage error (exit 2), one over the maximum is refused (exit 1)', async () => {
    const env = { AI_PROCESSOR_URL: d.url, AGENT_ID: 'cli_lease_agent' };
    const ok = await runCli(['claim', 'cli_lease_item', '--lease', '30m', '--json'], env);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).claim.lease_ms).toBe(1_800_000);
    const bad = await runCli(['claim', 'cli_lease_bad', '--lease', 'soon'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--lease must be a duration');
    const long = await runCli(['claim', 'cli_lease_bad', '--lease', '3h'], env);
    expect(long.code).toBe(1);
    expect(long.stderr).toContain('lease_too_long');
    expect((await c.get('/api/work/cli_lease_bad')).status).toBe(404);
  });
});
