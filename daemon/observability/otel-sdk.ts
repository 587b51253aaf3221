// The OpenTelemetry SDK: resource, id generator, span processors and the tracer provider. Finished
// spans go to
//   - OTLP gRPC through a BatchSpanProcessor, only when an endpoint is configured (config.ts
//     otelSettings: none = no exporter, no errors; OTEL_TRACES_EXPORTER=none turns it off), and
//   - the legacy side (legacy-span-processor.ts).
// The SDK reads the other standard variables itself: OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER(_ARG)
// (parentbased_traceidratio lowers the cost further), OTEL_BSP_*, OTEL_EXPORTER_OTLP_*.
import { diag, DiagLogLevel, type DiagLogger, type Tracer } from '@opentelemetry/api';
import { NodeTracerProvider, BatchSpanProcessor, RandomIdGenerator, type IdGenerator, type SpanProcessor } from '@opentelemetry/sdk-trace-node';
import { defaultResource, detectResources, envDetector, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { LegacySpan } from '../../shared/protocol.js';
import type { OtelSettings } from '../config.js';
import type { DaemonContext } from '../context.js';
import { VERSION } from '../../io/version.js';

/** Random ids, except that the next trace id can be forced (the seed's x-trace-id without a span). */
export class ForcingIdGenerator implements IdGenerator {
  private base = new RandomIdGenerator();
  nextTraceId: string | null = null;
  generateTraceId(): string {
    const forced = this.nextTraceId;
    this.nextTraceId = null;
    return forced ?? this.base.generateTraceId();
  }
  generateSpanId(): string {
    return this.base.generateSpanId();
  }
}

/** OTel's own diagnostics (export failures...) into our log, each distinct message at most once a minute. */
function diagToLogger(logger: DaemonContext['logger']): DiagLogger {
  const last = new Map<string, number>();
  const log =
    (level: 'warn' | 'error') =>
    (message: string, ...args: unknown[]) => {
      // The SDK's error handler passes errors as JSON ({message, stack, ...}): keep the message.
      let text = message;
      try {
        const parsed = JSON.parse(message) as { message?: unknown };
        if (parsed && typeof parsed.message === 'string') text = parsed.message;
      } catch {
        /* plain text */
      }
      text = text.slice(0, 300);
      const now = Date.now();
      if ((last.get(text) ?? 0) > now - 60_000) return;
      if (last.size > 100) last.clear();
      last.set(text, now);
      const detail = args
        .map((a) => (a instanceof Error ? a.message : typeof a === 'string' ? a : JSON.stringify(a)))
        .join(' ')
        .slice(0, 300);
      logger[level]({ ...(detail ? { detail } : {}) }, `opentelemetry: ${text} (repeats are logged at most once a minute)`);
    };
  const noop = () => {};
  return { error: log('error'), warn: log('warn'), info: noop, debug: noop, verbose: noop };
}

/** Who the spans come from: the SDK's resource, and the same as the legacy lines' service and resource attributes. */
export interface TracingResource {
  resource: Resource;
  legacyService: LegacySpan['service'];
  legacyAttributes: Record<string, unknown>;
}

export function tracingResource(serviceName: string): TracingResource {
  const ours = { 'service.name': serviceName, 'service.version': VERSION, 's2s.component': 'ai-processor' };
  const fromEnv = detectResources({ detectors: [envDetector] }); // OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME
  const legacyAttributes: Record<string, unknown> = { ...ours };
  for (const [k, v] of Object.entries(fromEnv.attributes)) if (v !== undefined) legacyAttributes[k] = v;
  return {
    resource: defaultResource().merge(resourceFromAttributes(ours)).merge(fromEnv),
    legacyService: { name: serviceName, version: VERSION },
    legacyAttributes,
  };
}

export interface TracerSdk {
  provider: NodeTracerProvider;
  tracer: Tracer;
  ids: ForcingIdGenerator;
  exporting: boolean;
}

/** Starts the SDK with the legacy processor, plus the OTLP exporter when an endpoint is configured. */
export async function startTracerSdk(
  logger: DaemonContext['logger'],
  otel: OtelSettings,
  resource: Resource,
  legacyProcessor: SpanProcessor,
): Promise<TracerSdk> {
  diag.setLogger(diagToLogger(logger), { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
  const processors: SpanProcessor[] = [legacyProcessor];
  const exporting = otel.traces_endpoint !== null;
  if (exporting) {
    // Loaded only when used: the gRPC stack costs startup time a daemon without a collector need not pay.
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-grpc');
    processors.push(new BatchSpanProcessor(new OTLPTraceExporter()));
  }
  const ids = new ForcingIdGenerator();
  const provider = new NodeTracerProvider({ resource, idGenerator: ids, spanProcessors: processors });
  if (exporting) logger.info({ endpoint: otel.traces_endpoint, service_name: otel.service_name }, 'exporting traces over OTLP gRPC');
  return { provider, tracer: provider.getTracer('ai-processor', VERSION), ids, exporting };
}
