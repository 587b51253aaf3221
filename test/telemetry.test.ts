// telemetry_spans.jsonl, GET /api/telemetry/spans and WS /api/telemetry/stream with the real daemon on
// a copy of the original reference data: API calls append spans in the legacy line format (one line
// per span) while the original bytes, invalid fragments included, stay untouched; the stream and the
// endpoint see them; the telemetry entropy follows; a restart counts the same spans again (from the
// index, not a rescan). Plus the pure parts: trace context headers and the legacy line formatter.
import { appendFileSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { SpanKind, SpanStatusCode, ROOT_CONTEXT, trace, TraceFlags } from '@opentelemetry/api';
import { NodeTracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatLegacySpan, legacySpanValues, parseLegacySpans } from '../shared/legacy-spans.js';
import { TELEMETRY_STREAM_PATH, toWsUrl, type LegacySpan, type SpanMessage } from '../shared/protocol.js';
import { extractIncoming, parseTraceparent, responseHeaders } from '../daemon/observability/trace-context.js';
import { legacyLineFormatter, toLegacySpan } from '../daemon/observability/legacy-span-line.js';
import { ruleFor } from '../daemon/observability/route-rules.js';
import { SpanFile } from '../daemon/observability/span-file.js';
import { SpanRing } from '../daemon/observability/telemetry.js';
import { canonicalJson } from '../shared/canonical.js';
import { fieldValue } from '../shared/entropy.js';
import { REFERENCE, copyReference, startDaemon, tempDir, type DaemonHandle } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';
import { DAEMON_INTERNAL_SPANS } from '../shared/entropy.js';
import { wsText } from '../client/ws-text.js';

const ORIGINAL = readFileSync(path.join(REFERENCE, 'original/telemetry_spans.jsonl'));

async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('trace context headers', () => {
  it('parses W3C traceparent and refuses invalid ones', () => {
    expect(parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')).toEqual({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      sampled: true,
    });
    expect(parseTraceparent('00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-00')).toMatchObject({
      sampled: false,
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    });
    expect(parseTraceparent('00-00000000000000000000000000000000-00f067aa0ba902b7-01')).toBeNull(); // zero trace
    expect(parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01')).toBeNull(); // zero span
    expect(parseTraceparent('ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')).toBeNull(); // forbidden version
    expect(parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra')).toBeNull(); // v00 has 4 fields
    expect(parseTraceparent('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra')).not.toBeNull(); // future versions may add
    expect(parseTraceparent('00-xyz')).toBeNull();
  });

  it('falls back to the seed headers, padding 64-bit trace ids', () => {
    expect(extractIncoming({ 'x-trace-id': 'deadbeefcafef00d', 'x-span-id': '1122334455667788' })).toEqual({
      traceId: '0000000000000000deadbeefcafef00d',
      spanId: '1122334455667788',
      sampled: true,
      source: 'x-trace-id',
    });
    expect(extractIncoming({ 'x-trace-id': 'a'.repeat(32), 'x-parent-span-id': 'b'.repeat(16) })).toMatchObject({ spanId: 'b'.repeat(16) });
    expect(extractIncoming({ 'x-trace-id': 'not-hex' })).toBeNull();
    // A valid traceparent wins over the seed headers.
    expect(extractIncoming({ traceparent: `00-${'c'.repeat(32)}-${'d'.repeat(16)}-01`, 'x-trace-id': 'a'.repeat(32) })).toMatchObject({
      traceId: 'c'.repeat(32),
      source: 'traceparent',
    });
    expect(responseHeaders('c'.repeat(32), 'e'.repeat(16), true, 'd'.repeat(16))).toEqual({
      traceparent: `00-${'c'.repeat(32)}-${'e'.repeat(16)}-01`,
      'x-trace-id': 'c'.repeat(32),
      'x-span-id': 'e'.repeat(16),
      'x-parent-span-id': 'd'.repeat(16),
    });
  });

  it('names API operations like the legacy helper, and never traces the measuring endpoints', () => {
    expect(ruleFor('POST', '/api/coordination/claim')).toMatchObject({ name: 's2s.work.claim', record: 'always' });
    expect(ruleFor('POST', '/api/coordination/progress')).toMatchObject({ name: 's2s.work.progress' });
    expect(ruleFor('POST', '/api/coordination/complete')).toMatchObject({ name: 's2s.work.complete' });
    expect(ruleFor('POST', '/api/agents/:agent_id/heartbeat')).toMatchObject({ name: 's2s.agent.heartbeat' });
    expect(ruleFor('GET', '/api/work')).toMatchObject({ record: 'asked' });
    for (const r of ['/metrics', '/health', '/api/telemetry/spans', '/api/entropy', '/api/entropy/baseline', '/api/coordination/stream'])
      expect(ruleFor('GET', r).record).toBe('never');
    expect(ruleFor('POST', '/api/entropy/baseline').record).toBe('never');
  });
});

describe('legacy line format of SDK spans', () => {
  it('legacyLineFormatter gives exactly formatLegacySpan(toLegacySpan(span))', async () => {
    const ended: ReadableSpan[] = [];
    const provider = new NodeTracerProvider({
      spanProcessors: [{ onStart() {}, onEnd: (s: ReadableSpan) => void ended.push(s), forceFlush: async () => {}, shutdown: async () => {} }],
    });
    const tracer = provider.getTracer('t');
    const parent = trace.setSpanContext(ROOT_CONTEXT, { traceId: 'ab'.repeat(16), spanId: 'cd'.repeat(8), traceFlags: TraceFlags.SAMPLED, isRemote: true });
    const a = tracer.startSpan(
      's2s.work.claim',
      { kind: SpanKind.SERVER, attributes: { 's2s.work_item_id': 'w "quoted"\n', 's2s.revision': 7, 's2s.conflict': false } },
      parent,
    );
    a.setStatus({ code: SpanStatusCode.ERROR, message: 'work_already_claimed' });
    a.end();
    tracer.startSpan('s2s.journal.fsync', { attributes: {} }, ROOT_CONTEXT).end();
    const service = { name: 'ai-processor', version: '9.9.9' };
    const resource = { 'service.name': 'ai-processor', 's2s.component': 'ai-processor' };
    const format = legacyLineFormatter(service, resource);
    for (const s of ended) {
      const legacy = toLegacySpan(s, service, resource);
      const line = format(s);
      expect(line).toBe(formatLegacySpan(legacy));
      expect(JSON.parse(line)).toEqual(legacy);
      expect(line).not.toContain('\n');
    }
    expect(toLegacySpan(ended[0], service, resource)).toMatchObject({
      parent_span_id: 'cd'.repeat(8),
      span_kind: 'server',
      status: 'error',
      trace_id: 'ab'.repeat(16),
    });
    expect(toLegacySpan(ended[1], service, resource)).toMatchObject({ parent_span_id: '', span_kind: 'internal', status: 'ok' });
    expect(toLegacySpan(ended[0], service, resource).start_time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    await provider.shutdown();
  });
});

describe('SpanRing', () => {
  it('always holds the most recent spans, in order, through many wraps of its byte buffer', () => {
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    for (const [entries, bytes] of [
      [50, 4000],
      [10, 100_000],
      [1000, 20_000],
    ]) {
      const ring = new SpanRing(entries, bytes);
      const pushed: string[] = [];
      let minKept = Infinity;
      for (let i = 0; i < 5000; i++) {
        const s = JSON.stringify({ i, pad: 'é'.repeat(Math.floor(rnd() * 150)) }); // multi-byte too
        ring.push(s);
        pushed.push(s);
        const got = ring.recentText(entries);
        expect(got).toEqual(pushed.slice(-got.length));
        minKept = Math.min(minKept, got.length);
      }
      expect(minKept).toBeGreaterThan(0);
      expect(ring.recent(3)).toEqual(pushed.slice(-3).map((s) => JSON.parse(s)));
      expect(ring.recent(5, (s) => (s.i as number) % 2 === 0).every((s) => (s.i as number) % 2 === 0)).toBe(true);
    }
  });
});

describe('SpanFile: counting, the startup index, appends', () => {
  const quietLogger = { info() {}, warn() {} };
  /** (operation, status) value pairs of the spans, as the entropy sees them, counted. */
  const pairsOf = (records: Array<Record<string, unknown>>) => {
    const m = new Map<string, number>();
    for (const r of records) {
      const k = canonicalJson(fieldValue('spans', r as never, 'operation')) + '|' + canonicalJson(fieldValue('spans', r as never, 'status'));
      m.set(k, (m.get(k) ?? 0) + 1);
    }
    return m;
  };
  const pairsOfCounts = (counts: Array<{ record: Record<string, unknown>; count: number }>) => {
    const m = new Map<string, number>();
    for (const { record, count } of counts) {
      const k = canonicalJson(fieldValue('spans', record as never, 'operation')) + '|' + canonicalJson(fieldValue('spans', record as never, 'status'));
      m.set(k, (m.get(k) ?? 0) + count);
    }
    return m;
  };

  it('counts the legacy file (invalid fragments and all) like a whole-file parse, in small chunks too', async () => {
    const dir = tempDir('aip-spanfile-');
    const file = path.join(dir, 'telemetry_spans.jsonl');
    copyFileSync(path.join(REFERENCE, 'legacy/telemetry_spans.jsonl'), file);
    const expected = legacySpanValues(parseLegacySpans(readFileSync(file, 'utf8')));
    expect(expected.length).toBeGreaterThan(800);
    for (const chunkBytes of [4096, 64 * 1024, undefined]) {
      const sf = new SpanFile({ file, indexFile: path.join(dir, `index-${chunkBytes}.json`), logger: quietLogger, chunkBytes });
      const opened = await sf.open(50);
      expect(pairsOfCounts(opened.counts)).toEqual(pairsOf(expected));
      expect(opened.recent).toEqual(expected.slice(-50));
      expect(opened.indexed).toBe(false);
      await sf.close();
    }
  });

  it('reuses its index on the next open, appends lines, and rescans when the file was replaced', async () => {
    const dir = tempDir('aip-spanfile-');
    const file = path.join(dir, 'telemetry_spans.jsonl');
    const indexFile = path.join(dir, 'index.json');
    copyFileSync(path.join(REFERENCE, 'original/telemetry_spans.jsonl'), file);
    const first = new SpanFile({ file, indexFile, logger: quietLogger });
    expect((await first.open(10)).counts.reduce((n, c) => n + c.count, 0)).toBe(22);
    const line = formatLegacySpan({
      trace_id: 'a'.repeat(32),
      span_id: 'b'.repeat(16),
      parent_span_id: '',
      operation_name: 's2s.work.claim',
      span_kind: 'server',
      status: 'ok',
      start_time: '2026-01-01T00:00:00.000000Z',
      duration_ms: 1,
    });
    expect(first.append(line, 's2s.work.claim', 'ok')).toBe(true);
    await first.close();
    expect(readFileSync(file).subarray(0, ORIGINAL.length).equals(ORIGINAL)).toBe(true);
    expect(readFileSync(file, 'utf8').endsWith('\n' + line + '\n')).toBe(true);
    expect(first.append(line, 's2s.work.claim', 'ok')).toBe(false); // closed

    const second = new SpanFile({ file, indexFile, logger: quietLogger });
    const again = await second.open(10);
    expect(again).toMatchObject({ indexed: true, scannedBytes: 0 });
    expect(pairsOfCounts(again.counts)).toEqual(pairsOf(legacySpanValues(parseLegacySpans(readFileSync(file, 'utf8')))));
    expect(again.recent[again.recent.length - 1]).toMatchObject({ span_id: 'b'.repeat(16) });
    await second.close();

    // A different file under the same name (rotation): the index does not match, everything is counted anew.
    writeFileSync(file, line + '\n');
    const third = new SpanFile({ file, indexFile, logger: quietLogger });
    const fresh = await third.open(10);
    expect(fresh.indexed).toBe(false);
    expect(fresh.counts).toEqual([{ record: { operation_name: 's2s.work.claim', status: 'ok' }, count: 1 }]);
    await third.close();
  });
});

describe('telemetry_spans.jsonl, the spans endpoint and the stream', () => {
  let dataDir: string;
  let file: string;
  let daemon: DaemonHandle;
  let http: HttpClient;
  let ws: WebSocket;
  const streamed: LegacySpan[] = [];
  const T = '5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a';
  const P = '7b7b7b7b7b7b7b7b';
  const tp = { traceparent: `00-${T}-${P}-01` };

  const spansInFile = () => legacySpanValues(parseLegacySpans(readFileSync(file, 'utf8')));
  const entropyNow = async () => (await http.get('/api/entropy')).body as { counts: { spans: number }; entropy: { components: { telemetry: number } } };
  /** Waits until the span count stops moving (legacy writes and fsyncs trail the requests). */
  const quiescent = async (): Promise<number> => {
    let last = -1;
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setTimeout(r, 300));
      const n = (await entropyNow()).counts.spans;
      if (n === last && spansInFile().length === n) return n;
      last = n;
    }
    throw new Error('span count never settled');
  };

  beforeAll(async () => {
    dataDir = copyReference('original');
    file = path.join(dataDir, 'telemetry_spans.jsonl');
    daemon = await startDaemon({ dataDir });
    http = new HttpClient(daemon.url);
  });

  afterAll(async () => {
    ws?.close();
    http?.close();
    await daemon?.stop();
  });

  it("starts with the file's spans: the ring is filled from it and the entropy counts them", async () => {
    const original = legacySpanValues(parseLegacySpans(ORIGINAL.toString('utf8')));
    expect(original).toHaveLength(22); // 27 records, 5 of them invalid JSON
    const res = await http.get('/api/telemetry/spans?limit=100');
    expect(res.status).toBe(200);
    expect(res.body.spans).toEqual(original);
    const e = await entropyNow();
    expect(e.counts.spans).toBe(22);
    expect(e.entropy.components.telemetry).toBeGreaterThan(0);
    // No OTLP endpoint configured: no exporter, and nothing about one in the log.
    expect(daemon.logs.some((l) => /opentelemetry|OTLP/i.test(l))).toBe(false);
  });

  it('reading telemetry or entropy adds no spans (measuring does not change what it measures)', async () => {
    for (let i = 0; i < 5; i++) {
      await http.get('/api/telemetry/spans?limit=1');
      await http.get('/api/entropy');
      await http.get('/metrics');
    }
    // A marker after the reads: a read the caller asks to trace is recorded. Once its span is in the
    // ring and the file, the reads before it have been through the same pipeline.
    const M = '6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c6c';
    const marker = await http.get('/api/coordination/status', { traceparent: `00-${M}-${P}-01` });
    expect(marker.status).toBe(200);
    await waitFor('the marker span in the ring', async () => ((await http.get(`/api/telemetry/spans?trace_id=${M}`)).body.spans.length ? true : undefined));
    await waitFor('the marker span in the file', () => (readFileSync(file, 'utf8').includes(M) ? true : undefined));
    await waitFor('the marker span counted', async () => ((await entropyNow()).counts.spans >= 23 ? true : undefined));
    // Only the marker was added: the reads left no span behind.
    expect((await entropyNow()).counts.spans).toBe(23);
    const bytes = readFileSync(file);
    expect(bytes.subarray(0, ORIGINAL.length).equals(ORIGINAL)).toBe(true);
    const added = legacySpanValues(parseLegacySpans(bytes.subarray(ORIGINAL.length).toString('utf8')));
    expect(added.map((sp) => sp.trace_id)).toEqual([M]);
  });

  it('API calls produce spans: appended to the file in the legacy line format, streamed, listed', async () => {
    ws = new WebSocket(toWsUrl(daemon.url, TELEMETRY_STREAM_PATH));
    ws.on('message', (raw) => {
      const m = JSON.parse(wsText(raw)) as SpanMessage;
      if (m.type === 'span') streamed.push(m.span);
    });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));

    expect((await http.post('/api/agents', { agent_id: 'tel_a1', team: 'tel' }, tp)).status).toBe(201);
    const claim = await http.post('/api/coordination/claim', { work_id: 'tel_w1', agent_id: 'tel_a1', work_type: 'docs', priority: 'high', team: 'tel' }, tp);
    expect(claim.status).toBe(200);
    const claimSpanId = String(claim.headers['x-span-id']);
    expect((await http.post('/api/coordination/progress', { work_id: 'tel_w1', agent_id: 'tel_a1', progress: 40, status: 'in_progress' }, tp)).status).toBe(
      200,
    );
    expect((await http.post('/api/coordination/complete', { work_id: 'tel_w1', agent_id: 'tel_a1', result: 'done' }, tp)).status).toBe(200);
    expect((await http.post('/api/agents/tel_a1/heartbeat', {}, tp)).status).toBe(200);
    expect((await http.post('/api/coordination/claim', { work_id: 'tel_w2', agent_id: 'tel_a1' }, tp)).status).toBe(200);
    expect((await http.post('/api/coordination/claim', { work_id: 'tel_w2', agent_id: 'tel_a2' }, tp)).status).toBe(409);
    expect((await http.post('/api/coordination/release', { work_id: 'tel_w2', agent_id: 'tel_a1', reason: 'test' }, tp)).status).toBe(200);

    // GET /api/telemetry/spans by trace id: our eight API spans, in order, each a child of the caller.
    const ours = await waitFor('the spans of the trace', async () => {
      const r = await http.get(`/api/telemetry/spans?limit=1000&trace_id=${T}`);
      const server = (r.body.spans as LegacySpan[]).filter((s) => s.span_kind === 'server');
      return server.length >= 8 ? (r.body.spans as LegacySpan[]) : undefined;
    });
    const server = ours.filter((s) => s.span_kind === 'server');
    expect(server.map((s) => s.operation_name)).toEqual([
      's2s.agent.register',
      's2s.work.claim',
      's2s.work.progress',
      's2s.work.complete',
      's2s.agent.heartbeat',
      's2s.work.claim',
      's2s.work.claim',
      's2s.work.release',
    ]);
    expect(server.every((s) => s.parent_span_id === P && s.trace_id === T)).toBe(true);
    const claimSpan = server[1];
    expect(claimSpan).toMatchObject({ span_id: claimSpanId, status: 'ok', service: { name: 'ai-processor' } });
    expect(claimSpan.span_attributes).toMatchObject({
      's2s.work_item_id': 'tel_w1',
      's2s.agent_id': 'tel_a1',
      's2s.work_type': 'docs',
      's2s.priority': 'high',
      's2s.team': 'tel',
      's2s.operation': 'work_claim',
      's2s.status': 'success',
    });
    expect(server[2].span_attributes).toMatchObject({ 's2s.progress_percent': 40, 's2s.operation': 'progress_update' });
    expect(server[6]).toMatchObject({ status: 'error', span_attributes: { 's2s.status': 'conflict', 's2s.error': 'work_already_claimed' } });
    // The journal fsyncs of those changes sit inside the same trace, under the request spans.
    const fsyncs = ours.filter((s) => s.operation_name === 's2s.journal.fsync');
    expect(fsyncs.length).toBeGreaterThan(0);
    expect(fsyncs.every((s) => server.some((p) => p.span_id === s.parent_span_id))).toBe(true);

    // The stream carried them too.
    await waitFor('streamed claim span', () => streamed.find((s) => s.span_id === claimSpanId));
    const streamedServer = await waitFor('all eight streamed', () => {
      const got = streamed.filter((s) => s.trace_id === T && s.span_kind === 'server');
      return got.length >= 8 ? got : undefined;
    });
    expect(streamedServer.map((s) => s.span_id)).toEqual(server.map((s) => s.span_id));

    // The file: the original bytes untouched, then one JSON object per line in the legacy format.
    // Every server span of the trace is in the file before it is read (internal spans are not written by default).
    await waitFor("the trace's server spans in the file", () => {
      const text = readFileSync(file, 'utf8');
      return server.every((s) => text.includes(s.span_id)) ? true : undefined;
    });
    const bytes = readFileSync(file);
    expect(bytes.subarray(0, ORIGINAL.length).equals(ORIGINAL)).toBe(true);
    const added = bytes.subarray(ORIGINAL.length).toString('utf8');
    const lines = added.split('\n');
    expect(lines.pop()).toBe(''); // ends with a newline
    for (const line of lines) {
      const value = JSON.parse(line);
      expect(formatLegacySpan(value)).toBe(line);
      expect(Object.keys(value).slice(0, 8)).toEqual([
        'trace_id',
        'span_id',
        'parent_span_id',
        'operation_name',
        'span_kind',
        'status',
        'start_time',
        'duration_ms',
      ]);
    }
    expect(parseLegacySpans(added).segments.every((s) => s.kind === 'span')).toBe(true);
    const ops = new Set(lines.map((l) => JSON.parse(l).operation_name));
    for (const op of ['s2s.agent.register', 's2s.work.claim', 's2s.work.progress', 's2s.work.complete', 's2s.agent.heartbeat', 's2s.work.release'])
      expect(ops).toContain(op);
    // The daemon's own steps are listed and streamed (above) but not written: not fleet telemetry.
    for (const op of ['s2s.journal.fsync', 's2s.legacy.write']) expect(ops).not.toContain(op);
  });

  it('the telemetry entropy follows the file, and the endpoint pages', async () => {
    const n = await quiescent();
    expect(n).toBe(22 + 1 + 8); // the file's, the traced marker read, the fleet's eight operations; the daemon's own steps are not telemetry
    expect(spansInFile()).toHaveLength(n);
    const last3 = (await http.get('/api/telemetry/spans?limit=3')).body.spans as LegacySpan[];
    expect(last3).toHaveLength(3);
    const listed = (await http.get('/api/telemetry/spans?limit=1000')).body.spans as LegacySpan[];
    expect(last3).toEqual(listed.slice(-3));
    // The list also shows the daemon's own steps; without them it ends as the file does.
    expect(listed.filter((s) => !DAEMON_INTERNAL_SPANS.has(s.operation_name)).slice(-3)).toEqual(spansInFile().slice(-3));
    expect((await http.get('/api/telemetry/spans?limit=abc')).status).toBe(400);
    expect((await http.get('/api/telemetry/spans?operation=s2s.work.complete')).body.spans).toHaveLength(1);
  });

  it('spans other writers append are picked up, and a missing final newline is repaired before ours', async () => {
    const before = await quiescent();
    // A legacy-helper style record: pretty-printed, and the writer did not end it with a newline.
    const external = JSON.stringify(
      {
        trace_id: 'e'.repeat(32),
        span_id: 'f'.repeat(16),
        parent_span_id: '',
        operation_name: 's2s.work.synthetic',
        span_kind: 'internal',
        status: 'ok',
        start_time: '2025-06-16T08:06:12.6042Z',
        duration_ms: 5,
      },
      null,
      2,
    );
    appendFileSync(file, external);
    const res = await http.post('/api/coordination/claim', { work_id: 'tel_w3', agent_id: 'tel_a1' }, tp);
    expect(res.status).toBe(200);
    const found = await waitFor('the external span', async () => {
      const r = await http.get('/api/telemetry/spans?operation=s2s.work.synthetic');
      return r.body.spans.length ? r.body.spans : undefined;
    });
    expect(found[0]).toMatchObject({ span_id: 'f'.repeat(16) });
    await waitFor('streamed external span', () => streamed.find((s) => s.span_id === 'f'.repeat(16)));
    await waitFor('our next span in the file', () => (readFileSync(file, 'utf8').includes(String(res.headers['x-span-id'])) ? true : undefined));
    const text = readFileSync(file, 'utf8');
    expect(text).toContain(external + '\n{"trace_id":'); // their bytes intact, ours on the next line
    const after = await quiescent();
    expect(after).toBeGreaterThanOrEqual(before + 2);
    expect(spansInFile()).toHaveLength(after);
    expect(readFileSync(file).subarray(0, ORIGINAL.length).equals(ORIGINAL)).toBe(true);
  });

  it('a restart counts the same spans (from the index) with the same telemetry entropy', async () => {
    ws.close();
    await quiescent();
    const before = await entropyNow();
    await daemon.stop();
    const inFile = spansInFile().length;
    expect(inFile).toBe(before.counts.spans); // quiescent before the stop: nothing lost, nothing added
    daemon = await startDaemon({ dataDir });
    http.close();
    http = new HttpClient(daemon.url);
    const loaded = daemon.logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'telemetry spans loaded');
    expect(loaded).toMatchObject({ spans: inFile, indexed: true });
    expect(loaded.scanned_bytes).toBeLessThan(4096); // only what was written after the index (shutdown spans)
    const after = await entropyNow();
    expect(after.counts.spans).toBe(inFile);
    expect(after.entropy.components.telemetry).toBeCloseTo(before.entropy.components.telemetry, 12);
    expect(readFileSync(file).subarray(0, ORIGINAL.length).equals(ORIGINAL)).toBe(true);
  });
});
