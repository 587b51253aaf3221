// Opens telemetry_spans.jsonl and the sink finished spans go to: the spans already in the file count
// in the entropy and fill the ring of recent spans before the first request.
import path from 'node:path';
import type { DaemonContext } from '../context.js';
import { SpanFile } from './span-file.js';
import { TelemetrySink } from './telemetry.js';

export const SPAN_FILE = 'telemetry_spans.jsonl';

export async function openSpanSink(
  ctx: Pick<DaemonContext, 'store' | 'logger' | 'config' | 'entropy' | 'metrics'>,
): Promise<{ file: SpanFile; sink: TelemetrySink }> {
  const { store, logger } = ctx;
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
  return { file, sink };
}
