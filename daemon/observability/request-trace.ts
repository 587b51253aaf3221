// The trace of one request: what the request hooks start and end, and what ctx.traceOf returns (the
// service stamps it into claim records; internal steps hang below its span context).
import type { Span, SpanContext } from '@opentelemetry/api';
import type { OpEvent, Trace } from '../core/service.js';
import type { RouteRule } from './route-rules.js';

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
