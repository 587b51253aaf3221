// One SERVER span per API operation. Hooks are attached per route (onRoute), with the route's rule
// worked out once, instead of one global hook that would look the route up on every request. Every
// response carries traceparent / x-trace-id / x-span-id, recorded or not.
//
// Cost: no global context manager (no AsyncLocalStorage): parent contexts are passed explicitly;
// attributes are set once, at the end.
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace, type Attributes, type Context, type Tracer } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Outcome } from '../core/service.js';
import { ApiError } from '../errors.js';
import type { ForcingIdGenerator } from './otel-sdk.js';
import { RequestTrace } from './request-trace.js';
import { ruleFor, type RouteRule } from './route-rules.js';
import { extractIncoming, formatTraceparent, type IncomingContext } from './trace-context.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the tracing hook for every request. */
    aipTrace: RequestTrace | null;
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

/** Ends a request's span with its attributes: route, the fields it named, the outcome the service reported. */
function finish(t: RequestTrace, req: FastifyRequest, reply: FastifyReply | null, aborted: boolean): void {
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
}

/**
 * Attaches the tracing hooks to every route declared from now on; returns ctx.traceOf's function.
 * Call before the API routes are declared.
 */
export function installRequestSpans(app: FastifyInstance, tracer: Tracer, ids: ForcingIdGenerator): (req: FastifyRequest) => RequestTrace | undefined {
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
  return (req) => req.aipTrace ?? undefined;
}
