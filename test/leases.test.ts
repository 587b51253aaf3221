// Leases: a silent holder loses its claims; its late calls are refused; heartbeats keep them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type DaemonHandle } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';

let d: DaemonHandle;
let c: HttpClient;
beforeAll(async () => {
  d = await startDaemon({ args: ['--lease-ms', '400'] });
  c = new HttpClient(d.url);
});
afterAll(async () => {
  c.close();
  expect(await d.stop()).toBe(0);
});

describe('leases and fencing', () => {
  it('expires a silent holder, refuses its late complete, and lets another agent claim with a higher token', async () => {
    const first = await c.post('/api/coordination/claim', { work_id: 'lease_item', agent_id: 'silent_agent' });
    expect(first.status).toBe(200);
    await expect.poll(async () => (await c.get('/api/work/lease_item')).body.work.status, { timeout: 5000, interval: 100 }).toBe('released');
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
    expect(d.logs.some((l) => l.includes('lease expired'))).toBe(true);
  });

  it('a heartbeating holder keeps its claim past the lease period', async () => {
    expect((await c.post('/api/coordination/claim', { work_id: 'kept_item', agent_id: 'busy_agent' })).status).toBe(200);
    for (let i = 0; i < 8; i++) {
      await new Promise((r) => setTimeout(r, 150));
      expect((await c.post('/api/agents/busy_agent/heartbeat', { status: 'busy' })).status).toBe(200);
    }
    const work = (await c.get('/api/work/kept_item')).body.work;
    expect(work.agent_id).toBe('busy_agent');
    expect(work.status).toBe('claimed');
    expect((await c.post('/api/coordination/complete', { work_id: 'kept_item', agent_id: 'busy_agent', result: 'done' })).status).toBe(200);
  });

  it('a stale fencing token is refused even for the right agent after a re-claim', async () => {
    const a = await c.post('/api/coordination/claim', { work_id: 'fence_item', agent_id: 'fence_agent' });
    await expect.poll(async () => (await c.get('/api/work/fence_item')).body.work.status, { timeout: 5000, interval: 100 }).toBe('released');
    const b = await c.post('/api/coordination/claim', { work_id: 'fence_item', agent_id: 'fence_agent' });
    expect(b.body.claim.fencing_token).toBeGreaterThan(a.body.claim.fencing_token);
    const stale = await c.post('/api/coordination/progress', { work_id: 'fence_item', agent_id: 'fence_agent', progress: 50, fencing_token: a.body.claim.fencing_token });
    expect(stale.status).toBe(409);
    expect(stale.body.error).toBe('stale_fencing_token');
    const fresh = await c.post('/api/coordination/progress', { work_id: 'fence_item', agent_id: 'fence_agent', progress: 50, fencing_token: b.body.claim.fencing_token });
    expect(fresh.status).toBe(200);
  });
});
