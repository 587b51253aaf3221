// A full disk (a real small tmpfs): a change that cannot be made durable is answered 507 and
// undone, never acknowledged; the daemon stays up, says so, and takes writes again once space is
// freed. Everything answered 200 survives a kill -9; no revision or fencing token is handed out twice.
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startDaemon, type DaemonHandle } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';
import { mountTmpfs } from './helpers/tmpfs.js';
import { StreamClient } from '../client/stream-client.js';
import type { DeltaMessage, EventMessage } from '../shared/protocol.js';

const fs = mountTmpfs(4096);
const mounted = typeof fs !== 'string';

afterAll(() => {
  if (typeof fs !== 'string') fs.unmount();
});

interface Ack {
  token: number;
  revision: number;
  agent: string;
}

describe.skipIf(!mounted)('a full disk', () => {
  it('answers 507 storage_full, loses nothing answered 200, recovers by itself once space is freed', async () => {
    const dir = (fs as Exclude<typeof fs, string>).dir;
    // A small journal limit: checkpoints are attempted (and fail) on the full disk too.
    let d: DaemonHandle = await startDaemon({ dataDir: dir, env: { AI_PROCESSOR_MAX_JOURNAL_BYTES: '60000', AI_PROCESSOR_VIEW_FLUSH_MS: '50' } });
    const acked = new Map<string, Ack>();
    const failures: Array<{ status: number; body: { error?: string }; work_id: string }> = [];
    const c = new HttpClient(d.url);
    // A stream client sees the trouble as events, and never a change that was refused.
    const sc = new StreamClient({ url: d.url });
    const snapshot = new Promise((resolve) => sc.once('snapshot', resolve));
    sc.start();
    const events: EventMessage[] = [];
    const deltas: DeltaMessage[] = [];
    sc.on('event', (e: EventMessage) => events.push(e));
    sc.on('delta', (m: DeltaMessage) => deltas.push(m));
    await snapshot;
    // Leave ~160 KiB free: a few hundred claims fit, then the journal (or a legacy file) cannot grow.
    const free = () => Number(statfsSync(dir).bavail) * Number(statfsSync(dir).bsize);
    const filler = path.join(dir, 'filler.bin');
    writeFileSync(filler, Buffer.alloc(Math.max(0, free() - 160 * 1024)));
    let n = 0;
    const claimSome = async (clients: HttpClient[], until: () => boolean, max: number) => {
      await Promise.all(
        clients.map(async (cl, ci) => {
          while (!until() && n < max) {
            const work_id = `df_${n++}`;
            const agent_id = `df_agent_${ci}`;
            const r = await cl.post('/api/coordination/claim', { work_id, agent_id });
            if (r.status === 200) acked.set(work_id, { token: r.body.claim.fencing_token, revision: r.body.revision, agent: agent_id });
            else failures.push({ ...r, work_id });
          }
        }),
      );
    };
    const clients = Array.from({ length: 4 }, () => new HttpClient(d.url));
    await claimSome(clients, () => failures.length >= 8, 20_000);
    expect(failures.length).toBeGreaterThanOrEqual(8);
    for (const f of failures) {
      expect(f.status).toBe(507);
      expect(f.body.error).toBe('storage_full');
    }
    // Degraded, and it says so: /ready, the metric; a write is refused at once.
    const ready = await c.get('/ready');
    expect(ready.status).toBe(503);
    expect(JSON.stringify(ready.body.problems)).toContain('storage_full');
    expect((await c.get('/metrics')).body).toMatch(/^storage_degraded 1$/m);
    expect((await c.get('/metrics')).body).toMatch(/^storage_write_failures_total\{reason="storage_full"\} [1-9]/m);
    const refused = await c.post('/api/coordination/claim', { work_id: 'df_refused', agent_id: 'df_agent_x' });
    expect(refused.status).toBe(507);
    expect(refused.body.error).toBe('storage_full');
    expect(d.logs.some((l) => l.includes('journal write failed'))).toBe(true);
    // The state never ran ahead of the disk: no refused claim is in it.
    const during = (await c.get('/api/coordination/status')).body;
    expect(during.state.work.df_refused).toBeUndefined();
    // Space freed: writes are taken again without a restart.
    rmSync(filler);
    await expect.poll(async () => (await c.get('/ready')).status, { timeout: 20_000, interval: 200 }).toBe(200);
    expect((await c.get('/metrics')).body).toMatch(/^storage_degraded 0$/m);
    const before = acked.size;
    const failedBefore = failures.length;
    await claimSome(clients, () => acked.size >= before + 20, n + 40);
    expect(failures.length).toBe(failedBefore);
    expect(acked.size).toBeGreaterThanOrEqual(before + 20);
    expect(d.logs.some((l) => l.includes('storage writable again'))).toBe(true);
    clients.forEach((cl) => cl.close());
    c.close();
    await expect.poll(() => events.map((e) => e.event), { timeout: 10_000 }).toEqual(expect.arrayContaining(['storage_degraded', 'storage_recovered']));
    await expect.poll(() => sc.revision, { timeout: 10_000 }).toBe(Math.max(...[...acked.values()].map((a) => a.revision)));
    sc.stop();
    const streamed = new Set(deltas.flatMap((m) => m.changes.map((ch) => ch.key)));
    for (const f of failures) expect(streamed.has(f.work_id), f.work_id).toBe(false);
    expect(new Set(deltas.map((m) => m.revision)).size).toBe(deltas.length);

    // No revision and no fencing token answered twice.
    const acks = [...acked.values()];
    expect(new Set(acks.map((a) => a.token)).size).toBe(acks.length);
    expect(new Set(acks.map((a) => a.revision)).size).toBe(acks.length);

    // kill -9, restart: never "journal corrupt", every acknowledged claim there with its token.
    d.proc.kill('SIGKILL');
    await d.exited;
    d = await startDaemon({ dataDir: dir });
    const c2 = new HttpClient(d.url);
    const state = (await c2.get('/api/coordination/status')).body.state;
    for (const [work, a] of acked) {
      expect(state.work[work]?.data.agent_id, work).toBe(a.agent);
      expect(state.work[work].data.fencing_token, work).toBe(a.token);
    }
    // New claims after the restart get fresh tokens and revisions.
    const maxToken = Math.max(...acks.map((a) => a.token));
    const maxRevision = Math.max(...acks.map((a) => a.revision));
    for (let i = 0; i < 5; i++) {
      const r = await c2.post('/api/coordination/claim', { work_id: `df_after_${i}`, agent_id: 'df_agent_0' });
      expect(r.status).toBe(200);
      expect(r.body.claim.fencing_token).toBeGreaterThan(maxToken);
      expect(r.body.revision).toBeGreaterThan(maxRevision);
    }
    c2.close();
    expect(await d.stop()).toBe(0);
    // The legacy file holds every acknowledged claim too.
    const claims = JSON.parse(readFileSync(path.join(dir, 'work_claims.json'), 'utf8')) as Array<{ work_item_id: string; fencing_token: number }>;
    const byId = new Map(claims.map((x) => [x.work_item_id, x]));
    for (const [work, a] of acked) expect(byId.get(work)?.fencing_token, work).toBe(a.token);
  }, 120_000);
});
