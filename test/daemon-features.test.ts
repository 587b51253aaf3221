// The analyzer bridge and the service monitor inside the real daemon: an analyzer command fixture,
// a local HTTP server as a probed service, and what /api/claude, /api/services, /api/stats,
// /metrics and the coordination stream report about them.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STREAM_PATH, toWsUrl, type EventMessage, type ServerMessage } from '../shared/protocol.js';
import { eventually } from './fixtures/http-app.js';
import { ROOT, startDaemon, tempDir, type DaemonHandle } from './helpers/daemon.js';
import type { JsonResponse } from './helpers/http.js';
import { wsText } from '../client/ws-text.js';

const ECHO = path.join(ROOT, 'test/fixtures/analyzer-echo.sh');

let d: DaemonHandle;
let server: Server;
let serviceUrl: string;
let ws: WebSocket;
const events: EventMessage[] = [];

const get = async (p: string) => {
  const res = await fetch(d.url + p);
  const body: JsonResponse['body'] = (res.headers.get('content-type') ?? '').includes('json') ? await res.json() : await res.text();
  return { status: res.status, body };
};
const post = async (p: string, body: unknown) => {
  const res = await fetch(d.url + p, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json: JsonResponse['body'] = await res.json();
  return { status: res.status, body: json };
};
const metric = async (line: RegExp): Promise<number | null> => {
  const text = (await get('/metrics')).body as string;
  const m = text.split('\n').find((l) => line.test(l));
  return m ? Number(m.split(' ').pop()) : null;
};

beforeAll(async () => {
  server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  serviceUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`;
  const dir = tempDir('aip-features-');
  const config = path.join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ services: [{ name: 'local', url: serviceUrl, interval_ms: 150, timeout_ms: 1000 }] }));
  d = await startDaemon({ dataDir: path.join(dir, 'data'), args: ['--config', config, '--analyzer-command', ECHO] });
  ws = new WebSocket(toWsUrl(d.url, STREAM_PATH));
  ws.on('message', (raw) => {
    const msg = JSON.parse(wsText(raw)) as ServerMessage;
    if (msg.type === 'event') events.push(msg);
  });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
});

afterAll(async () => {
  ws?.close();
  if (server.listening) await new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r())));
  expect(await d.stop()).toBe(0);
});

describe('analyzer bridge in the daemon', () => {
  it('POST /api/claude/analyze-priorities pipes the current state into the configured command', async () => {
    expect((await post('/api/work', { work_id: 'feat_w1', work_type: 'analysis', priority: 'high' })).status).toBe(201);
    const res = await post('/api/claude/analyze-priorities', {});
    expect(res.status).toBe(200);
    expect(res.body.analysis.summary).toBe('echo');
    // The fixture echoes its stdin: the daemon's own state, with the item just created.
    expect(res.body.analysis.received.work.feat_w1.data).toMatchObject({ work_item_id: 'feat_w1', priority: 'high' });
    expect(res.body.source).toBe('command');

    const status = await get('/api/claude/status');
    expect(status.body).toMatchObject({ mode: 'command', command: ECHO, running: 0, queued: 0, last_outcome: 'ok' });
    expect(await metric(/^analyzer_requests_total\{outcome="ok"\}/)).toBe(1);
    expect(await metric(/^analyzer_duration_seconds_count/)).toBe(1);
  });

  it('a system_state in the body is analyzed instead of the current state', async () => {
    const res = await post('/api/claude/analyze-priorities', { system_state: { work: [], agents: [], marker: 42 } });
    expect(res.status).toBe(200);
    expect(res.body.analysis.received.marker).toBe(42);
  });
});

describe('service monitor in the daemon', () => {
  it('reports the service up, then down once it is closed, in /api/services, /api/stats, /metrics and the stream', async () => {
    const up = await eventually(async () => (await get('/api/services')).body.services?.[0]?.status === 'up', 10_000);
    expect(up).toBe(true);
    const stats = (await get('/api/stats')).body;
    expect(stats.services).toEqual([expect.objectContaining({ name: 'local', url: serviceUrl, status: 'up', last_error: null })]);
    expect(stats.analyzer).toMatchObject({ mode: 'command', command: ECHO, running: 0, queued: 0, last_outcome: 'ok' });
    expect(await metric(/^service_up\{service="local"\}/)).toBe(1);
    expect(await metric(/^service_probe_duration_seconds\{service="local"\}/)).toBeGreaterThanOrEqual(0);
    // The default XAVOS entry is replaced by the configured list, not added to it.
    expect(await metric(/^service_up\{service="xavos"\}/)).toBeNull();

    await new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r())));
    const down = await eventually(async () => (await get('/api/services')).body.services?.[0]?.status === 'down', 10_000);
    expect(down).toBe(true);
    const after = (await get('/api/services/local')).body;
    expect(after.last_error).toMatch(/ECONNREFUSED/);
    expect((await get('/api/stats')).body.services[0]).toMatchObject({ name: 'local', status: 'down' });
    expect(await metric(/^service_up\{service="local"\}/)).toBe(0);
    // The change reached stream clients as a side-channel event.
    const seen = await eventually(() => events.find((e) => e.event === 'service_status' && e.detail.status === 'down'), 5000);
    expect(seen?.detail).toMatchObject({ name: 'local', status: 'down', previous: 'up' });
  });
});
