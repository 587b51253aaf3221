// A real Prometheus scrapes a running daemon: temp config (the bundled alerts.yml loaded as rules),
// loopback listen address on a free port, temp TSDB, 1 s scrape interval. Queries for the latency
// histogram (the series CoordinationLatencyHigh and the dashboard read) must return data.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, tempDir, type DaemonHandle } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';
import { REPO_ROOT } from './helpers/metric-names.js';
import { requireTool } from './helpers/system-tools.js';

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

interface QueryResult {
  status: string;
  data: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> };
}

describe.skipIf(!requireTool('prometheus'))('Prometheus scrapes the daemon', () => {
  let daemon: DaemonHandle;
  let prom: ChildProcess | null = null;
  let promUrl = '';
  let promLog = '';
  let http: HttpClient;
  let promHttp: HttpClient;

  const query = async (q: string): Promise<QueryResult> => {
    const res = await promHttp.get(`/api/v1/query?query=${encodeURIComponent(q)}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body as QueryResult;
  };

  /** Polls a query until it returns at least one sample with a value passing `ok`. */
  const eventually = async (q: string, ok: (v: number) => boolean, timeoutMs = 30_000): Promise<QueryResult> => {
    const until = Date.now() + timeoutMs;
    let last: QueryResult | null = null;
    while (Date.now() < until) {
      last = await query(q).catch(() => null);
      if (last && last.data.result.some((r) => ok(Number(r.value[1])))) return last;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`query ${q} returned no matching data in time: ${JSON.stringify(last)}\nprometheus log:\n${promLog.slice(-3000)}`);
  };

  beforeAll(async () => {
    daemon = await startDaemon();
    http = new HttpClient(daemon.url);
    // Traffic for the histogram: claims, progress, completions, one conflict.
    for (let i = 0; i < 20; i++) {
      await http.post('/api/coordination/claim', { work_id: `p_w${i}`, agent_id: `p_a${i % 4}` });
      await http.post('/api/coordination/progress', { work_id: `p_w${i}`, agent_id: `p_a${i % 4}`, progress: 50 });
    }
    await http.post('/api/coordination/claim', { work_id: 'p_w0', agent_id: 'p_other' });

    const dir = tempDir('aip-prom-');
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    const config = path.join(dir, 'prometheus.yml');
    const alerts = fileURLToPath(new URL('alerts.yml', REPO_ROOT));
    writeFileSync(
      config,
      [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        'rule_files:',
        `  - ${JSON.stringify(alerts)}`,
        'scrape_configs:',
        '  - job_name: ai-processor',
        '    metrics_path: /metrics',
        '    static_configs:',
        `      - targets: ['127.0.0.1:${daemon.port}']`,
        '',
      ].join('\n'),
    );
    prom = spawn(
      'prometheus',
      [`--config.file=${config}`, `--web.listen-address=127.0.0.1:${port}`, `--storage.tsdb.path=${path.join(dir, 'tsdb')}`, '--log.level=warn'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    prom.stdout!.on('data', (c) => (promLog += c));
    prom.stderr!.on('data', (c) => (promLog += c));
    promHttp = new HttpClient(promUrl);
    const until = Date.now() + 30_000;
    for (;;) {
      const ready = await promHttp.get('/-/ready').catch(() => null);
      if (ready?.status === 200) break;
      if (prom.exitCode !== null) throw new Error(`prometheus exited with ${prom.exitCode}:\n${promLog}`);
      if (Date.now() > until) throw new Error(`prometheus not ready in time:\n${promLog}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }, 90_000);

  afterAll(async () => {
    if (prom && prom.exitCode === null) {
      const exited = new Promise((r) => prom!.once('exit', r));
      prom.kill('SIGTERM');
      const t = setTimeout(() => prom!.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }
    promHttp?.close();
    http?.close();
    await daemon?.stop();
  });

  it('the target is up', async () => {
    const r = await eventually('up{job="ai-processor"}', (v) => v === 1);
    expect(r.data.result[0].metric.instance).toBe(`127.0.0.1:${daemon.port}`);
  });

  it('the latency histogram has the claims', async () => {
    const r = await eventually('sum(coordination_operation_duration_seconds_count{operation="claim"})', (v) => v >= 21);
    expect(Number(r.data.result[0].value[1])).toBeGreaterThanOrEqual(21);
  });

  it('histogram_quantile over the buckets returns a latency', async () => {
    // Needs two scrapes of the same counters for rate(); more claims between scrapes give it a slope.
    for (let i = 20; i < 40; i++) await http.post('/api/coordination/claim', { work_id: `p_w${i}`, agent_id: `p_a${i % 4}` });
    const r = await eventually(
      'histogram_quantile(0.95, sum by (le) (rate(coordination_operation_duration_seconds_bucket{operation="claim"}[30s])))',
      (v) => Number.isFinite(v) && v > 0 && v <= 1,
    );
    expect(r.data.resultType).toBe('vector');
  });

  it('the alert rules loaded and evaluate against the daemon', async () => {
    const res = await promHttp.get('/api/v1/rules');
    expect(res.status).toBe(200);
    const names = (res.body as { data: { groups: Array<{ rules: Array<{ name: string; health: string }> }> } }).data.groups.flatMap((g) => g.rules);
    expect(names.map((r) => r.name)).toContain('CoordinationLatencyHigh');
    expect(names.every((r) => r.health !== 'err')).toBe(true);
  });
});
