// `ai-processor validate-critical-paths`: passes against a healthy daemon (a local HTTP server as its
// only dependent service), and names the failing path when the analyzer command fails or the
// dependent service is down; exit 0 only when all pass.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CRITICAL_PATHS } from '../cli/validate-critical-paths.js';
import { ROOT, runCli, startDaemon, type DaemonHandle } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';

let web: http.Server;
let webUrl: string;
let healthy: DaemonHandle;

interface Report {
  ok: boolean;
  url: string;
  unreachable: boolean;
  checks: Array<{ name: string; ok: boolean; ms: number; detail: string }>;
}

async function validate(url: string, extra: string[] = []): Promise<{ code: number | null; report: Report; stdout: string; stderr: string }> {
  const r = await runCli(['validate-critical-paths', '--url', url, '--json', '--timeout-ms', '5000', ...extra], { AI_PROCESSOR_TOKEN: undefined });
  return { code: r.code, report: JSON.parse(r.stdout) as Report, stdout: r.stdout, stderr: r.stderr };
}

const failing = (r: Report) => r.checks.filter((c) => !c.ok).map((c) => c.name);

beforeAll(async () => {
  web = http.createServer((req, res) => {
    if (req.url === '/health') res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  webUrl = `http://127.0.0.1:${(web.address() as AddressInfo).port}/health`;
  healthy = await startDaemon({ env: { AI_PROCESSOR_SERVICES: JSON.stringify([{ name: 'web', url: webUrl, interval_ms: 60_000, timeout_ms: 1000 }]) } });
});
afterAll(async () => {
  await healthy?.stop();
  web?.closeAllConnections();
  await new Promise((r) => web?.close(r));
});

describe('validate-critical-paths', () => {
  it('passes against a healthy daemon: every path, in order, with timings; exit 0', async () => {
    const { code, report } = await validate(healthy.url);
    expect(report.checks.map((c) => c.name)).toEqual([...CRITICAL_PATHS]);
    expect(failing(report)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(code).toBe(0);
    for (const c of report.checks) expect(c.ms).toBeGreaterThanOrEqual(0);
    const byName = Object.fromEntries(report.checks.map((c) => [c.name, c.detail]));
    expect(byName.claim).toMatch(/409/);
    expect(byName.services).toMatch(/web/);
    expect(byName.stream).toMatch(/verified/);
    // The probe really went through the daemon: its work item is completed there.
    const c = new HttpClient(healthy.url);
    const work = (await c.get('/api/work?limit=1000')).body.work;
    const probes = work.filter((w: { work_item_id?: string }) => String(w.work_item_id).startsWith('validate-probe-'));
    expect(probes.length).toBe(1);
    expect(probes[0].status).toBe('completed');
    c.close();
  });

  it('prints one PASS line per path with its time, then a summary', async () => {
    const r = await runCli(['validate-critical-paths', '--url', healthy.url]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(CRITICAL_PATHS.length + 1);
    CRITICAL_PATHS.forEach((name, i) => expect(lines[i]).toMatch(new RegExp(`^PASS  ${name}\\s+\\d+ ms  \\S`)));
    expect(lines.at(-1)).toMatch(/^ok: 5\/5 critical paths pass/);
  });

  it('names the dependent service that is down (and only that path fails); exit 1', async () => {
    const d = await startDaemon({
      env: {
        AI_PROCESSOR_SERVICES: JSON.stringify([
          { name: 'web', url: webUrl },
          { name: 'billing', url: 'http://127.0.0.1:9/health', timeout_ms: 1000 },
        ]),
      },
    });
    try {
      const { code, report } = await validate(d.url);
      expect(failing(report)).toEqual(['services']);
      expect(report.checks.find((c) => c.name === 'services')!.detail).toMatch(/billing is down/);
      expect(report.checks.find((c) => c.name === 'services')!.detail).not.toMatch(/web is/);
      expect(report.ok).toBe(false);
      expect(code).toBe(1);
      const text = await runCli(['validate-critical-paths', '--url', d.url]);
      expect(text.code).toBe(1);
      expect(text.stdout).toMatch(/^FAIL {2}services\s+\d+ ms {2}billing is down/m);
      expect(text.stdout).toMatch(/FAILED: 4\/5 critical paths pass/);
    } finally {
      await d.stop();
    }
  });

  it('names the analyzer when its command fails; exit 1', async () => {
    const d = await startDaemon({ args: ['--analyzer-command', path.join(ROOT, 'test/fixtures/analyzer-exit3.sh')], env: { AI_PROCESSOR_SERVICES: '[]' } });
    try {
      const { code, report } = await validate(d.url);
      expect(failing(report)).toEqual(['analyzer']);
      expect(report.checks.find((c) => c.name === 'analyzer')!.detail).toMatch(/HTTP 502 analyzer_failed/);
      expect(code).toBe(1);
    } finally {
      await d.stop();
    }
  });

  it('fails every path and exits 3 when the daemon is unreachable', async () => {
    const { code, report } = await validate('http://127.0.0.1:9');
    expect(report.unreachable).toBe(true);
    expect(failing(report)).toEqual([...CRITICAL_PATHS]);
    expect(report.checks[0].detail).toMatch(/cannot reach ai-processor/);
    expect(code).toBe(3);
  });

  it('with a token configured, fails without it and passes with it', async () => {
    const token = 'vcp-token-0123456789abcdef';
    const d = await startDaemon({ env: { AI_PROCESSOR_TOKEN: token, AI_PROCESSOR_SERVICES: '[]' } });
    try {
      const without = await validate(d.url);
      expect(without.code).toBe(1);
      expect(without.report.checks.find((c) => c.name === 'claim')!.detail).toMatch(/401 unauthorized/);
      expect(without.report.checks.find((c) => c.name === 'stream')!.detail).toMatch(/401/);
      const withToken = await validate(d.url, ['--token', token]);
      expect(failing(withToken.report)).toEqual([]);
      expect(withToken.code).toBe(0);
    } finally {
      await d.stop();
    }
  });
});
