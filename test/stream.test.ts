// The coordination stream: every client's copy has the daemon's checksum after each delta, no gaps,
// ?since= replays exactly what was missed (from memory or from the journal after a restart), and a
// client that never reads is dropped instead of growing the daemon's memory.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { StreamClient } from '../client/stream-client.js';
import { stateChecksum } from '../shared/checksum.js';
import type { DeltaMessage, ServerMessage } from '../shared/protocol.js';
import { rssOf } from '../bench/proc.js';
import { startDaemon, tempDir, type DaemonHandle } from './helpers/daemon.js';
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

/** Collects the raw messages of one WebSocket connection. */
function rawClient(url: string): Promise<{ ws: WebSocket; messages: ServerMessage[] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const messages: ServerMessage[] = [];
    ws.on('message', (m) => messages.push(JSON.parse(wsText(m))));
    ws.on('open', () => resolve({ ws, messages }));
    ws.on('error', reject);
  });
}

async function makeChanges(n: number, prefix: string): Promise<number> {
  let last = 0;
  for (let i = 0; i < n; i += 10) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(10, n - i) }, (_, j) =>
        c.post('/api/coordination/claim', { work_id: `${prefix}_${i + j}`, agent_id: `${prefix}_agent_${(i + j) % 7}` }),
      ),
    );
    for (const r of batch) {
      expect(r.status).toBe(200);
      last = Math.max(last, r.body.revision);
    }
  }
  return last;
}

describe('coordination stream', () => {
  it('several clients verify every delta and converge on the daemon checksum', async () => {
    const clients = [0, 1, 2].map(() => new StreamClient({ url: d.url }).start());
    const verifiedPerDelta = clients.map(() => [] as boolean[]);
    clients.forEach((sc, i) => sc.on('delta', () => verifiedPerDelta[i].push(sc.verified)));
    await Promise.all(clients.map((sc) => new Promise((r) => sc.once('snapshot', r))));
    const last = await makeChanges(150, 'stream');
    await Promise.all(clients.map((sc) => sc.waitForRevision(last)));
    const status = (await c.get('/api/coordination/status')).body;
    for (const [i, sc] of clients.entries()) {
      expect(sc.resyncs).toBe(0); // no gap, no mismatch
      expect(verifiedPerDelta[i].length).toBeGreaterThanOrEqual(150);
      expect(verifiedPerDelta[i].every(Boolean)).toBe(true);
      if (sc.revision === status.revision) expect(sc.checksum).toBe(status.checksum);
      expect(stateChecksum(sc.state)).toBe(sc.checksum);
      sc.stop();
    }
    expect(clients[0].checksum).toBe(status.checksum);
  });

  it('a snapshot written in fragments while claims go on verifies and is followed gap-free; __proto__ is a record like any other', async () => {
    const big = 'z'.repeat(1000);
    for (let i = 0; i < 400; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, j) => c.post('/api/work', { work_id: `frag_${i + j}`, work_type: 'bulk', description: big })));
    }
    expect((await c.post('/api/coordination/claim', { work_id: '__proto__', agent_id: '__proto__' })).status).toBe(200);
    // A client connects while claims are being made: its snapshot (~450 KB, several fragments) is
    // written across event-loop turns, the claims' deltas wait behind it.
    const during = makeChanges(200, 'frag_claims');
    const sc = new StreamClient({ url: d.url }).start();
    await new Promise((r) => sc.once('snapshot', r));
    const last = await during;
    await sc.waitForRevision(last);
    const status = (await c.get('/api/coordination/status')).body;
    expect(sc.resyncs).toBe(0);
    expect(stateChecksum(sc.state)).toBe(sc.checksum);
    expect([sc.revision, sc.checksum]).toEqual([status.revision, status.checksum]);
    for (const state of [sc.state, status.state]) {
      expect(Object.hasOwn(state.work, '__proto__')).toBe(true);
      expect(state.work['__proto__'].data.agent_id).toBe('__proto__');
      expect(Object.keys(state.work).filter((k) => k.startsWith('frag_') && !k.startsWith('frag_claims'))).toHaveLength(400);
    }
    expect(stateChecksum(status.state)).toBe(status.checksum);
    sc.stop();
  });

  it('?since= replays exactly the missed deltas, in order, without a snapshot', async () => {
    const since = (await c.get('/api/coordination/status')).body.revision;
    const last = await makeChanges(40, 'missed');
    const { ws, messages } = await rawClient(`${d.url.replace('http', 'ws')}/api/coordination/stream?since=${since}`);
    await expect.poll(() => messages.some((m) => m.type === 'replayed'), { timeout: 5000 }).toBe(true);
    ws.close();
    const deltas = messages.filter((m): m is DeltaMessage => m.type === 'delta');
    expect(messages.some((m) => m.type === 'snapshot')).toBe(false);
    expect(deltas.map((m) => m.revision)).toEqual(Array.from({ length: last - since }, (_, i) => since + 1 + i));
  });

  it('a client resumes after a daemon restart from the journal on disk', async () => {
    const dataDir = tempDir('aip-resume-');
    let d2 = await startDaemon({ dataDir });
    const c2 = new HttpClient(d2.url);
    for (let i = 0; i < 20; i++) await c2.post('/api/coordination/claim', { work_id: `r_${i}`, agent_id: 'ra' });
    const mid = 10;
    const before = (await c2.get('/api/coordination/status')).body;
    c2.close();
    expect(await d2.stop()).toBe(0);
    d2 = await startDaemon({ dataDir });
    const { ws, messages } = await rawClient(`${d2.url.replace('http', 'ws')}/api/coordination/stream?since=${mid}`);
    await expect.poll(() => messages.some((m) => m.type === 'replayed'), { timeout: 5000 }).toBe(true);
    ws.close();
    const deltas = messages.filter((m): m is DeltaMessage => m.type === 'delta');
    expect(deltas[0].revision).toBe(mid + 1);
    expect(deltas.at(-1)!.revision).toBe(before.revision);
    expect(deltas.at(-1)!.checksum).toBe(before.checksum);
    await d2.stop();
  });

  it('a clean stop checkpoints a large journal: the restart reads the snapshot, nothing is lost, clients still resume', async () => {
    const dataDir = tempDir('aip-checkpoint-');
    let d2 = await startDaemon({ dataDir, args: ['--lease-ms', '3600000'] });
    const c2 = new HttpClient(d2.url);
    const big = 'y'.repeat(4000);
    for (let i = 0; i < 320; i += 20) {
      await Promise.all(Array.from({ length: 20 }, (_, j) => c2.post('/api/work', { work_id: `cp_${i + j}`, work_type: 'bulk', description: big })));
    }
    for (let i = 0; i < 10; i++) expect((await c2.post('/api/coordination/claim', { work_id: `cp_${i}`, agent_id: `cpa_${i % 3}` })).status).toBe(200);
    const before = (await c2.get('/api/coordination/status')).body;
    c2.close();
    const meta = path.join(dataDir, '.ai-processor');
    expect(statSync(path.join(meta, 'journal.jsonl')).size).toBeGreaterThan(1024 * 1024);
    expect(await d2.stop()).toBe(0);
    // The journal was folded into the snapshot (kept as journal.prev.jsonl for ?since= replays).
    expect(statSync(path.join(meta, 'journal.jsonl')).size).toBe(0);
    expect(JSON.parse(readFileSync(path.join(meta, 'snapshot.json'), 'utf8').split('\n')[0]).revision).toBe(before.revision);
    expect(statSync(path.join(meta, 'journal.prev.jsonl')).size).toBeGreaterThan(1024 * 1024);
    d2 = await startDaemon({ dataDir });
    const c3 = new HttpClient(d2.url);
    const after = (await c3.get('/api/coordination/status')).body;
    c3.close();
    expect(after.revision).toBe(before.revision);
    expect(after.checksum).toBe(before.checksum);
    expect(after.state.work['cp_4'].data.agent_id).toBe('cpa_1');
    expect(Object.keys(after.state.work).filter((k) => k.startsWith('cp_'))).toHaveLength(320);
    // Nothing from the legacy files was taken for an external edit.
    expect(d2.logs.some((l) => l.includes('picked up external edit'))).toBe(false);
    const mid = before.revision - 15;
    const { ws, messages } = await rawClient(`${d2.url.replace('http', 'ws')}/api/coordination/stream?since=${mid}`);
    await expect.poll(() => messages.some((m) => m.type === 'replayed'), { timeout: 5000 }).toBe(true);
    ws.close();
    expect(messages.some((m) => m.type === 'snapshot')).toBe(false);
    const deltas = messages.filter((m): m is DeltaMessage => m.type === 'delta');
    expect(deltas.map((m) => m.revision)).toEqual(Array.from({ length: 15 }, (_, i) => mid + 1 + i));
    expect(deltas.at(-1)!.checksum).toBe(before.checksum);
    expect(await d2.stop()).toBe(0);
    // The snapshot stores each record's checksum term; one of the previous format (without them)
    // still loads, its terms computed, to the same checksum.
    const snapFile = path.join(meta, 'snapshot.json');
    const [head, ...rows] = readFileSync(snapFile, 'utf8').split('\n');
    expect(JSON.parse(head).format).toBe(3);
    const old = rows
      .filter((line) => line && !line.startsWith('{"end":'))
      .map((line) => {
        // the trailer is not a row
        const [section, key, entry, term, text] = JSON.parse(line) as [string, string, unknown, string, string?];
        expect(term).toMatch(/^[0-9a-f]{64}$/);
        return JSON.stringify(text === undefined ? [section, key, entry] : [section, key, entry, text]);
      });
    writeFileSync(snapFile, [JSON.stringify({ ...JSON.parse(head), format: 2, trailer: undefined }), ...old].join('\n') + '\n');
    d2 = await startDaemon({ dataDir });
    const c4 = new HttpClient(d2.url);
    const fromOld = (await c4.get('/api/coordination/status')).body;
    c4.close();
    expect([fromOld.revision, fromOld.checksum]).toEqual([before.revision, before.checksum]);
    expect(await d2.stop()).toBe(0);
  });

  it('a client that never reads is dropped with the resync close code; memory stays bounded; it can resync', async () => {
    const { ws } = await rawClient(`${d.url.replace('http', 'ws')}/api/coordination/stream`);
    const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
    (ws as unknown as { _socket: { pause(): void } })._socket.pause(); // stop reading
    const rssBefore = rssOf(d.proc.pid!);
    const big = 'x'.repeat(4000);
    for (let i = 0; i < 3000; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, j) => c.post('/api/work', { work_id: `slow_${i + j}`, work_type: 'bulk', description: big })));
    }
    const metrics = (await c.get('/metrics')).body as string;
    expect(metrics).toMatch(/state_sync_failures_total\{reason="slow_client"\} [1-9]/);
    // The stuck client was let go (not counted any more), and memory did not run away: the state
    // itself grew by ~3000 x 4 KB; a daemon buffering every delta for the client would add as much again.
    expect(metrics).toMatch(/websocket_clients\{stream="coordination"\} 0/);
    expect(rssOf(d.proc.pid!) - rssBefore).toBeLessThan(128 * 1024 * 1024);
    (ws as unknown as { _socket: { resume(): void } })._socket.resume();
    expect(await closed).toBe(4001);
    const again = new StreamClient({ url: d.url }).start();
    await new Promise((r) => again.once('snapshot', r));
    expect(again.verified).toBe(true);
    again.stop();
  });

  it('?since= reaching back beyond the in-memory deltas replays from the journal on disk', async () => {
    const status = (await c.get('/api/coordination/status')).body;
    expect(status.revision).toBeGreaterThan(2_500); // the slow-client test made thousands of changes
    const { ws, messages } = await rawClient(`${d.url.replace('http', 'ws')}/api/coordination/stream?since=1`);
    await expect.poll(() => messages.some((m) => m.type === 'replayed'), { timeout: 10_000 }).toBe(true);
    ws.close();
    const deltas = messages.filter((m): m is DeltaMessage => m.type === 'delta');
    expect(messages.some((m) => m.type === 'snapshot')).toBe(false);
    expect(deltas[0].revision).toBe(2);
    expect(deltas.length).toBeGreaterThanOrEqual(status.revision - 1);
    for (let i = 1; i < deltas.length; i++) expect(deltas[i].revision).toBe(deltas[i - 1].revision + 1);
    expect(deltas.find((m) => m.revision === status.revision)!.checksum).toBe(status.checksum);
  });

  it('a resync asked for while disconnected gets a snapshot on reconnect, then verifies', async () => {
    const dataDir = tempDir('aip-resync-');
    let d2 = await startDaemon({ dataDir });
    const sc = new StreamClient({ url: d2.url, minBackoffMs: 50, maxBackoffMs: 200 }).start();
    await new Promise((r) => sc.once('snapshot', r));
    expect(await d2.stop()).toBe(0);
    await expect.poll(() => sc.connection).toBe('reconnecting');
    sc.requestResync('manual');
    expect(sc.verified).toBe(false);
    d2 = await startDaemon({ dataDir, args: ['--port', String(d2.port)] });
    await expect.poll(() => sc.snapshots, { timeout: 10_000 }).toBe(2);
    await expect.poll(() => sc.verified).toBe(true);
    sc.stop();
    await d2.stop();
  });
});
