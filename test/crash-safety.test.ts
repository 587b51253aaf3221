// SIGKILL under write load, several times: every acknowledged change survives, every file parses.
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { startDaemon, tempDir } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';

describe('crash safety', () => {
  it('acknowledged claims survive repeated SIGKILL under load', async () => {
    const dataDir = tempDir('aip-crash-');
    const acked = new Map<string, string>(); // work_id -> agent
    const completed = new Set<string>();
    for (let round = 0; round < 3; round++) {
      const d = await startDaemon({ dataDir });
      // Everything acknowledged before is there after the restart.
      const status = (await new HttpClient(d.url).get('/api/coordination/status')).body;
      for (const [work, agent] of acked) {
        expect(status.state.work[work]?.data.agent_id ?? status.state.work[work]?.data.previous_agent_id).toBe(agent);
      }
      for (const work of completed) expect(status.state.work[work].data.status).toBe('completed');
      const clients = Array.from({ length: 8 }, () => new HttpClient(d.url));
      let stop = false;
      const workers = clients.map(async (c, ci) => {
        for (let i = 0; !stop; i++) {
          const work_id = `crash_${round}_${ci}_${i}`;
          const agent_id = `crash_agent_${ci}`;
          try {
            const r = await c.post('/api/coordination/claim', { work_id, agent_id });
            if (r.status === 200) acked.set(work_id, agent_id);
            if (i % 3 === 0) {
              const done = await c.post('/api/coordination/complete', { work_id, agent_id, velocity_points: 2 });
              if (done.status === 200) completed.add(work_id);
            }
          } catch {
            return; // connection cut by the kill
          }
        }
      });
      // Kill after a random amount of acknowledged work (not a fixed time: the machine may be busy).
      const target = acked.size + 20 + Math.floor(Math.random() * 60);
      await expect.poll(() => acked.size, { timeout: 20_000, interval: 5 }).toBeGreaterThanOrEqual(target);
      d.proc.kill('SIGKILL');
      stop = true;
      await Promise.all(workers);
      await d.exited;
      clients.forEach((c) => c.close());
      // Killed mid-write or not, every legacy file is whole (atomic replace).
      for (const f of readdirSync(dataDir).filter((f) => f.endsWith('.json'))) {
        expect(() => JSON.parse(readFileSync(path.join(dataDir, f), 'utf8'))).not.toThrow();
      }
    }
    const d = await startDaemon({ dataDir });
    const status = (await new HttpClient(d.url).get('/api/coordination/status')).body;
    for (const [work, agent] of acked) expect(status.state.work[work].data.agent_id).toBe(agent);
    for (const work of completed) expect(status.state.work[work].data.status).toBe('completed');
    const logWorks = Object.values(status.state.log as Record<string, { data: { work_item_id: string } }>).map((e) => e.data.work_item_id);
    for (const work of completed) expect(logWorks).toContain(work);
    expect(new Set(logWorks).size).toBe(logWorks.length); // no completion doubled by a restart
    // A restart never mistakes our own last write for an external edit.
    expect(d.logs.some((l) => l.includes('picked up external edit'))).toBe(false);
    expect(await d.stop()).toBe(0);
    // Every file in the data dir parses after the final clean stop, and holds the acknowledged claims.
    for (const f of readdirSync(dataDir).filter((f) => f.endsWith('.json'))) {
      expect(() => JSON.parse(readFileSync(path.join(dataDir, f), 'utf8'))).not.toThrow();
    }
    const claims = JSON.parse(readFileSync(path.join(dataDir, 'work_claims.json'), 'utf8')) as Array<{ work_item_id: string }>;
    const ids = new Set(claims.map((c) => c.work_item_id));
    for (const work of acked.keys()) expect(ids.has(work)).toBe(true);
    expect(ids.size).toBe(claims.length); // no doubled record
  });
});

describe('snapshots and journal rotation', () => {
  it('a small journal limit forces snapshots; a restart (and a kill) still serves every change', async () => {
    const dataDir = tempDir('aip-rotate-');
    let d = await startDaemon({ dataDir, env: { AI_PROCESSOR_MAX_JOURNAL_BYTES: '20000' } });
    const c = new HttpClient(d.url);
    for (let i = 0; i < 120; i++) expect((await c.post('/api/coordination/claim', { work_id: `rot_${i}`, agent_id: `ag_${i % 5}` })).status).toBe(200);
    const before = (await c.get('/api/coordination/status')).body;
    c.close();
    expect(readdirSync(path.join(dataDir, '.ai-processor'))).toContain('journal.prev.jsonl');
    d.proc.kill('SIGKILL');
    await d.exited;
    d = await startDaemon({ dataDir });
    const after = (await new HttpClient(d.url).get('/api/coordination/status')).body;
    expect(after.revision).toBe(before.revision);
    expect(after.checksum).toBe(before.checksum);
    expect(await d.stop()).toBe(0);
  });
});
