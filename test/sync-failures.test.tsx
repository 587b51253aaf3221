// Sync failures are a live figure: a resync request and a slow client dropped with 4001 each move
// state_sync_failures_total, GET /api/stats (sync.sync_failures and its reasons) and the console's
// Health panel by the same amounts.
import { render } from 'ink-testing-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { StatsResponse } from '../shared/protocol.js';
import { ConsoleModel } from '../tui/model/console-model.js';
import { HealthPanel } from '../tui/panels/health/health-panel.js';
import { startDaemon, type DaemonHandle } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';
import { wsText } from '../client/ws-text.js';

let d: DaemonHandle;
let c: HttpClient;
beforeAll(async () => {
  d = await startDaemon({ args: ['--lease-ms', '3600000'] });
  c = new HttpClient(d.url);
});
afterAll(async () => {
  c.close();
  await d.stop();
});

const wsUrl = () => d.url.replace(/^http/, 'ws') + '/api/coordination/stream';

async function metricCounts(): Promise<Record<string, number>> {
  const text = String((await c.get('/metrics')).body);
  return Object.fromEntries([...text.matchAll(/^state_sync_failures_total\{reason="([a-z_]+)"\} (\d+)$/gm)].map((m) => [m[1], Number(m[2])]));
}
const stats = async (): Promise<StatsResponse> => (await c.get('/api/stats')).body as StatsResponse;

function openClient(): Promise<{ ws: WebSocket; snapshots: () => number; closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl());
    let snapshots = 0;
    const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
    ws.on('message', (m) => {
      if (wsText(m).startsWith('{"type":"snapshot"')) snapshots++;
    });
    ws.on('open', () => resolve({ ws, snapshots: () => snapshots, closed }));
    ws.on('error', reject);
  });
}

function healthFrame(s: StatsResponse): string {
  const model = new ConsoleModel({ throttleMs: 0 });
  model.setStats(s);
  const app = render(<HealthPanel model={model} url={d.url} now={Date.now()} width={160} height={30} />);
  const frame = (app.lastFrame() ?? '').replace(/\x1b\[[0-9;]*m/g, '');
  app.unmount();
  return frame;
}

describe('sync failures', () => {
  it('start at 0 everywhere', async () => {
    const s = await stats();
    expect(s.sync.sync_failures).toBe(0);
    expect(Object.values(await metricCounts()).reduce((a, b) => a + b, 0)).toBe(0);
    expect(healthFrame(s)).toMatch(/sync failures 0 · last file error: none/);
  });

  it('a resync request and a slow client dropped with 4001 move /metrics, /api/stats and the Health panel alike', async () => {
    // Resync requests: one after a gap, one after a checksum mismatch.
    const r = await openClient();
    await expect.poll(r.snapshots, { timeout: 10_000 }).toBe(1);
    r.ws.send(JSON.stringify({ type: 'resync', reason: 'gap', revision: 0 }));
    await expect.poll(r.snapshots, { timeout: 10_000 }).toBe(2);
    r.ws.send(JSON.stringify({ type: 'resync', reason: 'checksum', revision: 0 }));
    await expect.poll(r.snapshots, { timeout: 10_000 }).toBe(3);
    r.ws.close();
    let s = await stats();
    expect(s.sync.sync_failures_by_reason).toMatchObject({ gap: 1, checksum: 1, slow_client: 0 });
    expect(s.sync.sync_failures).toBe(2);
    expect(await metricCounts()).toMatchObject({ gap: 1, checksum: 1, slow_client: 0 });
    expect(healthFrame(s)).toMatch(/sync failures 2 \(checksum 1, gap 1\)/);

    // A client that stops reading while deltas pile up past the daemon's bound.
    const slow = await openClient();
    await expect.poll(slow.snapshots, { timeout: 10_000 }).toBe(1);
    (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const big = 'x'.repeat(4000);
    const dropped = async () => /reason="slow_client"\} [1-9]/.test(String((await c.get('/metrics')).body));
    for (let i = 0; i < 8000 && (i % 500 !== 0 || !(await dropped())); i += 50) {
      const batch = await Promise.all(
        Array.from({ length: 50 }, (_, j) => c.post('/api/work', { work_id: `sf_${i + j}`, work_type: 'bulk', description: big })),
      );
      for (const b of batch) expect(b.status).toBe(201);
    }
    (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    expect(await slow.closed).toBe(4001);

    s = await stats();
    const m = await metricCounts();
    expect(m.slow_client).toBe(1);
    expect(s.sync.sync_failures_by_reason).toEqual(m);
    expect(s.sync.sync_failures).toBe(Object.values(m).reduce((a, b) => a + b, 0));
    expect(s.sync.sync_failures).toBe(3);
    expect(healthFrame(s)).toMatch(/sync failures 3 \(checksum 1, gap 1, slow_client 1\)/);
  });
});
