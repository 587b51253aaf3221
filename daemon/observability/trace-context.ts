// Trace context on the wire: W3C `traceparent` (and `tracestate`) in and out, plus the seed's
// `x-trace-id` / `x-span-id` / `x-parent-span-id` headers for old clients. Pure: no I/O.
//
// Incoming precedence: a valid `traceparent` wins; otherwise `x-trace-id` names the trace and the
// caller's span is `x-span-id` (else `x-parent-span-id`). A trace id of 16 hex digits (64-bit, as some
// old tracers send) is left-padded to 32. Invalid or all-zero ids are ignored, as W3C asks.
// Outgoing: `traceparent: 00-<trace>-<our span>-<flags>`, `x-trace-id`, `x-span-id` (our span) and,
// when there was a caller span, `x-parent-span-id`.

export interface IncomingContext {
  traceId: string;
  /** The caller's span: the parent of ours. Null when only a trace id came (seed header alone). */
  spanId: string | null;
  /** The caller's sampling decision (traceparent flag 01); the seed headers count as sampled. */
  sampled: boolean;
  traceState?: string;
  source: 'traceparent' | 'x-trace-id';
}

const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);
// version-traceid-parentid-flags; future versions may append fields after a '-' (W3C §3.2.4).
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

type HeaderValue = string | string[] | undefined;

function first(v: HeaderValue): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

export function parseTraceparent(value: HeaderValue): { traceId: string; spanId: string; sampled: boolean } | null {
  const v = first(value)?.trim().toLowerCase();
  if (!v || v.length < 55) return null;
  const m = TRACEPARENT.exec(v);
  if (!m) return null;
  const [, version, traceId, spanId, flags, rest] = m;
  if (version === 'ff') return null; // forbidden version
  if (version === '00' && rest !== undefined) return null; // version 00 has exactly four fields
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return null;
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1 };
}

export function normalizeTraceId(value: HeaderValue): string | null {
  let v = first(value)?.trim().toLowerCase();
  if (!v) return null;
  if (/^[0-9a-f]{16}$/.test(v)) v = v.padStart(32, '0');
  return TRACE_ID.test(v) && v !== ZERO_TRACE ? v : null;
}

export function normalizeSpanId(value: HeaderValue): string | null {
  const v = first(value)?.trim().toLowerCase();
  return v && SPAN_ID.test(v) && v !== ZERO_SPAN ? v : null;
}

/** The caller's trace context from request headers, or null (start a new trace). */
export function extractIncoming(headers: Record<string, HeaderValue>): IncomingContext | null {
  const tp = headers.traceparent;
  if (tp !== undefined) {
    const parsed = parseTraceparent(tp);
    if (parsed) {
      const ts = first(headers.tracestate)?.trim();
      return { ...parsed, source: 'traceparent', ...(ts ? { traceState: ts.slice(0, 512) } : {}) };
    }
  }
  const xTrace = headers['x-trace-id'];
  if (xTrace === undefined) return null;
  const traceId = normalizeTraceId(xTrace);
  if (!traceId) return null;
  const spanId = normalizeSpanId(headers['x-span-id']) ?? normalizeSpanId(headers['x-parent-span-id']);
  return { traceId, spanId, sampled: true, source: 'x-trace-id' };
}

export function formatTraceparent(traceId: string, spanId: string, sampled: boolean): string {
  return `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`;
}

/** Response headers that answer a request whose span is (traceId, spanId). */
export function responseHeaders(traceId: string, spanId: string, sampled: boolean, parentSpanId: string | null): Record<string, string> {
  const h: Record<string, string> = {
    traceparent: formatTraceparent(traceId, spanId, sampled),
    'x-trace-id': traceId,
    'x-span-id': spanId,
  };
  if (parentSpanId) h['x-parent-span-id'] = parentSpanId;
  return h;
}
