// Traces over OTLP gRPC: a real gRPC server speaking the OTLP trace service (proto definitions in
// test/fixtures/otlp/) receives the real daemon's spans. The caller's W3C traceparent (and the seed's
// x-trace-id / x-span-id headers) is continued: same trace id, our span's parent is the caller's
// span, and the response answers with traceparent / x-trace-id / x-span-id. The journal fsync span of
// a request's group commit is a child of that request's span.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type DaemonHandle } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';

const PROTO_ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/otlp');

interface KeyValue {
  key: string;
  value: { string_value?: string; int_value?: string; bool_value?: boolean; double_value?: number; value?: string };
}
interface OtlpSpan {
  trace_id: Buffer;
  span_id: Buffer;
  parent_span_id: Buffer;
  name: string;
  kind: string;
  start_time_unix_nano: string;
  end_time_unix_nano: string;
  attributes: KeyValue[];
  links: Array<{ trace_id: Buffer; span_id: Buffer }>;
  status: { code: string; message: string } | null;
}
interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: string;
  attributes: Record<string, unknown>;
  status: string;
  resource: Record<string, unknown>;
  scope: string;
  start: bigint;
  end: bigint;
  links: Array<{ traceId: string; spanId: string }>;
}

function attrs(kvs: KeyValue[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of kvs ?? []) {
    const v = kv.value;
    out[kv.key] = v.string_value ?? (v.int_value !== undefined ? Number(v.int_value) : undefined) ?? v.bool_value ?? v.double_value;
  }
  return out;
}

/** A gRPC server implementing opentelemetry.proto.collector.trace.v1.TraceService/Export. */
async function startReceiver(): Promise<{ port: number; spans: ReceivedSpan[]; requests: number; close(): Promise<void> }> {
  const def = await protoLoader.load('opentelemetry/proto/collector/trace/v1/trace_service.proto', {
    includeDirs: [PROTO_ROOT],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    opentelemetry: { proto: { collector: { trace: { v1: { TraceService: grpc.ServiceClientConstructor } } } } };
  };
  const state = { spans: [] as ReceivedSpan[], requests: 0 };
  const server = new grpc.Server();
  server.addService(pkg.opentelemetry.proto.collector.trace.v1.TraceService.service, {
    Export: (
      call: grpc.ServerUnaryCall<
        { resource_spans: Array<{ resource: { attributes: KeyValue[] }; scope_spans: Array<{ scope: { name: string }; spans: OtlpSpan[] }> }> },
        unknown
      >,
      cb: grpc.sendUnaryData<unknown>,
    ) => {
      state.requests++;
      for (const rs of call.request.resource_spans) {
        const resource = attrs(rs.resource?.attributes);
        for (const ss of rs.scope_spans) {
          for (const s of ss.spans) {
            state.spans.push({
              traceId: Buffer.from(s.trace_id).toString('hex'),
              spanId: Buffer.from(s.span_id).toString('hex'),
              parentSpanId: Buffer.from(s.parent_span_id ?? []).toString('hex'),
              name: s.name,
              kind: s.kind,
              attributes: attrs(s.attributes),
              status: s.status?.code ?? 'STATUS_CODE_UNSET',
              resource,
              scope: ss.scope?.name ?? '',
              start: BigInt(s.start_time_unix_nano),
              end: BigInt(s.end_time_unix_nano),
              links: (s.links ?? []).map((l) => ({ traceId: Buffer.from(l.trace_id).toString('hex'), spanId: Buffer.from(l.span_id).toString('hex') })),
            });
          }
        }
      }
      cb(null, {});
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    port,
    spans: state.spans,
    get requests() {
      return state.requests;
    },
    close: () => new Promise<void>((r) => server.tryShutdown(() => r())),
  };
}

async function waitFor<T>(what: string, fn: () => T | undefined, timeoutMs = 15_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('OTLP gRPC export', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let daemon: DaemonHandle;
  let http: HttpClient;

  beforeAll(async () => {
    receiver = await startReceiver();
    daemon = await startDaemon({
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiver.port}`,
        OTEL_BSP_SCHEDULE_DELAY: '100',
        OTEL_SERVICE_NAME: undefined,
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: undefined,
      },
    });
    http = new HttpClient(daemon.url);
  });

  afterAll(async () => {
    http?.close();
    await daemon?.stop();
    await receiver?.close();
  });

  it("continues the caller's traceparent: same trace, caller span as parent, answered on the response", async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const callerSpan = '00f067aa0ba902b7';
    const res = await http.post(
      '/api/coordination/claim',
      { work_id: 'otlp_w1', agent_id: 'otlp_a1', work_type: 'bugfix', team: 'otel' },
      { traceparent: `00-${traceId}-${callerSpan}-01` },
    );
    expect(res.status).toBe(200);
    // The response carries our span in the caller's trace.
    const tp = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(String(res.headers.traceparent));
    expect(tp, String(res.headers.traceparent)).not.toBeNull();
    expect(tp![1]).toBe(traceId);
    const ourSpan = tp![2];
    expect(ourSpan).not.toBe(callerSpan);
    expect(res.headers['x-trace-id']).toBe(traceId);
    expect(res.headers['x-span-id']).toBe(ourSpan);
    expect(res.headers['x-parent-span-id']).toBe(callerSpan);
    // The claim record carries the same ids (legacy `telemetry` field).
    expect(res.body.claim.telemetry).toMatchObject({ trace_id: traceId, span_id: ourSpan });

    const claim = await waitFor('the claim span', () => receiver.spans.find((s) => s.spanId === ourSpan));
    expect(claim.traceId).toBe(traceId);
    expect(claim.parentSpanId).toBe(callerSpan);
    expect(claim.name).toBe('s2s.work.claim');
    expect(claim.kind).toBe('SPAN_KIND_SERVER');
    expect(claim.status).not.toBe('STATUS_CODE_ERROR');
    expect(claim.end > claim.start).toBe(true);
    expect(claim.attributes).toMatchObject({
      's2s.work_item_id': 'otlp_w1',
      's2s.agent_id': 'otlp_a1',
      's2s.work_type': 'bugfix',
      's2s.team': 'otel',
      's2s.status': 'success',
      'http.route': '/api/coordination/claim',
      'http.response.status_code': 200,
    });
    expect(typeof claim.attributes['s2s.revision']).toBe('number');
    expect(claim.resource['service.name']).toBe('ai-processor');
    expect(claim.resource['service.version']).toMatch(/^\d+\.\d+\.\d+/);
    expect(claim.scope).toBe('ai-processor');

    // The group commit that made the claim durable: one fsync span, a child of the claim's span.
    const fsync = await waitFor('the fsync span', () => receiver.spans.find((s) => s.name === 's2s.journal.fsync' && s.parentSpanId === ourSpan));
    expect(fsync.traceId).toBe(traceId);
    expect(fsync.kind).toBe('SPAN_KIND_INTERNAL');
    expect(Number(fsync.attributes['s2s.journal.lines'])).toBeGreaterThanOrEqual(1);
    expect(fsync.start >= claim.start && fsync.end <= claim.end).toBe(true);
  });

  it("accepts the seed's x-trace-id / x-span-id headers and answers them", async () => {
    const traceId = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
    const callerSpan = '1122334455667788';
    const res = await http.post('/api/agents', { agent_id: 'otlp_a2', team: 'otel' }, { 'x-trace-id': traceId, 'x-span-id': callerSpan });
    expect(res.status).toBe(201);
    expect(res.headers['x-trace-id']).toBe(traceId);
    const ourSpan = String(res.headers['x-span-id']);
    expect(ourSpan).toMatch(/^[0-9a-f]{16}$/);
    expect(res.headers.traceparent).toBe(`00-${traceId}-${ourSpan}-01`);
    const span = await waitFor('the register span', () => receiver.spans.find((s) => s.spanId === ourSpan));
    expect(span).toMatchObject({ traceId, parentSpanId: callerSpan, name: 's2s.agent.register' });
  });

  it('a trace id alone (seed header without a span) gives a root span in that trace', async () => {
    const traceId = '0000000000000000deadbeefcafef00d';
    const res = await http.post('/api/agents/otlp_a2/heartbeat', {}, { 'x-trace-id': 'deadbeefcafef00d' }); // 64-bit id, padded
    expect(res.status).toBe(200);
    expect(res.headers['x-trace-id']).toBe(traceId);
    const ourSpan = String(res.headers['x-span-id']);
    const span = await waitFor('the heartbeat span', () => receiver.spans.find((s) => s.spanId === ourSpan));
    expect(span).toMatchObject({ traceId, parentSpanId: '', name: 's2s.agent.heartbeat' });
  });

  it('without trace headers a new trace starts, and refusals are error spans', async () => {
    const res = await http.post('/api/coordination/claim', { work_id: 'otlp_w1', agent_id: 'otlp_other' });
    expect(res.status).toBe(409);
    const tp = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(String(res.headers.traceparent));
    expect(tp).not.toBeNull();
    expect(tp![1]).not.toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    const span = await waitFor('the refused claim span', () => receiver.spans.find((s) => s.spanId === tp![2]));
    expect(span).toMatchObject({ traceId: tp![1], parentSpanId: '', name: 's2s.work.claim', status: 'STATUS_CODE_ERROR' });
    expect(span.attributes).toMatchObject({ 's2s.status': 'conflict', 's2s.error': 'work_already_claimed', 'http.response.status_code': 409 });
  });

  it('a caller that does not sample (flag 00) gets no recorded span, but a traceparent back', async () => {
    const traceId = '11111111111111111111111111111111';
    const res = await http.post(
      '/api/coordination/progress',
      { work_id: 'otlp_w1', agent_id: 'otlp_a1', progress: 10 },
      { traceparent: `00-${traceId}-2222222222222222-00` },
    );
    expect(res.status).toBe(200);
    const tp = /^00-([0-9a-f]{32})-([0-9a-f]{16})-00$/.exec(String(res.headers.traceparent));
    expect(tp, String(res.headers.traceparent)).not.toBeNull();
    expect(tp![1]).toBe(traceId);
    // A sampled call made after it is exported; the unsampled one never is.
    const after = await http.post('/api/coordination/progress', { work_id: 'otlp_w1', agent_id: 'otlp_a1', progress: 20 });
    const afterSpan = /-([0-9a-f]{16})-01$/.exec(String(after.headers.traceparent))![1];
    await waitFor('the later span', () => receiver.spans.find((s) => s.spanId === afterSpan));
    expect(receiver.spans.some((s) => s.traceId === traceId)).toBe(false);
  });

  it('reads are recorded only when the caller sends a sampled trace context', async () => {
    const traceId = '33333333333333333333333333333333';
    const asked = await http.get('/api/work?limit=5', { traceparent: `00-${traceId}-4444444444444444-01` });
    expect(asked.status).toBe(200);
    const askedSpan = /-([0-9a-f]{16})-01$/.exec(String(asked.headers.traceparent))![1];
    const span = await waitFor('the read span', () => receiver.spans.find((s) => s.spanId === askedSpan));
    expect(span).toMatchObject({ traceId, parentSpanId: '4444444444444444', name: 'GET /api/work' });
    const plain = await http.get('/api/work?limit=5');
    expect(String(plain.headers.traceparent)).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
  });
});
