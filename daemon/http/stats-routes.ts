// GET /api/stats: the figures the console's panels show (StatsResponse in shared/protocol.ts).
// Each feature contributes its part through ctx.stats; latency comes from the operation histogram.
import type { DaemonContext } from '../context.js';

/** Recent latencies per operation (a bounded ring), for percentiles without scraping Prometheus. */
class LatencyWindow {
  private samples = new Map<string, { values: Float64Array; next: number; count: number }>();

  constructor(private size = 2048) {}

  add(op: string, ms: number): void {
    let s = this.samples.get(op);
    if (!s) this.samples.set(op, (s = { values: new Float64Array(this.size), next: 0, count: 0 }));
    s.values[s.next] = ms;
    s.next = (s.next + 1) % this.size;
    s.count++;
  }

  summary(): Record<string, { count: number; p50_ms: number; p95_ms: number; p99_ms: number }> {
    const out: Record<string, { count: number; p50_ms: number; p95_ms: number; p99_ms: number }> = {};
    for (const [op, s] of this.samples) {
      const n = Math.min(s.count, this.size);
      const sorted = Array.from(s.values.subarray(0, n)).sort((a, b) => a - b);
      const p = (q: number) => Math.round(sorted[Math.min(n - 1, Math.ceil(q * n) - 1)] * 1000) / 1000;
      out[op] = { count: s.count, p50_ms: p(0.5), p95_ms: p(0.95), p99_ms: p(0.99) };
    }
    return out;
  }
}

export function installStats(ctx: DaemonContext, started: number): void {
  const latency = new LatencyWindow();
  ctx.service.on('op', (e) => latency.add(e.operation, e.seconds * 1000));
  ctx.stats.latency = () => latency.summary();
  ctx.stats.entropy = () => {
    const r = ctx.entropy.snapshot();
    return { components: r.components, total: r.total, fields: r.fields, baseline: null, ratio: null };
  };
  ctx.stats.lease_ms = () => ctx.service.leaseMs;
  ctx.app.get('/api/stats', async () => {
    const out: Record<string, unknown> = {
      revision: ctx.store.revision,
      uptime_s: Math.round((Date.now() - started) / 1000),
      rss_bytes: process.memoryUsage().rss,
      memory: process.memoryUsage(),
      sync: { clients: 0, sync_failures: 0, last_file_error: ctx.store.problems()[0]?.error ?? null },
      services: [],
      analyzer: { mode: 'builtin', command: null, running: 0, queued: 0 },
    };
    for (const [key, fn] of Object.entries(ctx.stats)) out[key] = fn();
    return out;
  });
}
