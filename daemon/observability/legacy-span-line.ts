// An SDK span as a legacy telemetry_spans.jsonl record: as an object (toLegacySpan) and, on the hot
// path, straight as its line (legacyLineFormatter).
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-node';
import type { LegacySpan } from '../../shared/protocol.js';

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
