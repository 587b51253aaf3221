// Hostile stream clients: no frame takes the daemon down, garbage is answered with a close code, a
// flooding client is rate-limited then closed and cannot fill the log, and the number of stream
// clients is capped while claims keep being served and the accepted clients converge.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { StreamClient } from '../client/stream-client.js';
import { startDaemon, type DaemonHandle } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';
import { wsText } from '../client/ws-text.js';

const wsUrl = (d: DaemonHandle, path = '/api/coordination/stream') => d.url.replace(/^http/, 'ws') + path;

/** Opens a raw client; resolves once open. `closed` gives the close code and reason the daemon sent. */
function open(url: string): Promise<{ ws: WebSocket; messages: string[]; closed: Promise<{ code: number; reason: string }> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const messages: string[] = [];
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
    ws.on('message', (m) => messages.push(wsText(m)));
    ws.on('open', () => resolve({ ws, messages, closed }));
    ws.on('error', reject);
  });
}

/** The outcome of an upgrade the daemon may refuse: 'open', or the HTTP status it answered. */
function tryOpen(url: string): Promise<{ status: number | 'open'; ws: WebSocket; closed: Promise<number> }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
    ws.on('open', () => resolve({ status: 'open', ws, closed }));
    ws.on('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0, ws, closed });
      res.resume();
      ws.terminate();
    });
    ws.on('error', () => {});
  });
}

async function alive(d: DaemonHandle, c: HttpClient): Promise<void> {
  expect(d.proc.exitCode).toBeNull();
  expect((await c.get('/health')).status).toBe(200);
}

describe('hostile frames', () => {
  let d: DaemonHandle;
  let c: HttpClient;
  beforeAll(async () => {
    d = await startDaemon();
    c = new HttpClient(d.url);
  });
  afterAll(async () => {
    c.close();
    expect(await d.stop()).toBe(0);
  });

  it('frames that are not a client message close that client with 1007; the daemon stays up', async () => {
    const bad = [
      'null',
      '1',
      '[]',
      '"x"',
      '{"type":null}',
      '{}',
      'not json',
      '{"type":"resync","reason":"nope"}',
      '{"type":"resync","reason":"gap","revision":-1}',
      '{"type":"other"}',
    ];
    for (const frame of bad) {
      const { ws, closed } = await open(wsUrl(d));
      ws.send(frame);
      const { code, reason } = await closed;
      expect([frame, code]).toEqual([frame, 1007]);
      expect(reason).toMatch(/^invalid message: /);
      await alive(d, c);
    }
    const metrics = String((await c.get('/metrics')).body);
    expect(metrics).toMatch(new RegExp(`websocket_frames_rejected_total\\{stream="coordination",reason="invalid"\\} ${bad.length}\\b`));
  });

  it('a binary frame closes with 1003, a frame over the size limit with 1009; a valid resync still works', async () => {
    const bin = await open(wsUrl(d));
    bin.ws.send(Buffer.from([0, 1, 2, 3]));
    expect((await bin.closed).code).toBe(1003);
    const huge = await open(wsUrl(d));
    huge.ws.send(JSON.stringify({ type: 'resync', reason: 'gap', pad: 'x'.repeat(256 * 1024) }));
    expect((await huge.closed).code).toBe(1009);
    await alive(d, c);
    const good = await open(wsUrl(d));
    await expect.poll(() => good.messages.filter((m) => m.startsWith('{"type":"snapshot"')).length, { timeout: 10_000 }).toBe(1);
    good.ws.send(JSON.stringify({ type: 'resync', reason: 'checksum', revision: 0 }));
    await expect.poll(() => good.messages.filter((m) => m.startsWith('{"type":"snapshot"')).length, { timeout: 10_000 }).toBe(2);
    good.ws.close();
  });

  it('the telemetry stream ignores text frames and refuses binary and oversized ones, without dying', async () => {
    const t = await open(wsUrl(d, '/api/telemetry/stream'));
    for (const frame of ['null', '1', '[]', '"x"', '{"type":null}']) t.ws.send(frame);
    t.ws.send(Buffer.from([9, 9])); // arrives after the text frames: they did not close the stream
    expect((await t.closed).code).toBe(1003);
    const big = await open(wsUrl(d, '/api/telemetry/stream'));
    big.ws.send('x'.repeat(256 * 1024));
    expect((await big.closed).code).toBe(1009);
    await alive(d, c);
  });

  it('a client flooding resync requests is ignored over the rate, then closed with 1008; the log stays small', async () => {
    const logBefore = d.logs.length;
    // A 60 KB field in a resync request: refused as invalid, and never logged.
    const fat = await open(wsUrl(d));
    fat.ws.send(JSON.stringify({ type: 'resync', reason: 'gap' + 'y'.repeat(60_000) }));
    expect((await fat.closed).code).toBe(1007);
    // Valid requests (with a 60 KB extra field) as fast as the socket takes them.
    const flood = await open(wsUrl(d));
    const frame = JSON.stringify({ type: 'resync', reason: 'gap', revision: 1, pad: 'z'.repeat(60_000) });
    let sent = 0;
    while (flood.ws.readyState === WebSocket.OPEN && sent < 2000) {
      flood.ws.send(frame);
      sent++;
      if (sent % 20 === 0) await new Promise((r) => setImmediate(r));
    }
    const { code, reason } = await flood.closed;
    expect(code).toBe(1008);
    expect(reason).toBe('too many messages');
    await alive(d, c);
    const lines = d.logs.slice(logBefore);
    expect(lines.some((l) => l.includes('yyyyyyyy') || l.includes('zzzzzzzz'))).toBe(false);
    const resyncLogged = lines.filter((l) => l.includes('asked for a resync')).length;
    expect(resyncLogged).toBeGreaterThan(0);
    expect(resyncLogged).toBeLessThan(60); // the burst and the rate, not the flood
    expect(lines.join('\n').length).toBeLessThan(64 * 1024);
    const metrics = String((await c.get('/metrics')).body);
    expect(Number(/websocket_frames_rejected_total\{stream="coordination",reason="rate_limited"\} (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(50);
  });
});

describe('stream client cap', () => {
  it('clients over --max-stream-clients are refused cleanly; claims are served meanwhile; the accepted ones converge', async () => {
    const cap = 6;
    const d = await startDaemon({ args: ['--max-stream-clients', String(cap), '--lease-ms', '3600000'] });
    const c = new HttpClient(d.url);
    try {
      for (let i = 0; i < 200; i++)
        expect((await c.post('/api/work', { work_id: `cap_${i}`, work_type: 'bulk', description: 'd'.repeat(200) })).status).toBe(201);
      const extra = 4;
      const attempts = Array.from({ length: cap + extra }, () => tryOpen(wsUrl(d)));
      const claim = c.post('/api/coordination/claim', { work_id: 'cap_7', agent_id: 'cap_agent' });
      const results = await Promise.all(attempts);
      expect((await claim).status).toBe(200);
      const opened = results.filter((r) => r.status === 'open');
      const refused = results.filter((r) => r.status !== 'open');
      // Refused before the upgrade (503), or closed at once with 1013 when upgrades raced the check.
      const refusedCodes = await Promise.all(refused.map(async (r) => (r.status === 'open' ? await r.closed : r.status)));
      for (const code of refusedCodes) expect([503, 1013]).toContain(code);
      const stillOpen = opened.filter((r) => r.ws.readyState === WebSocket.OPEN);
      const closedAtOnce = await Promise.all(opened.filter((r) => r.ws.readyState !== WebSocket.OPEN).map((r) => r.closed));
      for (const code of closedAtOnce) expect(code).toBe(1013);
      expect(stillOpen.length + closedAtOnce.length + refused.length).toBe(cap + extra);
      expect(stillOpen.length).toBeLessThanOrEqual(cap);
      expect(refused.length + closedAtOnce.length).toBeGreaterThanOrEqual(extra);
      for (const r of stillOpen) r.ws.close();
      await expect
        .poll(async () => /websocket_clients\{stream="coordination"\} 0\b/.test(String((await c.get('/metrics')).body)), { timeout: 10_000 })
        .toBe(true);

      // A full house of verifying clients, connecting at once, all converge while claims go on.
      const clients = Array.from({ length: cap }, () => new StreamClient({ url: d.url }).start());
      const claims = await Promise.all(
        Array.from({ length: 20 }, (_, i) => c.post('/api/coordination/claim', { work_id: `cap_${100 + i}`, agent_id: `cap_agent_${i % 3}` })),
      );
      for (const r of claims) expect(r.status).toBe(200);
      const status = (await c.get('/api/coordination/status')).body;
      await Promise.all(clients.map((sc) => sc.waitForRevision(status.revision)));
      for (const sc of clients) {
        expect(sc.verified).toBe(true);
        expect(sc.checksum).toBe(status.checksum);
      }
      const over = await tryOpen(wsUrl(d));
      expect(over.status === 'open' ? await over.closed : over.status).toBe(503);
      for (const sc of clients) sc.stop();
    } finally {
      c.close();
      await d.stop();
    }
  });

  it('max_stream_clients must be a whole number of at least 1', async () => {
    await expect(startDaemon({ args: ['--max-stream-clients', '0'], timeoutMs: 10_000 })).rejects.toThrow(/max_stream_clients must be an integer >= 1/);
  });
});
