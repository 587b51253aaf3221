// `ai-processor validate-critical-paths [--url URL] [--token T] [--json] [--timeout-ms MS]`: checks,
// against a running daemon, each path the fleet depends on, and prints one pass/fail line per path
// with its timing:
//   claim      a probe agent registers, creates, claims and completes a probe work item; a second
//              agent's claim of it gets 409
//   telemetry  a span of the probe's trace (its requests carry a sampled traceparent) is in
//              GET /api/telemetry/spans
//   analyzer   POST /api/claude/analyze-priorities answers JSON with `.analysis`
//   services   GET /api/services?refresh=1: every configured dependent service is up
//   stream     a StreamClient gets a verified snapshot, then sees the probe's change and stays verified
// Exit 0 only when every path passes; 1 when one fails; 3 when the daemon cannot be reached at all.
// The probe leaves what any agent would: two registered agents and one completed work item, named
// validate-probe-*.
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { ApiClient, DaemonUnreachableError, type ApiResponse } from '../client/api.js';
import type { DeltaMessage } from '../shared/protocol.js';
import { EXIT, clientOptions, type ClientFlags } from './client-io.js';
import { num } from '../shared/cli-args.js';

export const CRITICAL_PATHS = ['claim', 'telemetry', 'analyzer', 'services', 'stream'] as const;
export type CriticalPath = (typeof CRITICAL_PATHS)[number];

export interface CheckResult {
  name: CriticalPath;
  ok: boolean;
  ms: number;
  detail: string;
}

export interface ValidationReport {
  ok: boolean;
  url: string;
  unreachable: boolean;
  checks: CheckResult[];
}

class CheckFailed extends Error {}

const fail = (msg: string): never => {
  throw new CheckFailed(msg);
};

const describe = (res: ApiResponse): string => {
  const b = res.body as { error?: string; message?: string };
  return `HTTP ${res.status}${b?.error ? ` ${b.error}` : ''}${b?.message ? `: ${String(b.message).slice(0, 300)}` : ''}`;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function validateCriticalPaths(opts: { url?: string; token?: string | null; timeoutMs?: number }): Promise<ValidationReport> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const api = new ApiClient({ url: opts.url, token: opts.token, timeoutMs });
  const id = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const agent = `validate-probe-${id}`;
  const rival = `validate-probe-${id}-b`;
  const work = `validate-probe-${id}`;
  const traceId = randomBytes(16).toString('hex');
  const traceparent = () => `00-${traceId}-${randomBytes(8).toString('hex')}-01`;
  const post = (p: string, body: unknown) => api.request('POST', p, body, { traceparent: traceparent() });
  const report: ValidationReport = { ok: false, url: api.url, unreachable: false, checks: [] };

  const run = async (name: CriticalPath, fn: () => Promise<string>): Promise<boolean> => {
    const t0 = performance.now();
    let ok = false;
    let detail: string;
    try {
      detail = await fn();
      ok = true;
    } catch (err) {
      if (err instanceof DaemonUnreachableError) report.unreachable = true;
      detail = err instanceof CheckFailed ? err.message : (err as Error).message;
    }
    report.checks.push({ name, ok, ms: Math.round((performance.now() - t0) * 10) / 10, detail });
    return ok;
  };

  // The stream client connects first, so the probe's change arrives as a live delta.
  const { StreamClient } = await import('../client/stream-client.js'); // ws: loaded only here
  const stream = new StreamClient({ url: opts.url, token: opts.token, minBackoffMs: 100, maxBackoffMs: 1000 });
  let streamError: string | null = null;
  stream.on('error', (err: Error) => (streamError ??= err.message)); // the first says why (e.g. HTTP 401)
  const probeDeltas: DeltaMessage[] = [];
  stream.on('delta', (msg: DeltaMessage) => {
    if (msg.changes.some((c) => c.key === work)) probeDeltas.push(msg);
  });
  const firstSnapshot = new Promise<boolean>((resolve) => {
    const t = setTimeout(() => resolve(false), timeoutMs);
    stream.once('snapshot', () => {
      clearTimeout(t);
      resolve(true);
    });
    // Refused for good (no or a wrong token): no use waiting for a retry to succeed.
    stream.on('error', (err: Error) => {
      if (/\b401\b|unauthorized/.test(err.message)) {
        clearTimeout(t);
        resolve(false);
      }
    });
  });
  stream.start();
  let completedAt: number | null = null;
  let probeAccepted = false;

  try {
    await run('claim', async () => {
      for (const a of [agent, rival]) {
        const r = await post('/api/agents', { agent_id: a, team: 'validate', specialization: 'critical-path probe' });
        if (r.status !== 200 && r.status !== 201) fail(`register ${a}: ${describe(r)}`);
        probeAccepted = true;
      }
      const created = await post('/api/work', {
        work_id: work,
        work_type: 'validate_probe',
        description: 'ai-processor validate-critical-paths probe',
        priority: 'low',
        team: 'validate',
      });
      if (created.status !== 201 && created.status !== 200) fail(`create ${work}: ${describe(created)}`);
      const claimed = await post('/api/coordination/claim', { work_id: work, agent_id: agent });
      if (claimed.status !== 200) fail(`claim: ${describe(claimed)}`);
      const second = await post('/api/coordination/claim', { work_id: work, agent_id: rival });
      if (second.status !== 409) fail(`a second agent's claim got ${describe(second)}, expected 409`);
      const done = await post('/api/coordination/complete', { work_id: work, agent_id: agent, result: 'critical-path probe', velocity_points: 0 });
      if (done.status !== 200) fail(`complete: ${describe(done)}`);
      completedAt = Number((done.body as { revision?: number }).revision);
      return `${work}: created, claimed, completed (revision ${completedAt}); second agent refused with 409 ${(second.body as { error?: string }).error ?? ''}`.trim();
    });

    if (report.unreachable) {
      for (const name of CRITICAL_PATHS.slice(1)) report.checks.push({ name, ok: false, ms: 0, detail: 'skipped: the daemon is unreachable' });
      return finish();
    }

    await run('telemetry', async () => {
      if (!probeAccepted) fail('skipped: the daemon accepted no probe request, so there is no probe trace to look for');
      const deadline = Date.now() + Math.min(timeoutMs, 5000);
      for (;;) {
        const r = await api.get(`/api/telemetry/spans?trace_id=${traceId}&limit=100`);
        if (r.status !== 200) fail(`GET /api/telemetry/spans: ${describe(r)}`);
        const spans = (r.body as { spans?: Array<{ operation_name?: string }> }).spans ?? [];
        if (spans.length > 0)
          return `${spans.length} span(s) of the probe's trace ${traceId.slice(0, 8)}…: ${[...new Set(spans.map((s) => s.operation_name))].slice(0, 4).join(', ')}`;
        if (Date.now() > deadline) fail(`no span of the probe's trace ${traceId} in GET /api/telemetry/spans`);
        await sleep(100);
      }
    });

    await run('analyzer', async () => {
      const r = await post('/api/claude/analyze-priorities', {});
      if (r.status !== 200) fail(`POST /api/claude/analyze-priorities: ${describe(r)}`);
      const analysis = (r.body as { analysis?: unknown }).analysis;
      if (typeof analysis !== 'object' || analysis === null) fail('POST /api/claude/analyze-priorities answered without an `analysis` object');
      const source = (r.body as { source?: string }).source;
      return `analysis returned${source ? ` (source ${source})` : ''}`;
    });

    await run('services', async () => {
      const r = await api.get('/api/services?refresh=1');
      if (r.status !== 200) fail(`GET /api/services: ${describe(r)}`);
      const services = (r.body as { services?: Array<{ name: string; status: string; last_error: string | null; latency_ms: number | null }> }).services ?? [];
      if (services.length === 0) return 'no dependent service configured';
      const down = services.filter((s) => s.status !== 'up' && s.status !== 'slow');
      if (down.length) fail(`${down.map((s) => `${s.name} is ${s.status}${s.last_error ? ` (${s.last_error})` : ''}`).join('; ')}`);
      return `${services.length} up: ${services.map((s) => `${s.name}${s.status === 'slow' ? ' (slow)' : ''}`).join(', ')}`;
    });

    await run('stream', async () => {
      if (!(await firstSnapshot)) fail(`no snapshot from the coordination stream${streamError ? `: ${streamError}` : ''}`);
      if (stream.snapshots < 1) fail('no snapshot');
      if (completedAt === null || !Number.isFinite(completedAt)) fail('the claim path did not complete: no probe change to wait for');
      try {
        await stream.waitForRevision(completedAt!, timeoutMs);
      } catch (err) {
        fail(`${(err as Error).message}${streamError ? ` (${streamError})` : ''}`);
      }
      if (!stream.verified) fail(`the local copy does not match the daemon's checksum at revision ${stream.revision}`);
      if (probeDeltas.length === 0) fail(`the probe's change (revision ${completedAt}) did not arrive as a delta`);
      if (stream.resyncs > 0) fail(`${stream.resyncs} resync(s) were needed`);
      return `verified snapshot, then ${probeDeltas.length} delta(s) of the probe; checksum verified at revision ${stream.revision}`;
    });
  } finally {
    stream.stop();
  }
  return finish();

  function finish(): ValidationReport {
    report.ok = report.checks.length === CRITICAL_PATHS.length && report.checks.every((c) => c.ok);
    return report;
  }
}

export function formatReport(r: ValidationReport): string {
  const width = Math.max(...CRITICAL_PATHS.map((n) => n.length));
  const lines = r.checks.map((c) => `${c.ok ? 'PASS' : 'FAIL'}  ${c.name.padEnd(width)}  ${String(Math.round(c.ms)).padStart(6)} ms  ${c.detail}`);
  const passed = r.checks.filter((c) => c.ok).length;
  lines.push(`${r.ok ? 'ok' : 'FAILED'}: ${passed}/${CRITICAL_PATHS.length} critical paths pass (${r.url})`);
  return lines.join('\n') + '\n';
}

export function registerValidateCriticalPathsCommand(program: Command): void {
  clientOptions(program.command('validate-critical-paths'))
    .description('check claim, telemetry, analyzer, dependent services and stream against a running daemon; exit 0 only if all pass')
    .option('--timeout-ms <ms>', 'time limit of each check (default 10000)', num('--timeout-ms'))
    .action(async (o: ClientFlags & { timeoutMs?: number }) => {
      const report = await validateCriticalPaths({ url: o.url, token: o.token, timeoutMs: o.timeoutMs });
      if (o.json) process.stdout.write(JSON.stringify(report) + '\n');
      else process.stdout.write(formatReport(report));
      process.exit(report.ok ? EXIT.ok : report.unreachable ? EXIT.unavailable : EXIT.refused);
    });
}
