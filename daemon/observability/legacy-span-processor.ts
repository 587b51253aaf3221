// The SDK's span processor for the legacy side: every finished span goes to the telemetry sink
// (telemetry_spans.jsonl, the ring, the stream, the entropy) as its legacy line.
import { SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace-node';
import { DAEMON_INTERNAL_SPANS } from '../../shared/entropy.js';
import type { LegacySpan } from '../../shared/protocol.js';
import { legacyLineFormatter } from './legacy-span-line.js';
import type { SpanFile } from './span-file.js';
import type { TelemetrySink } from './telemetry.js';

export class LegacySpanProcessor implements SpanProcessor {
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
