// GET /api/stats: the figures the console's panels show (StatsResponse in shared/protocol.ts). Each
// field comes from one typed part, given by the feature that owns it (installers return their part;
// nothing overwrites another's). The parts are handed over in one object literal checked against
// StatsResponse, so a missing, duplicated or wrongly shaped part, or one used before its feature is
// installed, does not compile.
import type { StatsResponse } from '../../shared/protocol.js';
import type { DaemonContext } from '../context.js';
import type { StatsPart, StatsParts } from './stats-parts.js';

type LatencySummary = StatsResponse['latency'];

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

  summary(): LatencySummary {
    const out: LatencySummary = {};
    for (const [op, s] of this.samples) {
      const n = Math.min(s.count, this.size);
      const sorted = Array.from(s.values.subarray(0, n)).sort((a, b) => a - b);
      const p = (q: number) => Math.round(sorted[Math.min(n - 1, Math.ceil(q * n) - 1)] * 1000) / 1000;
      out[op] = { count: s.count, p50_ms: p(0.5), p95_ms: p(0.95), p99_ms: p(0.99) };
    }
    return out;
  }
}

/** The latency part: percentiles of the service's recent operations. */
export function latencyStats(ctx: DaemonContext): StatsPart<'latency'> {
  const latency = new LatencyWindow();
  ctx.service.on('op', (e) => latency.add(e.operation, e.seconds * 1000));
  return () => latency.summary();
}

/** The parts the daemon process itself answers for. */
export function processStats(ctx: DaemonContext, started: number): Pick<StatsParts, 'revision' | 'uptime_s' | 'rss_bytes' | 'memory'> {
  return {
    revision: () => ctx.store.revision,
    uptime_s: () => Math.round((Date.now() - started) / 1000),
    rss_bytes: () => process.memoryUsage().rss,
    memory: () => process.memoryUsage(),
  };
}

/**
 * Declares GET /api/stats (early: before tracing, which traces only the routes declared after it)
 * and returns how to give it its parts, which the features installed after it provide. Fields come
 * out in the order of the parts object.
 */
export function statsRoutes(ctx: DaemonContext): { serve(parts: StatsParts): void } {
  let parts: StatsParts | null = null;
  ctx.app.get('/api/stats', async (_req, reply) => {
    if (!parts) return reply.code(503).send({ error: 'starting', message: 'The daemon is starting' });
    const out: Record<string, unknown> = {};
    for (const [key, part] of Object.entries(parts) as Array<[keyof StatsResponse, () => unknown]>) {
      const value = part();
      if (value !== undefined) out[key] = value;
    }
    return out;
  });
  return {
    serve(p) {
      parts = p;
    },
  };
}
