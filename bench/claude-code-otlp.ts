// Bench section `otlp`: the daemon's cost per OTLP data point (issue 18). Exports as Claude Code's
// exporter sends them (OTLP JSON, delta sums, ten counted points per session: cost, four token
// types, active time, lines added/removed, commits, pull requests), one at a time on one keep-alive
// connection: many sessions per export (the cost per point), and one session per export (the usual
// case: each session exports its own, the latency of one export).
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync } from 'node:fs';
import type { Section } from './report.js';
import { LoadConnection } from './load-client.js';
import { spawnDaemon } from './proc.js';
import { percentile } from './report.js';

const BATCH_SESSIONS = Number(process.env.BENCH_OTLP_SESSIONS ?? 100);
const BATCH_EXPORTS = Number(process.env.BENCH_OTLP_EXPORTS ?? 30);
const SINGLE_EXPORTS = Number(process.env.BENCH_OTLP_SINGLE_EXPORTS ?? 500);
const POINTS_PER_SESSION = 10;

type Attr = { key: string; value: { stringValue: string } };
const attr = (key: string, v: string): Attr => ({ key, value: { stringValue: v } });

function sum(name: string, points: Array<{ attrs: Attr[]; value: number }>, start: string, time: string) {
  return {
    name,
    sum: {
      aggregationTemporality: 1,
      isMonotonic: true,
      dataPoints: points.map((p) => ({ attributes: p.attrs, startTimeUnixNano: start, timeUnixNano: time, asDouble: p.value })),
    },
  };
}

/** One export interval of `sessions`, ten counted points each. */
function exportBody(sessions: string[], interval: number): unknown {
  const t0 = BigInt(Date.now()) * 1_000_000n;
  const start = String(t0 + BigInt(interval) * 1_000_000_000n);
  const time = String(t0 + BigInt(interval + 1) * 1_000_000_000n);
  const common = (s: string) => [attr('session.id', s), attr('user.id', 'bench-user'), attr('organization.id', 'bench-org'), attr('terminal.type', 'tmux')];
  const per = (fn: (s: string) => Array<{ attrs: Attr[]; value: number }>) => sessions.flatMap(fn);
  const model = attr('model', 'claude-sonnet-4-6');
  return {
    resourceMetrics: [
      {
        resource: { attributes: [attr('service.name', 'claude-code'), attr('service.version', '2.1.0')] },
        scopeMetrics: [
          {
            scope: { name: 'com.anthropic.claude_code', version: '2.1.0' },
            metrics: [
              sum(
                'claude_code.cost.usage',
                per((s) => [{ attrs: [...common(s), model], value: 0.0125 }]),
                start,
                time,
              ),
              sum(
                'claude_code.token.usage',
                per((s) =>
                  ['input', 'output', 'cacheRead', 'cacheCreation'].map((t, i) => ({ attrs: [...common(s), model, attr('type', t)], value: 100 * (i + 1) })),
                ),
                start,
                time,
              ),
              sum(
                'claude_code.active_time.total',
                per((s) => [{ attrs: [...common(s), attr('type', 'cli')], value: 1.5 }]),
                start,
                time,
              ),
              sum(
                'claude_code.lines_of_code.count',
                per((s) => ['added', 'removed'].map((t) => ({ attrs: [...common(s), attr('type', t)], value: 3 }))),
                start,
                time,
              ),
              sum(
                'claude_code.commit.count',
                per((s) => [{ attrs: common(s), value: 1 }]),
                start,
                time,
              ),
              sum(
                'claude_code.pull_request.count',
                per((s) => [{ attrs: common(s), value: 1 }]),
                start,
                time,
              ),
            ],
          },
        ],
      },
    ],
  };
}

export const otlpSection: Section = async (figures, log) => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'aip-bench-otlp-'));
  const daemon = await spawnDaemon({ dataDir });
  const round = (n: number) => Math.round(n * 1000) / 1000;
  let errors = 0;
  try {
    const c = new LoadConnection(daemon.url);
    await c.connect();
    const sessions = Array.from({ length: BATCH_SESSIONS }, (_, i) => `bench-otlp-${String(i).padStart(4, '0')}-4000-8000-000000000000`);
    // The bodies are built before the clock runs: only the daemon's work is timed.
    const batches = Array.from({ length: BATCH_EXPORTS + 1 }, (_, i) => exportBody(sessions, i));
    const warm = await c.post('/v1/metrics', batches[0]); // creates the agents
    if (warm.status !== 200) errors++;
    log(`${BATCH_EXPORTS} exports x ${BATCH_SESSIONS} sessions x ${POINTS_PER_SESSION} points`);
    const batchMs: number[] = [];
    for (const body of batches.slice(1)) {
      const t0 = performance.now();
      const res = await c.post('/v1/metrics', body);
      batchMs.push(performance.now() - t0);
      if (res.status !== 200) errors++;
    }
    const totalMs = batchMs.reduce((a, b) => a + b, 0);
    const points = BATCH_EXPORTS * BATCH_SESSIONS * POINTS_PER_SESSION;

    log(`${SINGLE_EXPORTS} exports of one session each`);
    const singles = Array.from({ length: SINGLE_EXPORTS }, (_, i) =>
      exportBody([sessions[i % sessions.length]], BATCH_EXPORTS + 1 + Math.floor(i / sessions.length)),
    );
    const singleMs: number[] = [];
    for (const body of singles) {
      const t0 = performance.now();
      const res = await c.post('/v1/metrics', body);
      singleMs.push(performance.now() - t0);
      if (res.status !== 200) errors++;
    }
    c.close();
    singleMs.sort((a, b) => a - b);
    figures.push(
      { name: 'otlp_us_per_point', value: round((totalMs * 1000) / points), unit: 'µs', better: 'lower' },
      { name: 'otlp_points_per_s', value: Math.round(points / (totalMs / 1000)), unit: 'points/s', better: 'higher' },
      { name: 'otlp_session_export_p50_ms', value: round(percentile(singleMs, 50)), unit: 'ms', better: 'lower' },
      { name: 'otlp_session_export_p99_ms', value: round(percentile(singleMs, 99)), unit: 'ms', better: 'lower' },
      { name: 'otlp_errors', value: errors, unit: 'requests', target: 0, better: 'lower' },
    );
  } finally {
    await daemon.stop();
  }
};
