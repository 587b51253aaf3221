// Traces: the OpenTelemetry SDK (otel-sdk.ts) with one SERVER span per API operation
// (request-spans.ts, under the rules of route-rules.ts) and INTERNAL spans for the daemon's own steps
// (internal-spans.ts). Every finished span goes to OTLP when an endpoint is configured, and to the
// legacy side: telemetry_spans.jsonl, the ring, the stream, the entropy (span-sink.ts,
// legacy-span-processor.ts). The telemetry endpoints that serve them are http/telemetry-routes.ts,
// declared by the daemon's wiring.
//
// Cost: spans waiting for the file and the recent spans live in byte buffers (nothing for the GC to
// trace); the legacy line is built without an intermediate object; fsync spans are one per journal batch.
import type { Attributes, Span } from '@opentelemetry/api';
import type { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { OtelSettings } from '../config.js';
import type { DaemonContext } from '../context.js';
import type { Trace } from '../core/service.js';
import type { StatsPart } from '../http/stats-parts.js';
import { internalSpanStarter, traceInternalSteps } from './internal-spans.js';
import { LegacySpanProcessor } from './legacy-span-processor.js';
import { startTracerSdk, tracingResource } from './otel-sdk.js';
import { installRequestSpans } from './request-spans.js';
import type { SpanFile } from './span-file.js';
import { openSpanSink } from './span-sink.js';
import type { TelemetrySink } from './telemetry.js';

export interface Tracing {
  provider: NodeTracerProvider;
  /** Where finished spans go on the legacy side (what the telemetry endpoints serve). */
  sink: TelemetrySink;
  file: SpanFile;
  exporting: boolean;
  /** Its part of GET /api/stats. */
  stats: StatsPart<'telemetry'>;
  /** Starts an INTERNAL span (for features that want to show a step); end it yourself. */
  startInternal(name: string, attributes?: Attributes, parent?: Trace): Span;
}

/**
 * Sets up tracing and sets ctx.traceOf. Call before the API routes are declared: the tracing hooks are
 * attached to each route as it is added (onRoute).
 */
export async function installTracing(ctx: DaemonContext, otel: OtelSettings): Promise<Tracing> {
  const { file, sink } = await openSpanSink(ctx);
  const who = tracingResource(otel.service_name);
  const legacy = new LegacySpanProcessor(sink, file, who.legacyService, who.legacyAttributes, ctx.config.telemetry_internal_spans);
  const { provider, tracer, ids, exporting } = await startTracerSdk(ctx.logger, otel, who.resource, legacy);
  ctx.traceOf = installRequestSpans(ctx.app, tracer, ids);
  traceInternalSteps(ctx.store, ctx.service, tracer);

  ctx.onClose.push(async () => {
    sink.closeClients(1001, 'daemon shutting down');
    // Flushes the OTLP batch (bounded: a dead collector must not hold up shutdown) and the span file.
    await Promise.race([provider.shutdown().catch(() => {}), new Promise((r) => setTimeout(r, 5000).unref())]);
    await file.close();
  });

  return {
    provider,
    sink,
    file,
    exporting,
    stats: () => ({ spans_seen: sink.count, ring: sink.ring.length, stream_clients: sink.clientCount, exporting, file: { ...file.stats } }),
    startInternal: internalSpanStarter(tracer),
  };
}
