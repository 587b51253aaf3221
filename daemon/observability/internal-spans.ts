// INTERNAL spans for the daemon's steps worth seeing: journal fsync per group commit, legacy file
// write, merge of an external edit, lease expiry; and the starter features use for their own steps.
import { ROOT_CONTEXT, SpanKind, trace, type Attributes, type Link, type Span, type SpanContext, type Tracer } from '@opentelemetry/api';
import type { CoordinationService, Trace } from '../core/service.js';
import type { CoordinationStore } from '../store/memory-state.js';
import { RequestTrace } from './request-trace.js';

/** An INTERNAL span under `parent` (a request's trace), left open: the caller ends it. */
export function internalSpanStarter(tracer: Tracer): (name: string, attributes?: Attributes, parent?: Trace) => Span {
  return (name, attributes = {}, parent) => {
    const p = parent instanceof RequestTrace ? parent.context : null;
    return tracer.startSpan(name, { kind: SpanKind.INTERNAL, attributes }, p ? trace.setSpanContext(ROOT_CONTEXT, p) : ROOT_CONTEXT);
  };
}

/** One fsync span links at most this many traced operations of its batch besides its parent. */
const MAX_LINKS = 8;

/** Traces the store's and the service's steps from their events (one-way: events in, spans out). */
export function traceInternalSteps(store: CoordinationStore, service: CoordinationService, tracer: Tracer): void {
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
}
