// Security beyond loopback: with a token configured, every mutating route and both streams need
// `Authorization: Bearer <token>` (401 {error:'unauthorized', message} otherwise), reads stay open,
// the token never reaches the daemon's output; TLS serves https and wss (the shared clients included);
// rate limits answer 429 with retry-after on mutating requests only, per client IP.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadConfig } from '../daemon/config.js';
import { startDaemon as startInProcess } from '../daemon/daemon.js';
import { StreamClient } from '../client/stream-client.js';
import { STREAM_PATH, TELEMETRY_STREAM_PATH } from '../shared/protocol.js';
import { ROOT, runCli, startDaemon, tempDir, type DaemonHandle } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';
import { requireTool } from './helpers/system-tools.js';
import { wsText } from '../client/ws-text.js';

const TOKEN = `tok-${randomBytes(18).toString('hex')}`;
const FILE_TOKEN = `ftok-${randomBytes(18).toString('hex')}`;
const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const AUTH = { authorization: `Bearer ${TOKEN}` };

type Route = { method: string; url: string; websocket: boolean };
let appRoutes: Route[] = [];
let d: DaemonHandle;
let c: HttpClient;

/** Mutating routes declared in the sources (`app.post('/x', ...)` and the like). */
function routesInSources(): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const file = path.join(dir, name);
      if (statSync(file).isDirectory()) walk(file);
      else if (name.endsWith('.ts')) {
        for (const m of readFileSync(file, 'utf8').matchAll(/\bapp\.(post|put|patch|delete)(?:<[^>]*>)?\(\s*['"`]([^'"`]+)['"`]/g))
          found.push(`${m[1].toUpperCase()} ${m[2]}`);
      }
    }
  };
  walk(path.join(ROOT, 'daemon'));
  return [...new Set(found)].sort();
}

const fill = (url: string) => url.replace(/:(\w+)/g, (_m, name: string) => `sec-${name.replace(/_/g, '-')}`);

/** Opens a WebSocket; resolves with the HTTP status of a refused upgrade, or 'open' and the first message. */
function upgrade(
  url: string,
  opts: WebSocket.ClientOptions = {},
): Promise<{ status: number | 'open'; body?: string; first?: { type: string; revision: number } }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts);
    ws.on('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => {
        req.destroy();
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    ws.on('open', () => {
      const t = setTimeout(() => {
        ws.close();
        resolve({ status: 'open' });
      }, 1500);
      ws.once('message', (m) => {
        clearTimeout(t);
        ws.close();
        resolve({ status: 'open', first: JSON.parse(wsText(m)) });
      });
    });
    ws.on('error', (err) => {
      if (!/closed before the connection/.test(err.message)) reject(err);
    });
  });
}

beforeAll(async () => {
  // The routes as the app declares them: an in-process daemon with a token, closed again at once.
  const config = loadConfig({ data_dir: tempDir('aip-routes-'), port: 0, token: TOKEN, services: [] }, {});
  const inproc = await startInProcess(config, pino({ level: 'silent' }));
  appRoutes = inproc.routes.filter((r) => r.method !== 'HEAD');
  await inproc.close();

  d = await startDaemon({ args: ['--lease-ms', '3600000'], env: { AI_PROCESSOR_TOKEN: TOKEN, AI_PROCESSOR_SERVICES: '[]' } });
  c = new HttpClient(d.url);
});
afterAll(async () => {
  c?.close();
  await d?.stop();
});

describe('bearer token', () => {
  it('the app declares every mutating route found in the sources, and both streams', () => {
    const declared = new Set(appRoutes.map((r) => `${r.method} ${r.url}`));
    const inSources = routesInSources();
    expect(inSources.length).toBeGreaterThanOrEqual(10);
    for (const r of inSources) expect(declared, `${r} is in the sources but not in the app`).toContain(r);
    for (const core of [
      'POST /api/agents',
      'POST /api/work',
      'POST /api/coordination/claim',
      'POST /api/coordination/complete',
      'POST /api/claude/analyze-priorities',
      'POST /api/entropy/baseline',
    ]) {
      expect(declared).toContain(core);
    }
    expect(
      appRoutes
        .filter((r) => r.websocket)
        .map((r) => r.url)
        .sort(),
    ).toEqual([STREAM_PATH, TELEMETRY_STREAM_PATH].sort());
  });

  it('every mutating route answers 401 {error, message} without the token, or with a wrong one; nothing changes', async () => {
    const before = (await c.get('/api/coordination/status')).body;
    const mutating = appRoutes.filter((r) => MUTATING.has(r.method));
    expect(mutating.length).toBeGreaterThanOrEqual(10);
    const wrong: Array<Record<string, string> | undefined> = [
      undefined,
      { authorization: 'Bearer wrong' },
      { authorization: `Bearer ${TOKEN}x` },
      { authorization: TOKEN },
      { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` },
    ];
    for (const r of mutating) {
      for (const headers of wrong) {
        const res = await c.request(r.method, fill(r.url), { work_id: 'sec-w', agent_id: 'sec-a', work_type: 't', events: [] }, headers);
        expect(res.status, `${r.method} ${r.url} with ${JSON.stringify(headers)}`).toBe(401);
        expect(res.body).toEqual({ error: 'unauthorized', message: expect.any(String) });
      }
    }
    const after = (await c.get('/api/coordination/status')).body;
    expect(after.revision).toBe(before.revision);
    expect(after.checksum).toBe(before.checksum);
  });

  it('with the token every mutating route is accepted (2xx)', async () => {
    // Bodies in an order that makes each call valid (the claim is held for progress/release/complete).
    const plan: Array<[string, string, unknown]> = [
      ['POST', '/api/agents', { agent_id: 'sec-agent-id' }],
      ['POST', '/api/agents/sec-agent-id/heartbeat', {}],
      ['POST', '/api/work', { work_id: 'sec-w1', work_type: 'security' }],
      ['POST', '/api/coordination/claim', { work_id: 'sec-w1', agent_id: 'sec-agent-id' }],
      ['POST', '/api/coordination/progress', { work_id: 'sec-w1', agent_id: 'sec-agent-id', progress: 50 }],
      ['POST', '/api/coordination/release', { work_id: 'sec-w1', agent_id: 'sec-agent-id' }],
      ['POST', '/api/coordination/claim', { work_id: 'sec-w1', agent_id: 'sec-agent-id' }],
      ['POST', '/api/coordination/complete', { work_id: 'sec-w1', agent_id: 'sec-agent-id' }],
      ['POST', '/api/entropy/baseline', {}],
      ['POST', '/api/claude/analyze-priorities', {}],
      ['POST', '/api/claude/stream', { events: [{}] }],
    ];
    const planned = new Set(plan.map(([m, u]) => `${m} ${u.replace('sec-agent-id', ':agent_id')}`));
    for (const [method, url, body] of plan) {
      const res = await c.request(method, url, body, AUTH);
      expect(res.status, `${method} ${url}: ${JSON.stringify(res.body)}`).toBeGreaterThanOrEqual(200);
      expect(res.status, `${method} ${url}: ${JSON.stringify(res.body)}`).toBeLessThan(300);
    }
    // Routes added since this table was written: at least the token lets them through.
    for (const r of appRoutes.filter((x) => MUTATING.has(x.method) && !planned.has(`${x.method} ${x.url}`))) {
      const res = await c.request(r.method, fill(r.url), {}, AUTH);
      expect(res.status, `${r.method} ${r.url}`).not.toBe(401);
    }
  });

  it('both streams refuse the upgrade without the token (HTTP 401), accept it with it; the shared StreamClient sends it', async () => {
    const ws = d.url.replace(/^http/, 'ws');
    for (const p of [STREAM_PATH, TELEMETRY_STREAM_PATH]) {
      const refused = await upgrade(ws + p);
      expect(refused.status, p).toBe(401);
      expect(JSON.parse(refused.body!)).toEqual({ error: 'unauthorized', message: expect.any(String) });
      expect((await upgrade(ws + p, { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
      expect((await upgrade(ws + p, { headers: AUTH })).status).toBe('open');
    }
    // The route, not the spelling of the URL, decides.
    expect((await upgrade(ws + STREAM_PATH.replace('stream', '%73tream'))).status).toBe(401);
    const snap = await upgrade(ws + STREAM_PATH, { headers: AUTH });
    expect(snap.first?.type).toBe('snapshot');

    const withToken = new StreamClient({ url: d.url, token: TOKEN }).start();
    await new Promise((r) => withToken.once('snapshot', r));
    expect(withToken.verified).toBe(true);
    withToken.stop();
    const errors: string[] = [];
    const without = new StreamClient({ url: d.url, token: null, minBackoffMs: 50 });
    without.on('error', (e: Error) => errors.push(e.message));
    without.start();
    await expect.poll(() => errors.some((e) => /401/.test(e)), { timeout: 5000 }).toBe(true);
    without.stop();
    expect(without.snapshots).toBe(0);
  });

  it('reads stay open without a token', async () => {
    const reads = appRoutes.filter((r) => r.method === 'GET' && !r.websocket && !r.url.includes(':') && !r.url.includes('*'));
    expect(reads.map((r) => r.url)).toEqual(expect.arrayContaining(['/health', '/api/coordination/status', '/api/stats']));
    for (const r of reads) expect((await c.get(r.url)).status, r.url).not.toBe(401);
  });

  it('a non-loopback address needs a token; with one, requests from loopback still need it', async () => {
    const refused = await runCli(['start', '--host', '0.0.0.0', '--port', '0', '--data-dir', tempDir()], { AI_PROCESSOR_TOKEN: undefined });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/refusing to listen on 0\.0\.0\.0 without a token/);
    const dir = tempDir('aip-tokfile-');
    const tokenFile = path.join(dir, 'token');
    writeFileSync(tokenFile, FILE_TOKEN + '\n', { mode: 0o600 });
    const open = await startDaemon({ args: ['--host', '0.0.0.0', '--token-file', tokenFile], env: { AI_PROCESSOR_SERVICES: '[]' } });
    try {
      const oc = new HttpClient(`http://127.0.0.1:${open.port}`);
      expect((await oc.post('/api/agents', { agent_id: 'x' })).status).toBe(401);
      expect((await oc.post('/api/agents', { agent_id: 'x' }, { authorization: `Bearer ${FILE_TOKEN}` })).status).toBe(201);
      expect((await oc.post('/api/agents', { agent_id: 'y' }, { authorization: `Bearer ${FILE_TOKEN.slice(0, -1)}` })).status).toBe(401);
      oc.close();
    } finally {
      expect(await open.stop()).toBe(0);
    }
    const output = open.logs.join('\n') + open.stderr.join('');
    expect(output).toContain('"msg":"listening"');
    expect(output).not.toContain(FILE_TOKEN);
  });

  it('the token never appears in the daemon output (stdout or stderr)', async () => {
    // Everything above sent it, right and wrong; make the daemon log some more with it around.
    await c.post('/api/coordination/claim', { work_id: 'sec-w1', agent_id: 'sec-agent-id' }, AUTH); // 409: finished work
    await c.request('POST', '/api/work', undefined, { ...AUTH, 'content-type': 'application/json' }, '{not json');
    process.kill(d.proc.pid!, 'SIGHUP'); // a reload logs the configuration's changes
    await expect.poll(async () => (await c.get('/api/stats')).body.reload?.count, { timeout: 5000 }).toBe(1);
    // The log line travels through a pipe: it may arrive after /api/stats already shows the reload.
    await expect.poll(() => d.logs.join('\n'), { timeout: 5000 }).toContain('"msg":"configuration reloaded"');
    const output = d.logs.join('\n') + d.stderr.join('');
    expect(output.length).toBeGreaterThan(500);
    expect(output).not.toContain(TOKEN);
    expect(output).not.toContain(TOKEN.slice(4)); // nor its random part
  });
});

describe.skipIf(!requireTool('openssl'))('TLS', () => {
  let t: DaemonHandle;
  let dir: string;
  let cert: string;
  let ca: Buffer;

  beforeAll(async () => {
    dir = tempDir('aip-tls-');
    cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '2',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
      ],
      { stdio: 'ignore' },
    );
    ca = readFileSync(cert);
    t = await startDaemon({ args: ['--tls-cert', cert, '--tls-key', key], env: { AI_PROCESSOR_TOKEN: TOKEN, AI_PROCESSOR_SERVICES: '[]' } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  const request = (method: string, p: string, opts: https.RequestOptions = {}, body?: unknown): Promise<{ status: number; body: unknown }> =>
    new Promise((resolve, reject) => {
      const req = https.request(
        new URL(p, t.url),
        { method, ca, ...opts, headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...opts.headers } },
        (res) => {
          let text = '';
          res.on('data', (ch) => (text += ch));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null }));
        },
      );
      req.on('error', reject);
      req.end(body ? JSON.stringify(body) : undefined);
    });

  it('serves https: reads, token-checked writes; no plaintext; an untrusted certificate is refused by clients', async () => {
    expect(t.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect((await request('GET', '/health')).status).toBe(200);
    expect((await request('POST', '/api/agents', {}, { agent_id: 'tls-a' })).status).toBe(401);
    const ok = await request('POST', '/api/agents', { headers: AUTH }, { agent_id: 'tls-a' });
    expect(ok.status).toBe(201);
    await expect(request('GET', '/health', { ca: undefined })).rejects.toThrow(/self[- ]signed/i);
    const plain = await new Promise<number | string>((resolve) => {
      const req = http.get(`http://127.0.0.1:${t.port}/health`, (res) => resolve(res.statusCode ?? 0));
      req.on('error', (e) => resolve(e.message));
    });
    expect(plain).not.toBe(200);
  });

  it('serves wss: the upgrade is token-checked and the snapshot arrives', async () => {
    const wss = t.url.replace(/^https/, 'wss') + STREAM_PATH;
    expect((await upgrade(wss, { ca })).status).toBe(401);
    const open = await upgrade(wss, { ca, headers: AUTH });
    expect(open.status).toBe('open');
    expect(open.first?.type).toBe('snapshot');
    expect(open.first?.revision).toBeGreaterThanOrEqual(1);
  });

  it('the shared clients (ApiClient over fetch, StreamClient over wss) work against https URLs', async () => {
    // validate-critical-paths drives both clients: claim, telemetry, analyzer, services, stream.
    const trusted = await runCli(['validate-critical-paths', '--url', t.url, '--json'], { NODE_EXTRA_CA_CERTS: cert, AI_PROCESSOR_TOKEN: TOKEN });
    const report = JSON.parse(trusted.stdout);
    expect(report.checks.filter((x: { ok: boolean }) => !x.ok)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(trusted.code).toBe(0);
    const status = await runCli(['status', '--url', t.url, '--json'], { NODE_EXTRA_CA_CERTS: cert });
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout).revision).toBeGreaterThanOrEqual(1);
    // Without trusting the certificate the clients refuse to talk.
    const untrusted = await runCli(['status', '--url', t.url], { NODE_EXTRA_CA_CERTS: undefined });
    expect(untrusted.code).toBe(3);
    expect(untrusted.stderr).toMatch(/certificate/i);
  });
});

describe('rate limits', () => {
  const postFrom = (url: string, localAddress: string, body: unknown): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = http.request(new URL('/api/agents', url), { method: 'POST', localAddress, headers: { 'content-type': 'application/json' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });

  it('off by default: a burst of writes is all accepted', async () => {
    const burst = await Promise.all(Array.from({ length: 60 }, (_, i) => c.post('/api/agents', { agent_id: `burst_${i}` }, AUTH)));
    expect(burst.map((r) => r.status).filter((s) => s !== 201)).toEqual([]);
  });

  it('beyond rate_limit_per_s: 429 {error:too_many_requests} with retry-after, on writes only, per client IP', async () => {
    const r = await startDaemon({ args: ['--rate-limit-per-s', '5'], env: { AI_PROCESSOR_SERVICES: '[]' } });
    const rc = new HttpClient(r.url);
    try {
      const writes = await Promise.all(Array.from({ length: 60 }, (_, i) => rc.post('/api/agents', { agent_id: `rl_${i}` })));
      const statuses = writes.map((w) => w.status);
      expect(statuses.filter((s) => s !== 201 && s !== 429)).toEqual([]);
      const limited = writes.filter((w) => w.status === 429);
      expect(limited.length).toBeGreaterThan(0);
      expect(statuses.filter((s) => s === 201).length).toBeGreaterThan(0);
      expect(limited[0].body).toEqual({ error: 'too_many_requests', message: expect.stringMatching(/rate limit/i) });
      expect(Number(limited[0].headers['retry-after'])).toBeGreaterThanOrEqual(1);
      // Another client address has its own budget, even while this one is limited.
      let limitedNow = 0;
      for (let i = 0; i < 20 && limitedNow === 0; i++) limitedNow = (await rc.post('/api/agents', { agent_id: `rl_more_${i}` })).status === 429 ? 1 : 0;
      expect(limitedNow).toBe(1);
      expect(await postFrom(r.url, '127.0.0.2', { agent_id: 'rl_other_ip' })).toBe(201);
      // Reads and the health check are never limited.
      const reads = await Promise.all(Array.from({ length: 60 }, (_, i) => rc.get(i % 2 ? '/health' : '/api/work')));
      expect(reads.map((x) => x.status).filter((s) => s !== 200)).toEqual([]);
    } finally {
      rc.close();
      await r.stop();
    }
  });
});

describe('shutdown after refused requests', () => {
  it('SIGTERM still exits 0 with everything flushed after refused writes and refused stream upgrades', async () => {
    // A refused upgrade's socket must not linger: it kept app.close() (and the journal flush) waiting.
    expect(await upgrade(d.url.replace(/^http/, 'ws') + STREAM_PATH)).toMatchObject({ status: 401 });
    c.close();
    expect(await d.stop()).toBe(0);
    expect(d.logs.at(-1)).toContain('"msg":"stopped"');
  });
});
