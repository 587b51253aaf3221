import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEFAULT_SERVICES, ServiceMonitor, type ServiceState, type ServiceStatus } from '../daemon/services/health.js';
import { servicesRoutes } from '../daemon/services/routes.js';
import { eventually, testApp } from './fixtures/http-app.js';

interface TestServer {
  url: string;
  hits: number;
  server: Server;
  /** What the next requests get: a status code, 'slow' (200 after delayMs), or 'hang' (no answer). */
  mode: number | 'slow' | 'hang';
  close(): Promise<void>;
}

const servers: TestServer[] = [];
const monitors: ServiceMonitor[] = [];

async function serve(mode: TestServer['mode'], delayMs = 600): Promise<TestServer> {
  const t = { hits: 0, mode } as TestServer;
  t.server = createServer((req, res) => {
    t.hits++;
    if (t.mode === 'hang') return; // never answers; closeAllConnections() ends it
    const answer = (code: number) => res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify({ status: code < 300 ? 'ok' : 'error' }));
    if (t.mode === 'slow') setTimeout(() => answer(200), delayMs);
    else answer(t.mode);
  });
  await new Promise<void>((r) => t.server.listen(0, '127.0.0.1', r));
  t.url = `http://127.0.0.1:${(t.server.address() as AddressInfo).port}/health`;
  t.close = () =>
    new Promise<void>((r) => {
      t.server.close(() => r());
      t.server.closeAllConnections();
    });
  servers.push(t);
  return t;
}

function monitor(...args: ConstructorParameters<typeof ServiceMonitor>): ServiceMonitor {
  const m = new ServiceMonitor(...args);
  monitors.push(m);
  return m;
}

afterEach(async () => {
  monitors.splice(0).forEach((m) => m.stop());
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const byName = (list: ServiceStatus[]) => Object.fromEntries(list.map((s) => [s.name, s]));

describe('ServiceMonitor', () => {
  it('reports up, slow, down (500), down (timeout) and unknown before the first probe', async () => {
    const [up, slow, err, hang] = await Promise.all([serve(200), serve('slow', 600), serve(500), serve('hang')]);
    const m = monitor([
      { name: 'up', url: up.url, slow_ms: 2000 },
      { name: 'slow', url: slow.url, slow_ms: 150, timeout_ms: 5000 },
      { name: 'err', url: err.url },
      { name: 'hang', url: hang.url, timeout_ms: 300 },
    ]);
    expect(m.list().map((s) => s.status)).toEqual(['unknown', 'unknown', 'unknown', 'unknown']);
    expect(m.list()[0]).toMatchObject({ latency_ms: null, last_error: null, last_checked_at: null, http_status: null });

    const s = byName(await m.checkNow());
    expect(s.up).toMatchObject({ status: 'up', http_status: 200, last_error: null, consecutive_failures: 0 });
    expect(s.up.latency_ms).toBeGreaterThanOrEqual(0);
    expect(Date.parse(s.up.last_checked_at!)).not.toBeNaN();
    expect(s.slow).toMatchObject({ status: 'slow', http_status: 200, last_error: null });
    expect(s.slow.latency_ms).toBeGreaterThan(150); // above its slow threshold
    expect(s.err).toMatchObject({ status: 'down', http_status: 500, last_error: 'HTTP 500 Internal Server Error', consecutive_failures: 1 });
    expect(s.hang).toMatchObject({ status: 'down', http_status: null, latency_ms: null, last_error: 'no answer within 300 ms' });
    expect(byName(m.list())).toEqual(s); // list() shows what the probes found
  });

  it('reports a service that went away as down, and emits each transition once', async () => {
    const svc = await serve(200);
    const m = monitor([{ name: 'xavos', url: svc.url }]);
    const changes: Array<[ServiceState, ServiceState]> = [];
    let checks = 0;
    m.on('change', (s, previous) => changes.push([previous, s.status]));
    m.on('check', () => checks++);

    await m.checkNow();
    await m.checkNow(); // still up: a check, no change
    svc.mode = 503;
    const [failing] = await m.checkNow();
    expect(failing).toMatchObject({ status: 'down', http_status: 503, last_error: 'HTTP 503 Service Unavailable' });
    svc.mode = 200;
    await m.checkNow();
    await svc.close();
    const [gone] = await m.checkNow();
    expect(gone).toMatchObject({ status: 'down', http_status: null, latency_ms: null });
    expect(gone.last_error).toContain('ECONNREFUSED');
    const [again] = await m.checkNow();
    expect(again.consecutive_failures).toBe(2);
    expect(again.since).toBe(gone.since); // down since the first failed probe

    expect(changes).toEqual([
      ['unknown', 'up'],
      ['up', 'down'],
      ['down', 'up'],
      ['up', 'down'],
    ]);
    expect(checks).toBe(6);
  });

  it('probes on its interval once started, and stops', async () => {
    const svc = await serve(200);
    const m = monitor([{ name: 'a', url: svc.url, interval_ms: 30 }]);
    m.start();
    m.start(); // idempotent: no second loop
    expect(await eventually(() => svc.hits >= 3)).toBe(true);
    expect(m.list()[0].status).toBe('up');
    m.stop();
    const hits = svc.hits;
    await new Promise((r) => setTimeout(r, 200)); // several intervals
    expect(svc.hits).toBeLessThanOrEqual(hits + 1); // at most the probe that was already in flight
  });

  it('never runs two probes of one service at once', async () => {
    const svc = await serve('slow', 300);
    const m = monitor([{ name: 'a', url: svc.url }]);
    const [a, b] = await Promise.all([m.checkNow('a'), m.checkNow('a')]);
    expect(svc.hits).toBe(1);
    expect(a).toEqual(b);
  });

  it('validates its configuration and ships XAVOS as the example', () => {
    expect(
      () =>
        new ServiceMonitor([
          { name: 'a', url: 'http://x' },
          { name: 'a', url: 'http://y' },
        ]),
    ).toThrow(/unique/);
    expect(() => new ServiceMonitor([{ name: 'a', url: 'not a url' }])).toThrow(/invalid url/);
    expect(() => new ServiceMonitor([{ name: 'a', url: 'file:///etc/passwd' }])).toThrow(/only http/);
    expect(() => new ServiceMonitor([{ name: 'a', url: 'http://x', timeout_ms: 0 }])).toThrow(/positive/);
    expect(DEFAULT_SERVICES).toEqual([{ name: 'xavos', url: 'http://localhost:4002/health' }]);
  });
});

describe('GET /api/services', () => {
  it('lists the statuses, refreshes on ?refresh=1, and answers one service or 404', async () => {
    const svc = await serve(200);
    const m = monitor([
      { name: 'xavos', url: svc.url },
      { name: 'ghost', url: 'http://127.0.0.1:9/health', timeout_ms: 1000 },
    ]);
    const app = await testApp(servicesRoutes(m));
    try {
      const before = (await app.inject({ method: 'GET', url: '/api/services' })).json();
      expect(before.services.map((s: ServiceStatus) => s.status)).toEqual(['unknown', 'unknown']);
      expect(svc.hits).toBe(0);

      const res = await app.inject({ method: 'GET', url: '/api/services?refresh=1' });
      expect(res.statusCode).toBe(200);
      const [xavos, ghost] = res.json().services;
      expect(Object.keys(xavos).sort()).toEqual([
        'consecutive_failures',
        'http_status',
        'last_checked_at',
        'last_error',
        'latency_ms',
        'name',
        'probe_ms',
        'since',
        'status',
        'url',
      ]);
      expect(xavos).toMatchObject({ name: 'xavos', url: svc.url, status: 'up', http_status: 200 });
      expect(ghost).toMatchObject({ name: 'ghost', status: 'down' });
      expect(svc.hits).toBe(1);

      const one = await app.inject({ method: 'GET', url: '/api/services/xavos' });
      expect(one.json()).toMatchObject({ name: 'xavos', status: 'up' });
      const missing = await app.inject({ method: 'GET', url: '/api/services/nope' });
      expect(missing.statusCode).toBe(404);
      expect(missing.json()).toMatchObject({ error: 'not_found' });
    } finally {
      await app.close();
    }
  });
});
