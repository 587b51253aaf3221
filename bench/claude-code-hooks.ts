// Bench section `hooks`: POST /api/hooks/claude-code latency with many Claude Code sessions sending
// tool events at a steady pace (issue 18: p99 <= 5 ms at 200 sessions x 10 events/s). Each session
// has its own keep-alive connection and sends PreToolUse/PostToolUse pairs, one at a time, on a
// fixed schedule; latency is from the request's write to its answer. Two more figures tell what the
// latencies are made of: the daemon's CPU per event (all its threads: the part of a 2-core machine
// the daemon takes), and the load client's own event-loop delay (the client shares the machine, and
// its late callbacks land in the latencies it measures).
import { monitorEventLoopDelay } from 'node:perf_hooks';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync } from 'node:fs';
import type { Section } from './report.js';
import { LoadConnection } from './load-client.js';
import { cpuSecondsOf, spawnDaemon } from './proc.js';
import { percentile } from './report.js';

const SESSIONS = Number(process.env.BENCH_HOOK_SESSIONS ?? 200);
const RATE_PER_SESSION = Number(process.env.BENCH_HOOK_RATE ?? 10);
const SECONDS = Number(process.env.BENCH_HOOK_SECONDS ?? 10);
/** Sent at the same pace first and not measured: the daemon's JIT warm-up is not the steady state. */
const WARMUP_SECONDS = Number(process.env.BENCH_HOOK_WARMUP_SECONDS ?? 3);
const HOOK = '/api/hooks/claude-code';

function payload(session: string, event: string, i: number): Record<string, unknown> {
  return {
    session_id: session,
    transcript_path: `/home/dev/.claude/projects/bench/${session}.jsonl`,
    cwd: '/home/dev/projects/bench',
    permission_mode: 'default',
    hook_event_name: event,
    tool_name: 'Bash',
    tool_input: { command: `npm test -- --run case-${i}`, description: 'Run the tests' },
    tool_use_id: `toolu_${i}`,
    ...(event === 'PostToolUse' ? { tool_response: { stdout: 'ok\n'.repeat(50), stderr: '', interrupted: false }, duration_ms: 12 } : {}),
  };
}

export const hooksSection: Section = async (figures, log) => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'aip-bench-hooks-'));
  const daemon = await spawnDaemon({ dataDir });
  const latencies: number[] = [];
  let errors = 0;
  let late = 0;
  let cpu: number;
  const clientDelay = monitorEventLoopDelay({ resolution: 1 });
  try {
    const conns = await Promise.all(
      Array.from({ length: SESSIONS }, async () => {
        const c = new LoadConnection(daemon.url);
        await c.connect();
        return c;
      }),
    );
    const sessionIds = conns.map((_, i) => `bench-${String(i).padStart(4, '0')}-0000-4000-8000-000000000000`);
    await Promise.all(conns.map((c, i) => c.post(HOOK, { ...payload(sessionIds[i], 'SessionStart', 0), model: 'claude-sonnet-4-6' })));
    log(`${SESSIONS} sessions x ${RATE_PER_SESSION} events/s for ${WARMUP_SECONDS} s (warm-up, not measured) + ${SECONDS} s`);
    const interval = 1000 / RATE_PER_SESSION;
    const start = performance.now() + 50;
    const measureFrom = start + WARMUP_SECONDS * 1000;
    const end = measureFrom + SECONDS * 1000;
    let cpuFrom = NaN;
    const startMeasuring = setTimeout(() => {
      cpuFrom = cpuSecondsOf(daemon.proc.pid!);
      clientDelay.enable();
    }, measureFrom - performance.now());
    await Promise.all(
      conns.map(async (c, s) => {
        const offset = (s / SESSIONS) * interval; // sessions spread over the interval, not in lockstep
        for (let i = 0; ; i++) {
          const due = start + offset + i * interval;
          if (due >= end) break;
          const wait = due - performance.now();
          const measured = due >= measureFrom;
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          else if (measured) late++;
          const t0 = performance.now();
          const res = await c.post(HOOK, payload(sessionIds[s], i % 2 === 0 ? 'PreToolUse' : 'PostToolUse', i));
          if (measured) latencies.push(performance.now() - t0);
          if (res.status !== 200) errors++;
        }
      }),
    );
    clearTimeout(startMeasuring);
    clientDelay.disable();
    cpu = cpuSecondsOf(daemon.proc.pid!) - cpuFrom;
    for (const c of conns) c.close();
  } finally {
    await daemon.stop();
  }
  latencies.sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 1000) / 1000;
  figures.push(
    { name: 'hooks_p50_ms', value: round(percentile(latencies, 50)), unit: 'ms', better: 'lower' },
    { name: 'hooks_p99_ms', value: round(percentile(latencies, 99)), unit: 'ms', target: 5, better: 'lower' },
    {
      name: 'hooks_events_per_s',
      value: Math.round(latencies.length / SECONDS),
      unit: 'events/s',
      target: SESSIONS * RATE_PER_SESSION * 0.95,
      better: 'higher',
    },
    { name: 'hooks_errors', value: errors, unit: 'requests', target: 0, better: 'lower' },
    { name: 'hooks_late_sends', value: late, unit: 'requests', better: 'lower' },
    { name: 'hooks_daemon_cpu_us_per_event', value: Math.round((cpu * 1e6) / latencies.length), unit: 'µs', better: 'lower' },
    { name: 'hooks_client_loop_delay_p99_ms', value: round(clientDelay.percentile(99) / 1e6), unit: 'ms', better: 'lower' },
  );
};
