// Exactly one winner per work item when many agents race, over HTTP and from separate processes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startDaemon, runCli, type DaemonHandle } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';

let d: DaemonHandle;
beforeAll(async () => {
  d = await startDaemon();
});
afterAll(async () => {
  expect(await d.stop()).toBe(0);
});

describe('claim race', () => {
  it('40 HTTP clients racing for 10 items: one winner each, every loser a 409, nothing lost or doubled', async () => {
    const items = Array.from({ length: 10 }, (_, i) => `race_item_${i}`);
    const clients = Array.from({ length: 40 }, () => new HttpClient(d.url));
    const attempts = clients.flatMap((c, a) => items.map((work_id) => ({ c, agent: `racer_${a}`, work_id })));
    // Shuffle so that the order of arrival differs from the order of agents.
    attempts.sort(() => Math.random() - 0.5);
    const results = await Promise.all(
      attempts.map(({ c, agent, work_id }) => c.post('/api/coordination/claim', { work_id, agent_id: agent }).then((r) => ({ r, agent, work_id }))),
    );
    clients.forEach((c) => c.close());
    for (const work_id of items) {
      const mine = results.filter((x) => x.work_id === work_id);
      const winners = mine.filter((x) => x.r.status === 200);
      const losers = mine.filter((x) => x.r.status !== 200);
      expect(winners).toHaveLength(1);
      expect(losers).toHaveLength(39);
      for (const l of losers) {
        expect(l.r.status).toBe(409);
        expect(l.r.body.error).toBe('work_already_claimed');
        expect(l.r.body.holder).toBe(winners[0].agent);
      }
    }
    const status = (await new HttpClient(d.url).get('/api/coordination/status')).body;
    for (const work_id of items) {
      const winner = results.find((x) => x.work_id === work_id && x.r.status === 200)!;
      expect(status.state.work[work_id].data.agent_id).toBe(winner.agent);
      expect(status.state.work[work_id].v).toBe(1);
    }
    // Fencing tokens are unique and only grow.
    const tokens = items.map((w) => status.state.work[w].data.fencing_token);
    expect(new Set(tokens).size).toBe(items.length);
    // The legacy file agrees once written (coalesced): wait for it.
    await expect
      .poll(
        () => {
          const claims = JSON.parse(readFileSync(path.join(d.dataDir, 'work_claims.json'), 'utf8')) as Array<{ work_item_id: string; agent_id: string }>;
          return items.map((w) => claims.filter((c) => c.work_item_id === w).map((c) => c.agent_id));
        },
        { timeout: 5000 },
      )
      .toEqual(items.map((w) => [status.state.work[w].data.agent_id]));
  });

  it('the same holder claiming again gets its claim back (idempotent, no new revision)', async () => {
    const c = new HttpClient(d.url);
    const first = await c.post('/api/coordination/claim', { work_id: 'idem_1', agent_id: 'agent_idem' });
    const again = await c.post('/api/coordination/claim', { work_id: 'idem_1', agent_id: 'agent_idem' });
    c.close();
    expect(first.status).toBe(200);
    expect(again.status).toBe(200);
    expect(again.body.idempotent).toBe(true);
    expect(again.body.claim.fencing_token).toBe(first.body.claim.fencing_token);
    expect(again.body.revision).toBe(first.body.revision);
  });

  it('separate OS processes (the CLI) racing for the same items: exit 0 for exactly one, 1 for the rest', async () => {
    const items = ['proc_item_a', 'proc_item_b', 'proc_item_c'];
    const runs = items.flatMap((w) =>
      Array.from({ length: 6 }, (_, i) => runCli(['claim', w, '--agent', `proc_agent_${i}`, '--url', d.url, '--json']).then((r) => ({ ...r, w, i }))),
    );
    const results = await Promise.all(runs);
    for (const w of items) {
      const mine = results.filter((r) => r.w === w);
      expect(mine.filter((r) => r.code === 0)).toHaveLength(1);
      const refused = mine.filter((r) => r.code !== 0);
      expect(refused).toHaveLength(5);
      for (const r of refused) {
        expect(r.code).toBe(1);
        expect(JSON.parse(r.stdout).error).toBe('work_already_claimed');
      }
    }
  });
});
