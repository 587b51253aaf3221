// Traces: the OpenTelemetry SDK (NodeTracerProvider) with one SERVER span per API operation and
// INTERNAL spans for the steps worth seeing (journal fsync per group commit, legacy file write,
// merge of an external edit, lease expiry). Every finished span goes to
//   - OTLP gRPC through a BatchSpanProcessor, only when an endpoint is configured
//     (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT; none = no exporter, no errors;
//     OTEL_TRACES_EXPORTER=none turns it off), and
//   - the legacy side (telemetry.ts): telemetry_spans.jsonl, the ring, the stream, the entropy.
// Standard OTel env vars apply: OTEL_SERVICE_NAME (default ai-processor), OTEL_RESOURCE_ATTRIBUTES,
// OTEL_TRACES_SAMPLER(_ARG), OTEL_BSP_*, OTEL_EXPORTER_OTLP_*.
//
// What is recorded: every mutating API call and analyzer call (parent-based: a caller's traceparent
// with flag 00 means "don't record"); reads only when the caller sends a sampled trace context;
// /metrics, /health, /ready and the telemetry and entropy endpoints never (measuring must not change
// what it measures). Every response carries traceparent / x-trace-id / x-span-id either way.
//
// Cost: no global context manager (no AsyncLocalStorage); parent contexts are passed explicitly; hooks
// are attached per route with the route's rule computed once; attributes are set once, at the end;
// the legacy line is built without an intermediate object; spans waiting for the file and the recent
// spans live in byte buffers (nothing for the GC to trace); fsync spans are one per journal batch.
// OTEL_TRACES_SAMPLER=parentbased_traceidratio with OTEL_TRACES_SAMPLER_ARG lowers the cost further.
import path from 'node:path';
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  diag,
  DiagLogLevel,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type SpanContext,
  type DiagLogger,
} from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import {
  NodeTracerProvider,
  BatchSpanProcessor,
  RandomIdGenerator,
  type IdGenerator,
  type ReadableSpan,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-node';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { LegacySpan } from '../../shared/protocol.js';
import { DAEMON_INTERNAL_SPANS } from '../../shared/entropy.js';
import type { DaemonContext } from '../context.js';
import type { OpEvent, Outcome, Trace } from '../core/service.js';
import { ApiError } from '../errors.js';
import { VERSION } from '../version.js';
import { extractIncoming, formatTraceparent, type IncomingContext } from './trace-context.js';
import { SpanFile } from './span-file.js';
import { TelemetrySink } from './telemetry.js';
import { telemetryRoutes } from '../http/telemetry-routes.js';
import type { StatsPart } from '../http/stats-parts.js';

export const DEFAULT_SERVICE_NAME = 'ai-processor';
export const SPAN_FILE = 'telemetry_spans.jsonl';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the tracing hook for every request. */
    aipTrace: RequestTrace | null;
  }
}

/** always: every call; asked: only when the caller sends a sampled trace context; never. */
type RecordPolicy = 'always' | 'asked' | 'never';

interface RouteRule {
  /** Span name: the legacy operation names where there is one. */
  name: string;
  /** s2s.operation attribute (the legacy helper's words). */
  operation: string;
  record: RecordPolicy;
  route: string;
}

/** Legacy names for the API's operations (routes as fastify declares them). */
const OPERATIONS: Record<string, [name: string, operation: string]> = {
  'POST /api/agents': ['s2s.agent.register', 'agent_register'],
  'POST /api/agents/:agent_id/heartbeat': ['s2s.agent.heartbeat', 'agent_heartbeat'],
  'POST /api/work': ['s2s.work.create', 'work_create'],
  'POST /api/coordination/claim': ['s2s.work.claim', 'work_claim'],
  'POST /api/coordination/progress': ['s2s.work.progress', 'progress_update'],
  'POST /api/coordination/complete': ['s2s.work.complete', 'work_complete'],
  'POST /api/coordination/release': ['s2s.work.release', 'work_release'],
  'POST /api/claude/analyze-priorities': ['s2s.claude.priority_analysis', 'priority_analysis'],
  'POST /api/claude/stream': ['s2s.claude_headless.stream_analyze', 'stream_analyze'],
};

const NEVER = [/^\/metrics$/, /^\/health$/, /^\/ready$/, /^\/api\/telemetry(\/|$)/, /^\/api\/entropy(\/|$)/, /\/stream$/];

export function ruleFor(method: string, route: string | undefined): RouteRule {
  if (!route) return { name: method, operation: 'unknown_route', record: 'never', route: '' };
  const known = OPERATIONS[`${method} ${route}`];
  if (known) return { name: known[0], operation: known[1], record: 'always', route };
  if (NEVER.some((re) => re.test(route))) return { name: `${method} ${route}`, operation: 'internal', record: 'never', route };
  const mutating = method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS';
  return {
    name: `${method} ${route}`,
    operation: `${method.toLowerCase()}_${route.replace(/^\/api\//, '').replace(/[^a-z0-9]+/gi, '_')}`,
    record: mutating ? 'always' : 'asked',
    route,
  };
}

/** The trace of one request; also what ctx.traceOf returns (the service stamps it into claim records). */
export class RequestTrace implements Trace {
  op: OpEvent | null = null;
  error: string | null = null;
  constructor(
    readonly trace_id: string,
    readonly span_id: string,
    /** The recording span until it ends (null when not recorded). */
    public span: Span | null,
    /** The span's context, kept after it ended (parent of internal steps); null when not recorded. */
    readonly context: SpanContext | null,
    readonly rule: RouteRule,
  ) {}
}

/** Random ids, except that the next trace id can be forced (the seed's x-trace-id without a span). */
class ForcingIdGenerator implements IdGenerator {
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

const KIND_NAMES: Record<number, string> = {
  [SpanKind.INTERNAL]: 'internal',
  [SpanKind.SERVER]: 'server',
  [SpanKind.CLIENT]: 'client',
  [SpanKind.PRODUCER]: 'producer',
  [SpanKind.CONSUMER]: 'consumer',
};

let isoSecond = -1;
let isoPrefix = '';
/** ISO 8601 UTC with microseconds (2026-11-24T12:34:56.789123Z); the date part is formatted once a second. */
export function isoFromHrTime([s, ns]: [number, number]): string {
  if (s !== isoSecond) {
    isoSecond = s;
    isoPrefix = new Date(s * 1000).toISOString().slice(0, 20); // 2026-11-24T12:34:56.
  }
  return isoPrefix + String(Math.floor(ns / 1000)).padStart(6, '0') + 'Z';
}

/** An SDK span as a legacy telemetry_spans.jsonl record. */
export function toLegacySpan(span: ReadableSpan, service: LegacySpan['service'], resourceAttributes: Record<string, unknown>): LegacySpan {
  const sc = span.spanContext();
  const [ds, dns] = span.duration;
  return {
    trace_id: sc.traceId,
    span_id: sc.spanId,
    parent_span_id: span.parentSpanContext?.spanId ?? '',
    operation_name: span.name,
    span_kind: KIND_NAMES[span.kind] ?? 'internal',
    status: span.status.code === SpanStatusCode.ERROR ? 'error' : 'ok',
    start_time: isoFromHrTime(span.startTime),
    duration_ms: Math.round((ds * 1e3 + dns / 1e6) * 1000) / 1000,
    service,
    resource_attributes: resourceAttributes,
    span_attributes: { ...span.attributes },
  };
}

/**
 * The legacy line of an SDK span: exactly formatLegacySpan(toLegacySpan(span, ...)), built without the
 * intermediate object and without re-serializing what never changes (service, resource attributes).
 * Ids are hex (the SDK only keeps valid ones) and the other fixed fields are ours, so only the name
 * and the attributes need JSON.stringify.
 */
export function legacyLineFormatter(service: LegacySpan['service'], resourceAttributes: Record<string, unknown>): (span: ReadableSpan) => string {
  const constant = `,"service":${JSON.stringify(service)},"resource_attributes":${JSON.stringify(resourceAttributes)},"span_attributes":`;
  return (span) => {
    const sc = span.spanContext();
    const [ds, dns] = span.duration;
    const duration = Math.round((ds * 1e3 + dns / 1e6) * 1000) / 1000;
    const status = span.status.code === SpanStatusCode.ERROR ? 'error' : 'ok';
    return `{"trace_id":"${sc.traceId}","span_id":"${sc.spanId}","parent_span_id":"${span.parentSpanContext?.spanId ?? ''}","operation_name":${JSON.stringify(span.name)},"span_kind":"${KIND_NAMES[span.kind] ?? 'internal'}","status":"${status}","start_time":"${isoFromHrTime(span.startTime)}","duration_ms":${duration}${constant}${JSON.stringify(span.attributes)}}`;
  };
}

class LegacySpanProcessor implements SpanProcessor {
  private format: (span: ReadableSpan) => string;
  constructor(
    private sink: TelemetrySink,
    private file: SpanFile,
    service: LegacySpan['service'],
    resourceAttributes: Record<string, unknown>,
    private internalToFile: boolean,
  ) {
    this.format = legacyLineFormatter(service, resourceAttributes);
  }
  onStart(): void {}
  onEnd(span: ReadableSpan): void {
    // The daemon's own steps stay in the ring and the stream (a request's trace shows its fsync) but
    // not in the file by default: they would be most of its bytes and none of the fleet's story.
    const toFile = this.internalToFile || !DAEMON_INTERNAL_SPANS.has(span.name);
    this.sink.push(this.format(span), span.name, span.status.code === SpanStatusCode.ERROR ? 'error' : 'ok', toFile);
  }
  forceFlush(): Promise<void> {
    return this.file.flush();
  }
  shutdown(): Promise<void> {
    return this.file.close();
  }
}

/** Body and path fields worth a span attribute (the legacy s2s.* names). */
const FIELD_ATTRS: Array<[field: string, attr: string]> = [
  ['work_id', 's2s.work_item_id'],
  ['agent_id', 's2s.agent_id'],
  ['work_type', 's2s.work_type'],
  ['priority', 's2s.priority'],
  ['team', 's2s.team'],
  ['progress', 's2s.progress_percent'],
  ['status', 's2s.work_status'],
  ['velocity_points', 's2s.velocity_points'],
  ['specialization', 's2s.specialization'],
];

function fieldAttributes(attrs: Attributes, source: unknown): void {
  if (!source || typeof source !== 'object') return;
  const o = source as Record<string, unknown>;
  for (const [field, attr] of FIELD_ATTRS) {
    const v = o[field];
    if (typeof v === 'string') attrs[attr] = v.length > 256 ? v.slice(0, 256) : v;
    else if (typeof v === 'number' || typeof v === 'boolean') attrs[attr] = v;
  }
}

const OUTCOME_WORD: Record<Outcome | 'error', string> = { ok: 'success', idempotent: 'idempotent', conflict: 'conflict', error: 'error' };

function endpointConfigured(env: NodeJS.ProcessEnv): boolean {
  if (
    (env.OTEL_TRACES_EXPORTER ?? '')
      .split(',')
      .map((s) => s.trim())
      .includes('none')
  )
    return false;
  return !!(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim());
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

export interface Tracing {
  provider: NodeTracerProvider;
  sink: TelemetrySink;
  file: SpanFile;
  exporting: boolean;
  /** Its part of GET /api/stats. */
  stats: StatsPart<'telemetry'>;
  /** Starts an INTERNAL span (for features that want to show a step); end it yourself. */
  startInternal(name: string, attributes?: Attributes, parent?: Trace): Span;
}

/**
 * Sets up tracing and the telemetry endpoints, and sets ctx.traceOf. Call before the API routes are
 * registered: the tracing hooks are attached to each route as it is added (onRoute).
 */
export async function installTracing(ctx: DaemonContext, env: NodeJS.ProcessEnv = process.env): Promise<Tracing> {
  const { app, store, service, logger } = ctx;
  diag.setLogger(diagToLogger(logger), { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });

  const serviceName = env.OTEL_SERVICE_NAME?.trim() || DEFAULT_SERVICE_NAME;
  const ours = resourceFromAttributes({ 'service.name': serviceName, 'service.version': VERSION, 's2s.component': 'ai-processor' });
  const fromEnv = detectResources({ detectors: [envDetector] }); // OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME
  const resource = defaultResource().merge(ours).merge(fromEnv);
  const legacyService = { name: serviceName, version: VERSION };
  const legacyResource: Record<string, unknown> = { 'service.name': serviceName, 'service.version': VERSION, 's2s.component': 'ai-processor' };
  for (const [k, v] of Object.entries(fromEnv.attributes)) if (v !== undefined) legacyResource[k] = v;

  const file = new SpanFile({
    file: path.join(store.dataDir, SPAN_FILE),
    indexFile: path.join(store.metaDir, 'telemetry-index.json'),
    logger,
    externalCheckMs: 5000,
    onExternalSpans: (spans) => sink.pushExternal(spans),
    maxBytes: ctx.config.telemetry_file_max_bytes,
    maxAgeMs: ctx.config.telemetry_file_max_age_ms,
    keep: ctx.config.telemetry_file_keep,
  });
  const sink = new TelemetrySink(file, ctx.entropy, ctx.metrics, logger);
  const started = Date.now();
  const opened = await file.open(sink.ring.capacity);
  for (const { record, count } of opened.counts) for (let i = 0; i < count; i++) ctx.entropy.add('spans', record);
  sink.fill(opened.recent);
  logger.info(
    {
      file: SPAN_FILE,
      spans: opened.counts.reduce((n, c) => n + c.count, 0),
      scanned_bytes: opened.scannedBytes,
      indexed: opened.indexed,
      ms: Date.now() - started,
    },
    'telemetry spans loaded',
  );

  const processors: SpanProcessor[] = [new LegacySpanProcessor(sink, file, legacyService, legacyResource, ctx.config.telemetry_internal_spans)];
  const exporting = endpointConfigured(env);
  if (exporting) {
    // Loaded only when used: the gRPC stack costs startup time a daemon without a collector need not pay.
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-grpc');
    processors.push(new BatchSpanProcessor(new OTLPTraceExporter()));
  }
  const ids = new ForcingIdGenerator();
  const provider = new NodeTracerProvider({ resource, idGenerator: ids, spanProcessors: processors });
  const tracer = provider.getTracer('ai-processor', VERSION);
  if (exporting)
    logger.info(
      { endpoint: env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT, service_name: serviceName },
      'exporting traces over OTLP gRPC',
    );

  const parentContext = (inc: IncomingContext | null): Context => {
    if (!inc) return ROOT_CONTEXT;
    if (!inc.spanId) {
      ids.nextTraceId = inc.traceId; // a root span in the caller's trace
      return ROOT_CONTEXT;
    }
    return trace.setSpanContext(ROOT_CONTEXT, {
      traceId: inc.traceId,
      spanId: inc.spanId,
      traceFlags: inc.sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
      isRemote: true,
      ...(inc.traceState ? { traceState: new TraceState(inc.traceState) } : {}),
    });
  };

  // ---- per request -----------------------------------------------------------------------
  // Hooks are attached per route (onRoute), with the route's rule worked out once, instead of one
  // global hook that would look the route up on every request.
  const onRequest = (rule: RouteRule, req: FastifyRequest, reply: FastifyReply): void => {
    const inc = extractIncoming(req.headers);
    let t: RequestTrace;
    let sampled = false;
    if (rule.record === 'always' || (rule.record === 'asked' && inc?.sampled)) {
      // Attributes are all set once, when the span ends (one pass of the SDK's checks instead of two).
      const span = tracer.startSpan(rule.name, { kind: SpanKind.SERVER }, parentContext(inc));
      ids.nextTraceId = null;
      const sc = span.spanContext();
      sampled = span.isRecording();
      t = new RequestTrace(sc.traceId, sc.spanId, sampled ? span : null, sampled ? sc : null, rule);
    } else {
      t = new RequestTrace(inc?.traceId ?? ids.generateTraceId(), ids.generateSpanId(), null, null, rule);
    }
    req.aipTrace = t;
    reply.header('traceparent', formatTraceparent(t.trace_id, t.span_id, sampled));
    reply.header('x-trace-id', t.trace_id);
    reply.header('x-span-id', t.span_id);
    if (inc?.spanId) reply.header('x-parent-span-id', inc.spanId);
  };
  const onError = (req: FastifyRequest, _reply: FastifyReply, err: Error, done: () => void): void => {
    const t = req.aipTrace;
    if (t)
      t.error =
        err instanceof ApiError
          ? err.code
          : (err as { validation?: unknown }).validation
            ? 'invalid_request'
            : ((err as { code?: string }).code ?? 'internal_error');
    done();
  };
  const onResponse = (req: FastifyRequest, reply: FastifyReply, done: () => void): void => {
    const t = req.aipTrace;
    if (t?.span) finish(t, req, reply, false);
    done();
  };
  const onAbort = (req: FastifyRequest, done: () => void): void => {
    const t = req.aipTrace;
    if (t?.span) finish(t, req, null, true);
    done();
  };
  const prepend = <H>(hook: H, existing: H | H[] | undefined): H[] =>
    existing === undefined ? [hook] : [hook, ...(Array.isArray(existing) ? existing : [existing])];
  app.decorateRequest('aipTrace', null);
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const byMethod = new Map(methods.map((m) => [m, ruleFor(m, route.url)]));
    const any = byMethod.values().next().value!;
    route.onRequest = prepend((req: FastifyRequest, reply: FastifyReply, done: () => void) => {
      onRequest(byMethod.get(req.method) ?? any, req, reply);
      done();
    }, route.onRequest as never);
    if ([...byMethod.values()].some((r) => r.record !== 'never')) {
      route.onResponse = prepend(onResponse, route.onResponse as never);
      route.onError = prepend(onError, route.onError as never);
      route.onRequestAbort = prepend(onAbort, route.onRequestAbort as never);
    }
  });

  const finish = (t: RequestTrace, req: FastifyRequest, reply: FastifyReply | null, aborted: boolean): void => {
    const span = t.span!;
    t.span = null;
    const rule = t.rule;
    const attrs: Attributes = { 'http.request.method': req.method, 'http.route': rule.route, 's2s.operation': rule.operation };
    fieldAttributes(attrs, req.params);
    fieldAttributes(attrs, req.body);
    const status = reply?.statusCode ?? 0;
    if (reply) attrs['http.response.status_code'] = status;
    const op = t.op;
    if (op?.revision != null) attrs['s2s.revision'] = op.revision;
    const error = op?.error ?? t.error ?? (aborted ? 'client_aborted' : null);
    attrs['s2s.status'] = op ? OUTCOME_WORD[op.outcome] : aborted ? 'aborted' : status < 400 ? 'success' : status === 409 ? 'conflict' : 'error';
    if (error) attrs['s2s.error'] = error;
    span.setAttributes(attrs);
    if (aborted || status >= 400) span.setStatus({ code: SpanStatusCode.ERROR, message: error ?? `HTTP ${status}` });
    span.end();
  };

  ctx.traceOf = (req) => req.aipTrace ?? undefined;

  // ---- internal steps --------------------------------------------------------------------
  const internal = (name: string, startMs: number, endMs: number, attributes: Attributes, parent?: SpanContext, links?: Link[]): void => {
    const span = tracer.startSpan(
      name,
      { kind: SpanKind.INTERNAL, startTime: startMs, attributes, ...(links?.length ? { links } : {}) },
      parent ? trace.setSpanContext(ROOT_CONTEXT, parent) : ROOT_CONTEXT,
    );
    span.end(endMs);
  };

  // One fsync span per journal batch (group commit), not per line. The batch's operations report
  // ('op') right after its fsync, before the next macrotask: the first traced one becomes the span's
  // parent, the next few are linked, so the fsync shows up inside a request's trace.
  const MAX_LINKS = 8;
  let batch: { endMs: number; seconds: number; lines: number; traced: SpanContext[]; n: number } | null = null;
  const closeBatch = (): void => {
    const b = batch;
    batch = null;
    if (!b) return;
    const parent = b.traced[0];
    const links = b.traced.slice(1).map((context) => ({ context }));
    internal(
      's2s.journal.fsync',
      b.endMs - b.seconds * 1000,
      b.endMs,
      { 's2s.operation': 'journal_fsync', 's2s.journal.lines': b.lines, 's2s.journal.traced_operations': b.n },
      parent,
      links,
    );
  };
  store.on('fsync', (e) => {
    closeBatch();
    batch = { endMs: Date.now(), seconds: e.seconds, lines: e.lines, traced: [], n: 0 };
    setImmediate(closeBatch);
  });
  service.on('op', (e) => {
    const t = e.trace;
    if (!(t instanceof RequestTrace)) return;
    t.op = e;
    if (batch && t.context && (e.outcome === 'ok' || e.outcome === 'idempotent')) {
      batch.n++;
      if (batch.traced.length <= MAX_LINKS) batch.traced.push(t.context);
    }
  });
  store.on('view_written', (e) => {
    const end = Date.now();
    internal('s2s.legacy.write', end - e.seconds * 1000, end, {
      's2s.operation': 'legacy_file_write',
      's2s.file': e.file,
      's2s.records': e.records,
      's2s.bytes': e.bytes,
    });
  });
  store.on('commit', (d) => {
    if (d.cause?.source !== 'file') return;
    const start = Number(BigInt(d.timestamp_ns) / 1_000_000n);
    const attrs: Attributes = {
      's2s.operation': 'external_edit_merge',
      's2s.revision': d.revision,
      's2s.changes': d.changes.length,
      's2s.conflict': !!d.cause.conflict,
    };
    const sections = [...new Set(d.changes.map((c) => c.section))];
    if (sections.length) attrs['s2s.sections'] = sections.join(',');
    internal('s2s.legacy.merge', Math.min(start, Date.now()), Date.now(), attrs);
  });
  service.on('lease_expired', (e) => {
    const now = Date.now();
    internal('s2s.work.lease_expired', now, now, {
      's2s.operation': 'lease_expired',
      's2s.agent_id': e.agent_id,
      's2s.released': e.work_ids.length,
      ...(e.revision !== null ? { 's2s.revision': e.revision } : {}),
    });
  });

  await telemetryRoutes(ctx, sink);

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
    startInternal: (name, attributes = {}, parent) => {
      const p = parent instanceof RequestTrace ? parent.context : null;
      return tracer.startSpan(name, { kind: SpanKind.INTERNAL, attributes }, p ? trace.setSpanContext(ROOT_CONTEXT, p) : ROOT_CONTEXT);
    },
  };
}
