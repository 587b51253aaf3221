// What the console keeps of a span. The traces panel and the trace view show a span's ids, operation,
// status, start, duration and service name; its attributes (resource and span, most of a span's
// size) are never shown, so the span buffer does not keep them.
import type { LegacySpan } from '../../shared/protocol.js';

export type ShownSpan = Pick<LegacySpan, 'trace_id' | 'span_id' | 'parent_span_id' | 'operation_name' | 'status' | 'start_time' | 'duration_ms'> & {
  service?: { name: string };
};

/** Above this many distinct names (a daemon inventing operation names), the table starts again. */
const MAX_NAMES = 1000;

/**
 * Cuts spans to ShownSpan, sharing the strings that repeat from span to span (operation, status,
 * service): each parsed span brings its own copies, and a full buffer would hold thousands of each.
 */
export class SpanSlimmer {
  private names = new Map<string, string>();
  private services = new Map<string, { name: string }>();

  shown(s: LegacySpan): ShownSpan {
    const name = s.service?.name;
    return {
      trace_id: s.trace_id,
      span_id: s.span_id,
      parent_span_id: s.parent_span_id,
      operation_name: this.name(s.operation_name),
      status: this.name(s.status) as LegacySpan['status'],
      start_time: s.start_time,
      duration_ms: s.duration_ms,
      ...(typeof name === 'string' ? { service: this.service(name) } : {}),
    };
  }

  private name(v: string): string {
    if (typeof v !== 'string') return v;
    const known = this.names.get(v);
    if (known !== undefined) return known;
    if (this.names.size >= MAX_NAMES) this.names.clear();
    this.names.set(v, v);
    return v;
  }

  private service(name: string): { name: string } {
    let s = this.services.get(name);
    if (!s) {
      if (this.services.size >= MAX_NAMES) this.services.clear();
      s = Object.freeze({ name: this.name(name) });
      this.services.set(name, s);
    }
    return s;
  }
}
