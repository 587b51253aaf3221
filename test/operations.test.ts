// Operations: a restart loses nothing (SIGTERM under load drains, flushes and exits 0; every
// acknowledged change is there afterwards; a stream client resumes from its revision without a new
// snapshot), a second daemon on the same data directory refuses without harming the first, and SIGHUP
// reloads what can change at run time while clients stay connected.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { spawnDaemon } from '../bench/proc.js';
import { StreamClient } from '../client/stream-client.js';
import { STREAM_PATH } from '../shared/protocol.js';
import { CLI, CONSOLE_CLI, ROOT, runCli, startDaemon, tempDir } from './helpers/daemon.js';
import { NODE_FLAGS } from '../shared/node-flags.js';
import { VERSION } from '../io/version.js';
import { HttpClient } from './helpers/http.js';

const NO_SERVICES = { AI_PROCESSOR_SERVICES: '[]' };
const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function track<T extends { stop(): unknown }>(x: T): T {
  cleanup.push(() => x.stop());
  return x;
}

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('node flags', () => {
  it('node run on the script without --v8-pool-size=1 on a small machine: the daemon says how to run it; as shipped, it does not', async () => {
    const hint = (logs: string[]) => logs.some((l) => l.includes('node started without --v8-pool-size=1'));
    const bare = track(await spawnDaemon({ dataDir: tempDir('aip-ops-flags-'), bareNode: true, env: NO_SERVICES }));
    expect(hint(bare.logs)).toBe(os.availableParallelism() <= 4);
    const shipped = track(await spawnDaemon({ dataDir: tempDir('aip-ops-flags-'), env: NO_SERVICES }));
    expect(hint(shipped.logs)).toBe(false);
    const viaEnv = track(await spawnDaemon({ dataDir: tempDir('aip-ops-flags-'), bareNode: true, env: { ...NO_SERVICES, NODE_OPTIONS: '--v8-pool-size=1' } }));
    expect(hint(viaEnv.logs)).toBe(false);
  });

  it('the bins run node with --v8-pool-size=1 themselves, unless NODE_OPTIONS sets a pool size', async () => {
    // What npm links as the bins: sh runs their first lines, node reads them as comments.
    const startBin = async (env: Record<string, string>) => {
      const dataDir = tempDir('aip-ops-bin-');
      const proc = spawn('/bin/sh', [CLI, 'start', '--data-dir', dataDir, '--port', '0'], {
        env: { ...process.env, ...NO_SERVICES, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      cleanup.push(() => {
        proc.kill('SIGTERM');
        return new Promise((r) => proc.once('exit', r));
      });
      let out = '';
      proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
      await expect.poll(() => out.includes('"listening"'), { timeout: 20_000 }).toBe(true);
      return { argv: readFileSync(`/proc/${proc.pid}/cmdline`, 'utf8').split('\0'), out }; // sh exec'd node: same pid
    };
    const plain = await startBin({});
    expect(plain.argv.slice(0, 2)).toEqual(['node', ...NODE_FLAGS]);
    expect(plain.out).not.toContain('started without --v8-pool-size');
    const operator = await startBin({ NODE_OPTIONS: '--v8-pool-size=2' });
    expect(operator.argv).not.toContain(NODE_FLAGS[0]);
    for (const bin of [CLI, CONSOLE_CLI]) {
      const r = spawnSync('/bin/sh', [bin, '--version'], { encoding: 'utf8' });
      expect([r.status, r.stdout.trim(), r.stderr]).toEqual([0, VERSION, '']);
    }
  });
});

describe('restart under load', () => {
  it('SIGTERM drains the claim loops, exits 0, loses no acknowledged change; a stream client resumes without a snapshot', async () => {
    const dataDir = tempDir('aip-ops-restart-');
    const d1 = track(await spawnDaemon({ dataDir, args: ['--lease-ms', '3600000'], env: NO_SERVICES }));

    const sc = track(new StreamClient({ url: d1.url, token: null, minBackoffMs: 50, maxBackoffMs: 200 }));
    const connections: string[] = [];
    const replays: Array<{ from: number; to: number }> = [];
    sc.on('connection', (s: string) => connections.push(s));
    sc.on('replayed', (r: { from: number; to: number }) => replays.push(r));
    sc.on('error', () => {}); // refused connections while the daemon is down
    sc.start();
    await new Promise((r) => sc.once('snapshot', r));

    // Many concurrent claim loops, each its own connection pool, until the daemon goes away.
    const acked: Array<{ work_id: string; agent_id: string; revision: number }> = [];
    const refusals: string[] = [];
    const LOOPS = 24;
    const loops = Array.from({ length: LOOPS }, async (_, i) => {
      const client = new HttpClient(d1.url);
      try {
        for (let n = 0; ; n++) {
          const work_id = `load_${i}_${n}`;
          const agent_id = `load_agent_${i}`;
          let res;
          try {
            res = await client.post('/api/coordination/claim', { work_id, agent_id, work_type: 'load' });
          } catch (err) {
            refusals.push((err as NodeJS.ErrnoException).code ?? (err as Error).message);
            return;
          }
          if (res.status !== 200) {
            refusals.push(`HTTP ${res.status}`);
            return;
          }
          acked.push({ work_id, agent_id, revision: res.body.revision });
        }
      } finally {
        client.close();
      }
    });
    await expect.poll(() => acked.length, { timeout: 30_000, interval: 20 }).toBeGreaterThanOrEqual(400);
    const exitCode = await d1.stop('SIGTERM'); // while the loops are still sending
    await Promise.all(loops);

    expect(exitCode).toBe(0);
    expect(refusals).toHaveLength(LOOPS); // every loop ended on the shutdown...
    expect(refusals.filter((r) => /^HTTP (?!503)/.test(r))).toEqual([]); // ...by refused connections or 503, never a 500
    const stoppedLine = d1.logs.find((l) => l.includes('"msg":"stopped"'));
    expect(stoppedLine).toBeDefined();
    const stoppedAt = JSON.parse(stoppedLine!).revision as number;
    const maxAcked = Math.max(...acked.map((a) => a.revision));
    expect(stoppedAt).toBeGreaterThanOrEqual(maxAcked);

    // The legacy view was flushed on the way out: every acknowledged claim is in work_claims.json.
    const view = JSON.parse(readFileSync(path.join(dataDir, 'work_claims.json'), 'utf8')) as Array<{ work_item_id: string; agent_id: string }>;
    const inView = new Map(view.map((w) => [w.work_item_id, w.agent_id]));
    expect(acked.filter((a) => inView.get(a.work_id) !== a.agent_id)).toEqual([]);

    // Same port again: the stream client comes back by itself.
    const d2 = track(await spawnDaemon({ dataDir, port: d1.port, args: ['--lease-ms', '3600000'], env: NO_SERVICES }));
    const listening = JSON.parse(d2.logs.find((l) => l.includes('"msg":"listening"'))!);
    expect(listening.revision).toBe(stoppedAt);
    const c2 = new HttpClient(d2.url);
    cleanup.push(() => c2.close());
    let last = 0;
    for (let i = 0; i < 5; i++) last = (await c2.post('/api/coordination/claim', { work_id: `after_${i}`, agent_id: 'after_agent' })).body.revision;
    await sc.waitForRevision(last, 15_000);
    const status = (await c2.get('/api/coordination/status')).body;
    expect(status.revision).toBe(last);

    expect(connections).toContain('reconnecting');
    expect(connections.at(-1)).toBe('connected');
    expect(replays.length).toBeGreaterThanOrEqual(1); // resumed with ?since=, not a snapshot
    expect(sc.snapshots).toBe(1);
    expect(sc.resyncs).toBe(0);
    expect(sc.verified).toBe(true);
    expect(sc.checksum).toBe(status.checksum);

    // Every acknowledged claim survived the restart, held by the agent it was acknowledged to.
    const missing = acked.filter((a) => (sc.state.work[a.work_id]?.data as { agent_id?: string } | undefined)?.agent_id !== a.agent_id);
    expect(missing).toEqual([]);
    const sample = acked.filter((_, i) => i % 50 === 0);
    for (const a of sample) expect((await c2.get(`/api/work/${a.work_id}`)).body.work.agent_id).toBe(a.agent_id);
  });
});

describe('one daemon per data directory', () => {
  it('a second daemon on the same data dir refuses with a clear message and exit 1; the first is unharmed', async () => {
    const d = track(await startDaemon({ env: NO_SERVICES }));
    const c = new HttpClient(d.url);
    cleanup.push(() => c.close());
    for (let i = 0; i < 10; i++) expect((await c.post('/api/coordination/claim', { work_id: `one_${i}`, agent_id: 'one_agent' })).status).toBe(200);
    await expect.poll(() => (JSON.parse(readFileSync(path.join(d.dataDir, 'work_claims.json'), 'utf8')) as unknown[]).length, { timeout: 20_000 }).toBe(10);
    const before = (await c.get('/api/coordination/status')).body;
    const viewBefore = sha(path.join(d.dataDir, 'work_claims.json'));

    const second = await runCli(['start', '--port', '0', '--data-dir', d.dataDir], NO_SERVICES);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(
      new RegExp(`data directory ${d.dataDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is in use by another ai-processor \\(pid ${d.proc.pid}\\)`),
    );
    expect(second.stdout).not.toContain('"msg":"listening"');

    // The first one still serves the same state, owns its lock and its files.
    expect(readFileSync(path.join(d.dataDir, '.ai-processor', 'daemon.pid'), 'utf8').trim()).toBe(String(d.proc.pid));
    const after = (await c.get('/api/coordination/status')).body;
    expect(after.revision).toBe(before.revision);
    expect(after.checksum).toBe(before.checksum);
    expect(sha(path.join(d.dataDir, 'work_claims.json'))).toBe(viewBefore);
    expect((await c.get('/ready')).status).toBe(200);
    const more = await c.post('/api/coordination/claim', { work_id: 'one_more', agent_id: 'one_agent' });
    expect(more.status).toBe(200);
    expect(more.body.revision).toBe(before.revision + 1);
    expect(await d.stop()).toBe(0);
  });
});

describe('SIGHUP reload', () => {
  it('applies lease, services, analyzer, rate limit, token and log level; refuses host and friends; keeps clients connected', async () => {
    const dir = tempDir('aip-ops-reload-');
    const configFile = path.join(dir, 'config.json');
    const tokenFile = path.join(dir, 'token');
    const token = `reload-${createHash('sha256').update(dir).digest('hex').slice(0, 24)}`;
    writeFileSync(tokenFile, token + '\n');
    const writeConfig = (cfg: Record<string, unknown>) => writeFileSync(configFile, JSON.stringify(cfg));
    writeConfig({ services: [], lease_ms: 60_000 });

    const web = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}'));
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise((r) => web.close(r)));
    const webUrl = `http://127.0.0.1:${(web.address() as AddressInfo).port}/health`;

    const d = track(await startDaemon({ args: ['--config', configFile] }));
    const c = new HttpClient(d.url);
    cleanup.push(() => c.close());
    const reloads = async (n: number) => {
      await expect.poll(async () => (await c.get('/api/stats')).body.reload?.count, { timeout: 10_000 }).toBe(n);
      return (await c.get('/api/stats')).body.reload.last;
    };
    const sc = track(new StreamClient({ url: d.url, token: null }));
    const connections: string[] = [];
    sc.on('connection', (s: string) => connections.push(s));
    sc.start();
    await new Promise((r) => sc.once('snapshot', r));
    expect((await c.get('/api/stats')).body.lease_ms).toBe(60_000);

    // 1: what can change, and what cannot (host, view_flush_ms).
    const echo = path.join(ROOT, 'test/fixtures/analyzer-echo.sh');
    writeConfig({
      services: [{ name: 'web', url: webUrl, interval_ms: 60_000 }],
      lease_ms: 7000,
      rate_limit_per_s: 5,
      analyzer_mode: 'command',
      analyzer_command: echo,
      host: '127.0.0.9',
      view_flush_ms: 5,
    });
    d.proc.kill('SIGHUP');
    const first = await reloads(1);
    expect(first.ok).toBe(true);
    expect(first.changed).toEqual(expect.arrayContaining(['lease_ms', 'services', 'rate_limit_per_s', 'analyzer_mode', 'analyzer_command']));
    expect(first.refused.map((r: { key: string }) => r.key).sort()).toEqual(['host', 'view_flush_ms']);
    // The log line travels through a pipe: it may arrive after /api/stats already shows the reload.
    await expect.poll(() => d.logs.some((l) => l.includes('"level":40') && l.includes('cannot change host at run time')), { timeout: 5000 }).toBe(true);
    expect((await c.get('/health')).status).toBe(200); // same address: host and port kept

    const stats = (await c.get('/api/stats')).body;
    expect(stats.lease_ms).toBe(7000);
    expect(stats.analyzer).toMatchObject({ mode: 'command', command: echo });
    expect((await c.post('/api/agents', { agent_id: 'reload-agent' })).status).toBe(201);
    const hb = await c.post('/api/agents/reload-agent/heartbeat', {});
    expect(Date.parse(hb.body.lease_expires_at) - Date.now()).toBeLessThan(30_000); // a 7 s lease, not 60 s
    const services = (await c.get('/api/services?refresh=1')).body.services;
    expect(services.map((s: { name: string; status: string }) => [s.name, s.status])).toEqual([['web', 'up']]);
    const analysis = await c.post('/api/claude/analyze-priorities', {});
    expect(analysis.status).toBe(200);
    expect(analysis.body.analysis.summary).toBe('echo'); // the command answered, not the builtin analyzer
    const burst = await Promise.all(Array.from({ length: 30 }, (_, i) => c.post('/api/agents', { agent_id: `burst_${i}` })));
    expect(burst.filter((r) => r.status === 429).length).toBeGreaterThan(0);

    // 2: a token appears (file), the rate limit goes, the log level rises.
    writeConfig({
      services: [{ name: 'web', url: webUrl, interval_ms: 60_000 }],
      lease_ms: 7000,
      rate_limit_per_s: 0,
      analyzer_mode: 'command',
      analyzer_command: echo,
      token_file: tokenFile,
      log_level: 'warn',
    });
    d.proc.kill('SIGHUP');
    await expect.poll(async () => (await c.post('/api/agents', { agent_id: 'needs-token' })).status, { timeout: 10_000 }).toBe(401);
    const afterToken = await Promise.all(
      Array.from({ length: 30 }, (_, i) => c.post('/api/agents', { agent_id: `free_${i}` }, { authorization: `Bearer ${token}` })),
    );
    expect(afterToken.map((r) => r.status).filter((s) => s !== 201)).toEqual([]);
    const refusedUpgrade = await new Promise<number>((resolve) => {
      const ws = new WebSocket(d.url.replace(/^http/, 'ws') + STREAM_PATH);
      ws.on('unexpected-response', (req, res) => {
        req.destroy();
        resolve(res.statusCode ?? 0);
      });
      ws.on('open', () => resolve(101));
      ws.on('error', () => {});
    });
    expect(refusedUpgrade).toBe(401);
    const linesAfter2 = d.logs.length;

    // 3: a broken file changes nothing (and, at level warn, only the error is logged).
    writeFileSync(configFile, '{"lease_ms": 1000,');
    d.proc.kill('SIGHUP');
    const third = await reloads(3);
    expect(third.ok).toBe(false);
    expect(third.errors[0]).toMatch(/not a JSON object/);
    expect((await c.get('/api/stats')).body.lease_ms).toBe(7000);
    expect((await c.post('/api/agents', { agent_id: 'still-needs-token' })).status).toBe(401);
    const newLines = d.logs.slice(linesAfter2);
    expect(newLines.some((l) => l.includes('"level":50') && l.includes('configuration reload failed'))).toBe(true);
    expect(newLines.filter((l) => l.includes('"level":30'))).toEqual([]);

    // The stream client stayed connected through all three reloads and saw every change.
    const status = (await c.get('/api/coordination/status')).body;
    await sc.waitForRevision(status.revision);
    expect(connections).toEqual(['connected']);
    expect(sc.snapshots).toBe(1);
    expect(sc.checksum).toBe(status.checksum);
    expect(d.logs.join('\n') + d.stderr.join('')).not.toContain(token);
    expect(await d.stop()).toBe(0);
  });
});
