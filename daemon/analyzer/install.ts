// Wires the analyzer bridge into the daemon: its routes (/api/claude/*), its part of GET /api/stats,
// its metrics (analyzer_requests_total, analyzer_duration_seconds) and its shutdown.
import type { DaemonConfig } from '../config.js';
import type { StatsResponse } from '../../shared/protocol.js';
import { SpanStatusCode } from '@opentelemetry/api';
import type { DaemonContext } from '../context.js';
import type { Trace } from '../core/service.js';
import { formatTraceparent } from '../observability/trace-context.js';
import { RequestTrace } from '../observability/request-trace.js';
import type { Tracing } from '../observability/tracing.js';
import { Analyzer, type AnalyzerOutcome, type RunSpan } from './analyzer.js';
import { analyzerRoutes } from './routes.js';

/** The settings a SIGHUP reload applies to the analyzer. */
const ANALYZER_KEYS = [
  'analyzer_command',
  'analyzer_mode',
  'analyzer_timeout_ms',
  'analyzer_max_concurrent',
  'analyzer_max_queue',
  'stream_analyzer_command',
] as const;

/** The analyzer's settings from the daemon config (at start and on reload alike). */
function settingsOf(cfg: DaemonConfig) {
  return {
    command: cfg.analyzer_command ?? undefined,
    mode: cfg.analyzer_mode,
    timeoutMs: cfg.analyzer_timeout_ms,
    maxConcurrent: cfg.analyzer_max_concurrent,
    maxQueue: cfg.analyzer_max_queue,
    streamCommand: cfg.stream_analyzer_command ?? undefined,
  };
}

/** Its part of GET /api/stats. */
export function analyzerStats(analyzer: Analyzer): StatsResponse['analyzer'] {
  const s = analyzer.stats();
  return { mode: s.mode, command: s.command, running: s.running, queued: s.queued, last_outcome: s.last_outcome, stream: s.stream };
}

/**
 * An external run's span, a child of the request's: its traceparent makes the command's own spans
 * (`claude -p` reads TRACEPARENT) part of the request's trace. A request that is not recorded (its
 * caller said "don't sample") records no run span either; the command still gets the trace id, unsampled.
 */
export function runSpans(tracing: Pick<Tracing, 'startInternal'>) {
  return (parent: Trace, mode: 'command' | 'claude'): RunSpan => {
    if (parent instanceof RequestTrace && !parent.context) return { traceparent: formatTraceparent(parent.trace_id, parent.span_id, false), end: () => {} };
    const span = tracing.startInternal('s2s.analyzer.run', { 's2s.operation': 'analyzer_run', 's2s.analyzer.mode': mode }, parent);
    const sc = span.spanContext();
    return {
      traceparent: formatTraceparent(sc.traceId, sc.spanId, span.isRecording()),
      end: (error) => {
        span.setAttribute('s2s.status', error ? 'error' : 'success');
        if (error) span.setStatus({ code: SpanStatusCode.ERROR, message: error });
        span.end();
      },
    };
  };
}

export function installAnalyzer(ctx: DaemonContext, tracing?: Pick<Tracing, 'startInternal'>): Analyzer {
  const { config, metrics, logger } = ctx;
  const analyzer = new Analyzer({
    ...settingsOf(config),
    // The analysis of "now": the whole coordination state, as GET /api/coordination/status has it.
    getState: () => ctx.store.state(),
    logger: logger.child({ component: 'analyzer' }),
    onResult: (outcome: AnalyzerOutcome, seconds: number) => {
      metrics.analyzerRequests.inc({ outcome });
      // A refused request never ran: its "duration" would only skew the histogram towards zero.
      if (outcome !== 'rejected') metrics.analyzerDuration.observe(seconds);
    },
    ...(tracing ? { startRun: runSpans(tracing) } : {}),
  });
  // The analyzer is ours (passed as an instance), so the routes do not stop it: onClose does, after
  // the HTTP server finished its requests.
  void ctx.app.register(analyzerRoutes(analyzer, (req) => ctx.traceOf(req)));
  ctx.onClose.push(() => analyzer.close());
  ctx.onReload.push(async (next, changed) => {
    if (!ANALYZER_KEYS.some((k) => changed.has(k))) return;
    await analyzer.reconfigure(settingsOf(next));
    logger.info({ mode: analyzer.mode, command: analyzer.command, stream_command: next.stream_analyzer_command }, 'analyzer reconfigured');
  });
  logger.info({ mode: analyzer.mode, command: analyzer.command, stream_command: config.stream_analyzer_command }, 'analyzer ready');
  return analyzer;
}
