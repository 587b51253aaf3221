// Claude Code's own telemetry: OTLP metrics sent by the real OpenTelemetry JS SDK exporters (JSON and
// protobuf, delta and cumulative) to a real daemon, under the claude_code.* names with session.id;
// the session's agent, /api/stats and /metrics read back after each flush.
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MeterProvider, PeriodicExportingMetricReader, InMemoryMetricExporter, AggregationTemporality } from '@opentelemetry/sdk-metrics';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ValueType } from '@opentelemetry/api';
import { OTLPMetricExporter as JsonExporter, AggregationTemporalityPreference } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { JsonMetricsSerializer, ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import WebSocket from 'ws';
import { STREAM_PATH, toWsUrl, type EventMessage, type ServerMessage } from '../shared/protocol.js';
import { contribution, type Usage } from '../shared/claude-code/usage.js';
import type { UsagePoint } from '../shared/claude-code/otlp-points.js';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, loadConfig } from '../daemon/config.js';
import { startDaemon, tempDir, type DaemonHandle } from './helpers/daemon.js';
import { HttpClient, postAnnouncingBody } from './helpers/http.js';
import { wsText } from '../client/ws-text.js';
import { sessionIds } from './helpers/claude-code.js';

const TOKEN = 'otlp-test-token';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const TEAM = 'autonomous_team'; // the team of an agent nobody assigned

const newSession = sessionIds('0e1e0000');

/** A meter provider whose reader exports only when flushed (no timer in the way of the assertions). */
function sdk(exporter: ConstructorParameters<typeof PeriodicExportingMetricReader>[0]['exporter'], session: string) {
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ resource: resourceFromAttributes({ 'service.name': 'claude-code', 'session.id': session }), readers: [reader] });
  const meter = provider.getMeter('com.anthropic.claude_code');
  return {
    provider,
    cost: meter.createCounter('claude_code.cost.usage', { unit: 'USD' }),
    tokens: meter.createCounter('claude_code.token.usage', { unit: 'tokens' }),
    active: meter.createCounter('claude_code.active_time.total', { unit: 's' }),
    lines: meter.createCounter('claude_code.lines_of_code.count', { valueType: ValueType.INT }), // asInt: int64 as a string (JSON) or sfixed64 (protobuf)
    commits: meter.createCounter('claude_code.commit.count', { valueType: ValueType.INT }),
    prs: meter.createCounter('claude_code.pull_request.count'),
  };
}

async function agentOf(c: HttpClient, session: string) {
  const res = await c.get(`/api/agents/cc_${session}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.agent as { source?: string; session_id?: string; telemetry_at?: string; over_budget?: boolean; usage: Usage };
}

async function metricValue(c: HttpClient, line: string): Promise<number> {
  const res = await c.get('/metrics');
  expect(res.status).toBe(200);
  const found = String(res.body)
    .split('\n')
    .find((l) => l.startsWith(line + ' '));
  return found ? Number(found.slice(line.length + 1)) : NaN;
}

describe('OTLP/HTTP telemetry intake', () => {
  let d: DaemonHandle;
  let c: HttpClient;
  beforeAll(async () => {
    d = await startDaemon({ env: { AI_PROCESSOR_TOKEN: TOKEN, AI_PROCESSOR_BUDGET_USD_PER_TEAM_DAY: '10' }, args: ['--budget-usd-per-agent', '5'] });
    c = new HttpClient(d.url, AUTH);
  });
  afterAll(async () => {
    c.close();
    expect(await d.stop()).toBe(0);
  });

  it("sums delta exports of the JSON exporter onto the session's agent, created by telemetry alone", async () => {
    const session = newSession();
    const exporter = new JsonExporter({ url: `${d.url}/v1/metrics`, headers: AUTH, temporalityPreference: AggregationTemporalityPreference.DELTA });
    const s = sdk(exporter, session);
    const attrs = { 'session.id': session, model: 'claude-sonnet-4-5', 'user.id': 'u1' };
    s.cost.add(0.25, attrs);
    s.tokens.add(1000, { ...attrs, type: 'input' });
    s.tokens.add(200, { ...attrs, type: 'output' });
    s.tokens.add(5000, { ...attrs, type: 'cacheRead' });
    s.active.add(12.5, { 'session.id': session, type: 'user' });
    s.lines.add(40, { 'session.id': session, type: 'added' });
    s.lines.add(7, { 'session.id': session, type: 'removed' });
    s.commits.add(1, { 'session.id': session });
    await s.provider.forceFlush();
    let agent = await agentOf(c, session);
    expect(agent.source).toBe('claude-code');
    expect(agent.session_id).toBe(session);
    expect(agent.usage).toEqual({
      cost_usd: 0.25,
      tokens: { input: 1000, output: 200, cache_read: 5000, cache_creation: 0 },
      active_s: 12.5,
      lines_added: 40,
      lines_removed: 7,
      commits: 1,
      pull_requests: 0,
    });

    // A second interval adds to the first (delta points add).
    s.cost.add(0.5, attrs);
    s.tokens.add(300, { ...attrs, type: 'input' });
    s.tokens.add(64, { ...attrs, type: 'cacheCreation' });
    s.prs.add(1, { 'session.id': session });
    await s.provider.forceFlush();
    agent = await agentOf(c, session);
    expect(agent.usage.cost_usd).toBeCloseTo(0.75, 9);
    expect(agent.usage.tokens).toEqual({ input: 1300, output: 200, cache_read: 5000, cache_creation: 64 });
    expect(agent.usage.pull_requests).toBe(1);
    await s.provider.shutdown();
  });

  it('telemetry and hooks write the same agent: each keeps what the other wrote', async () => {
    const session = newSession();
    const hook = (event: string) =>
      c.post('/api/hooks/claude-code', {
        session_id: session,
        hook_event_name: event,
        cwd: '/tmp',
        transcript_path: '/tmp/t.jsonl',
        model: 'claude-sonnet-4-5',
      });
    expect((await hook('SessionStart')).status).toBe(200);
    const s = sdk(new JsonExporter({ url: `${d.url}/v1/metrics`, headers: AUTH }), session);
    s.tokens.add(77, { 'session.id': session, type: 'output' });
    await s.provider.forceFlush();
    expect((await hook('UserPromptSubmit')).status).toBe(200);
    const agent = await agentOf(c, session);
    expect(agent).toMatchObject({ status: 'working', model: 'claude-sonnet-4-5', cwd: '/tmp', last_event: 'UserPromptSubmit' });
    expect(agent.usage.tokens.output).toBe(77);
    await s.provider.shutdown();
  });

  it('counts a cumulative series of the protobuf exporter (gzip) by its latest value, not the sum of its exports', async () => {
    const session = newSession();
    const before = await metricValue(c, `claude_code_tokens_total{team="${TEAM}",type="output"}`);
    const exporter = new ProtoExporter({
      url: `${d.url}/v1/metrics`,
      headers: AUTH,
      compression: 'gzip' as never,
      temporalityPreference: AggregationTemporalityPreference.CUMULATIVE,
    });
    const s = sdk(exporter, session);
    const attrs = { 'session.id': session, model: 'claude-opus-4-1' };
    s.cost.add(1.5, attrs);
    s.tokens.add(400, { ...attrs, type: 'output' });
    s.commits.add(2, { 'session.id': session });
    s.lines.add(30, { 'session.id': session, type: 'added' });
    await s.provider.forceFlush();
    expect((await agentOf(c, session)).usage).toMatchObject({ tokens: { output: 400 }, commits: 2, lines_added: 30 });
    s.lines.add(5, { 'session.id': session, type: 'added' });
    s.cost.add(0.5, attrs);
    s.tokens.add(100, { ...attrs, type: 'output' });
    await s.provider.forceFlush(); // exports 2.0 and 500: the whole series so far
    const agent = await agentOf(c, session);
    expect(agent.usage.cost_usd).toBeCloseTo(2, 9);
    expect(agent.usage.tokens.output).toBe(500);
    expect(agent.usage).toMatchObject({ commits: 2, lines_added: 35 });
    // A flush with nothing new re-exports the same cumulative values: still 500.
    await s.provider.forceFlush();
    expect((await agentOf(c, session)).usage.tokens.output).toBe(500);
    expect(await metricValue(c, `claude_code_tokens_total{team="${TEAM}",type="output"}`)).toBe((Number.isNaN(before) ? 0 : before) + 500);
    await s.provider.shutdown();
  });

  describe('a retried export', () => {
    for (const [encoding, serializer, type] of [
      ['json', JsonMetricsSerializer, 'application/json'],
      ['protobuf', ProtobufMetricsSerializer, 'application/x-protobuf'],
    ] as const) {
      for (const temporality of [AggregationTemporality.DELTA, AggregationTemporality.CUMULATIVE]) {
        it(`is not counted twice (${encoding}, ${temporality === AggregationTemporality.DELTA ? 'delta' : 'cumulative'})`, async () => {
          const session = newSession();
          const memory = new InMemoryMetricExporter(temporality);
          const s = sdk(memory, session);
          s.cost.add(0.125, { 'session.id': session });
          s.tokens.add(42, { 'session.id': session, type: 'input' });
          await s.provider.forceFlush();
          const exported = memory.getMetrics();
          expect(exported.length).toBe(1);
          const body = Buffer.from(serializer.serializeRequest(exported[0]) as Uint8Array);
          const dupBefore = await metricValue(c, 'otlp_data_points_total{outcome="duplicate"}');
          for (let i = 0; i < 2; i++) {
            const res = await c.request('POST', '/v1/metrics', undefined, { 'content-type': type }, body);
            expect(res.status).toBe(200);
            expect(res.headers['content-type']).toContain(type);
          }
          const agent = await agentOf(c, session);
          expect(agent.usage.cost_usd).toBe(0.125);
          expect(agent.usage.tokens.input).toBe(42);
          expect(await metricValue(c, 'otlp_data_points_total{outcome="duplicate"}')).toBe(dupBefore + 2);
          await s.provider.shutdown();
        });
      }
    }
  });

  it('answers partial_success for points it cannot take, and counts the others', async () => {
    const session = newSession();
    const now = `${Date.now()}000000`;
    const point = (attrs: Array<{ key: string; value: { stringValue: string } }>, asDouble: number) => ({
      attributes: attrs,
      startTimeUnixNano: now,
      timeUnixNano: now,
      asDouble,
    });
    const body = {
      resourceMetrics: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'claude-code' } }] },
          scopeMetrics: [
            {
              scope: { name: 'com.anthropic.claude_code' },
              metrics: [
                {
                  name: 'claude_code.cost.usage',
                  sum: {
                    aggregationTemporality: 1,
                    isMonotonic: true,
                    dataPoints: [
                      point([{ key: 'session.id', value: { stringValue: session } }], 0.3),
                      point([], 9), // no session: rejected
                    ],
                  },
                },
                {
                  name: 'claude_code.token.usage',
                  sum: {
                    aggregationTemporality: 1,
                    isMonotonic: true,
                    dataPoints: [
                      // A year ahead: taken, it would make every later point of the series look like a replay.
                      {
                        ...point(
                          [
                            { key: 'session.id', value: { stringValue: session } },
                            { key: 'type', value: { stringValue: 'input' } },
                          ],
                          5,
                        ),
                        timeUnixNano: `${Date.now() + 365 * 86_400_000}000000`,
                      },
                    ],
                  },
                },
                { name: 'claude_code.session.count', sum: { aggregationTemporality: 1, isMonotonic: true, dataPoints: [point([], 1)] } },
              ],
            },
          ],
        },
      ],
    };
    const res = await c.request('POST', '/v1/metrics', undefined, { 'content-type': 'application/json; charset=utf-8' }, JSON.stringify(body));
    expect(res.status).toBe(200);
    expect(res.body.partialSuccess.rejectedDataPoints).toBe('2');
    expect(res.body.partialSuccess.errorMessage).toMatch(/session\.id/);
    expect(res.body.partialSuccess.errorMessage).toMatch(/ahead of the daemon's clock/);
    const agent = await agentOf(c, session);
    expect(agent.usage.cost_usd).toBe(0.3);
    expect(agent.usage.tokens.input).toBe(0);
  });

  it('refuses bad input with a 4xx and changes nothing', async () => {
    const revision = (await c.get('/api/stats')).body.revision;
    const garbage = Buffer.from([0xff, 0xff, 0xff, 0x0f, 0x01, 0x02]);
    const cases: Array<[string, Record<string, string>, string | Buffer, number]> = [
      ['/v1/metrics', { 'content-type': 'application/json' }, '{not json', 400],
      ['/v1/metrics', { 'content-type': 'application/json' }, '[1,2]', 400],
      ['/v1/metrics', { 'content-type': 'application/x-protobuf' }, garbage, 400],
      ['/v1/metrics', { 'content-type': 'application/json', 'content-encoding': 'gzip' }, 'not gzip', 400],
      ['/v1/metrics', { 'content-type': 'application/json', 'content-encoding': 'br' }, '{}', 415],
      ['/v1/metrics', { 'content-type': 'text/plain' }, 'claude_code.cost.usage 1', 415],
      ['/v1/logs', { 'content-type': 'application/x-protobuf' }, garbage, 400],
      ['/v1/metrics', { 'content-type': 'application/x-protobuf' }, Buffer.alloc(5 * 1024 * 1024, 0x0a), 413],
    ];
    for (const [path, headers, body, status] of cases) {
      // The oversized body is refused before it is read (by its content-length): asked as a client
      // uploading that much should ask, so the answer is not lost to the close that follows it.
      const res =
        typeof body !== 'string' && body.length > 4 * 1024 * 1024
          ? await postAnnouncingBody(d.url, path, { ...headers, ...AUTH }, body.length)
          : await c.request('POST', path, undefined, headers, body);
      expect(res.status, `${path} ${JSON.stringify(headers)}: ${JSON.stringify(res.body)}`).toBe(status);
      expect(res.body).toEqual({ error: expect.any(String), message: expect.any(String) });
    }
    const noToken = new HttpClient(d.url);
    const res = await noToken.request('POST', '/v1/metrics', undefined, { 'content-type': 'application/json' }, gzipSync('{}'));
    noToken.close();
    expect(res.status).toBe(401);
    expect((await c.get('/api/stats')).body.revision).toBe(revision);
  });

  it('totals usage per team and for the fleet in /api/stats, and marks an agent over its budget', async () => {
    const session = newSession();
    const exporter = new JsonExporter({ url: `${d.url}/v1/metrics`, headers: AUTH });
    const s = sdk(exporter, session);
    const before = (await c.get('/api/stats')).body.usage;
    s.cost.add(6, { 'session.id': session }); // over the 5 USD budget of the daemon
    s.tokens.add(10, { 'session.id': session, type: 'input' });
    await s.provider.forceFlush();
    const after = (await c.get('/api/stats')).body.usage;
    expect(after.fleet.cost_usd).toBeCloseTo(before.fleet.cost_usd + 6, 9);
    expect(after.fleet.cost_today_usd).toBeCloseTo(before.fleet.cost_today_usd + 6, 9);
    expect(after.fleet.tokens.input).toBe(before.fleet.tokens.input + 10);
    expect(after.fleet.sessions).toBe(before.fleet.sessions + 1);
    expect(after.teams[TEAM].cost_usd).toBeCloseTo(after.fleet.cost_usd, 9);
    expect(after.over_budget).toBe(before.over_budget + 1);
    expect((await agentOf(c, session)).over_budget).toBe(true);
    expect(await metricValue(c, 'claude_code_over_budget{scope="agent"}')).toBe(after.over_budget);
    expect(await metricValue(c, `claude_code_cost_usd_total{team="${TEAM}"}`)).toBeCloseTo(after.fleet.cost_usd, 6);
    const exposition = String((await c.get('/metrics')).body);
    expect(exposition).not.toContain(session);
    await s.provider.shutdown();
  });
});

describe('budgets', () => {
  let d: DaemonHandle;
  let c: HttpClient;
  let ws: WebSocket;
  const events: EventMessage[] = [];
  beforeAll(async () => {
    d = await startDaemon({ env: { AI_PROCESSOR_TOKEN: TOKEN, AI_PROCESSOR_BUDGET_USD_PER_TEAM_DAY: '10' }, args: ['--budget-usd-per-agent', '5'] });
    c = new HttpClient(d.url, AUTH);
    ws = new WebSocket(toWsUrl(d.url, STREAM_PATH), { headers: AUTH });
    ws.on('message', (raw) => {
      const msg = JSON.parse(wsText(raw)) as ServerMessage;
      if (msg.type === 'event') events.push(msg);
    });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  });
  afterAll(async () => {
    ws.close();
    c.close();
    expect(await d.stop()).toBe(0);
  });

  const waitFor = async (pred: (e: EventMessage) => boolean) => {
    for (const end = Date.now() + 10_000; Date.now() < end; await new Promise((r) => setTimeout(r, 25))) {
      const found = events.find(pred);
      if (found) return found;
    }
    throw new Error(`no such event among ${JSON.stringify(events)}`);
  };

  it('an agent over its budget and a team over its daily budget: a stream event each, the agent marked, the gauge raised', async () => {
    const team = 'budget-team';
    const [a, b] = [newSession(), newSession()];
    for (const s of [a, b]) expect((await c.post('/api/agents', { agent_id: `cc_${s}`, team })).status).toBeLessThan(300);
    const exporter = new JsonExporter({ url: `${d.url}/v1/metrics`, headers: AUTH });
    const m = sdk(exporter, a);
    m.cost.add(6, { 'session.id': a }); // over 5 USD per agent; the team is at 6 of its 10
    await m.provider.forceFlush();
    const agentEvent = await waitFor((e) => e.event === 'budget_exceeded' && e.detail.scope === 'agent');
    expect(agentEvent.detail).toMatchObject({ agent_id: `cc_${a}`, team, cost_usd: 6, budget_usd: 5 });
    expect((await agentOf(c, a)).over_budget).toBe(true);
    expect(await metricValue(c, 'claude_code_over_budget{scope="agent"}')).toBe(1);
    expect(await metricValue(c, 'claude_code_over_budget{scope="team_day"}')).toBe(0);

    m.cost.add(4.5, { 'session.id': b }); // b is within its own budget, the team passes 10 today
    await m.provider.forceFlush();
    const teamEvent = await waitFor((e) => e.event === 'budget_exceeded' && e.detail.scope === 'team_day');
    expect(teamEvent.detail).toMatchObject({ team, cost_usd: 10.5, budget_usd: 10, date: new Date().toISOString().slice(0, 10) });
    expect((await agentOf(c, b)).over_budget).toBeUndefined();
    expect(await metricValue(c, 'claude_code_over_budget{scope="team_day"}')).toBe(1);
    const stats = (await c.get('/api/stats')).body.usage;
    expect(stats.teams[team]).toMatchObject({ cost_usd: 10.5, cost_today_usd: 10.5, sessions: 2 });
    expect(events.filter((e) => e.event === 'budget_exceeded').length).toBe(2);
    await m.provider.shutdown();
  });
});

describe('POST /v1/logs', () => {
  let d: DaemonHandle;
  let c: HttpClient;
  beforeAll(async () => {
    d = await startDaemon();
    c = new HttpClient(d.url);
  });
  afterAll(async () => {
    c.close();
    expect(await d.stop()).toBe(0);
  });

  it("takes log events as the session's sign of life, never as usage (metrics count cost and tokens)", async () => {
    const session = newSession();
    const at = Date.now() - 1000;
    const record = (name: string, attrs: Record<string, string>) => ({
      timeUnixNano: `${at}000000`,
      eventName: name,
      attributes: Object.entries({ 'event.name': name, 'session.id': session, ...attrs }).map(([key, v]) => ({ key, value: { stringValue: v } })),
    });
    const body = {
      resourceLogs: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'claude-code' } }] },
          scopeLogs: [
            {
              scope: { name: 'com.anthropic.claude_code.events' },
              logRecords: [
                record('api_request', { cost_usd: '0.5', input_tokens: '100', output_tokens: '20', model: 'claude-sonnet-4-5' }),
                { timeUnixNano: `${at}000000`, attributes: [{ key: 'event.name', value: { stringValue: 'user_prompt' } }] }, // no session: rejected
              ],
            },
          ],
        },
      ],
    };
    const res = await c.post('/v1/logs', body);
    expect(res.status).toBe(200);
    expect(res.body.partialSuccess.rejectedLogRecords).toBe('1');
    const agent = (await c.get(`/api/agents/cc_${session}`)).body.agent;
    expect(agent.source).toBe('claude-code');
    expect(agent.telemetry_at).toBe(new Date(at).toISOString());
    expect(agent.usage).toBeUndefined();
  });

  it('answers an empty protobuf ExportLogsServiceResponse to a protobuf request', async () => {
    const res = await c.request('POST', '/v1/logs', undefined, { 'content-type': 'application/x-protobuf' }, Buffer.alloc(0));
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toContain('application/x-protobuf');
    expect(res.headers['content-length']).toBe('0');
  });
});

describe('series accounting (the rules behind the totals)', () => {
  const pt = (temporality: 'delta' | 'cumulative', start: bigint, time: bigint, value: number): UsagePoint => ({
    agent_id: 'cc_s',
    session_id: 's',
    field: 'cost_usd',
    series: 'k',
    temporality,
    start,
    time,
    value,
  });
  it('cumulative: the difference since the last value; a lower value or a new start time starts over; older points are replays', () => {
    const cur: [string, string, number] = ['100', '200', 5];
    expect(contribution(pt('cumulative', 100n, 300n, 8), cur)).toEqual({ add: 3, fresh: true });
    expect(contribution(pt('cumulative', 100n, 300n, 2), cur)).toEqual({ add: 2, fresh: true });
    expect(contribution(pt('cumulative', 250n, 300n, 1), cur)).toEqual({ add: 1, fresh: true });
    expect(contribution(pt('cumulative', 100n, 200n, 5), cur)).toEqual({ add: 0, fresh: false });
    expect(contribution(pt('cumulative', 100n, 150n, 7), cur)).toEqual({ add: 0, fresh: false });
    // Two collections within one millisecond carry one time: the later, higher value adds its difference.
    expect(contribution(pt('cumulative', 100n, 200n, 7), cur)).toEqual({ add: 2, fresh: true });
    expect(contribution(pt('cumulative', 50n, 300n, 9), cur)).toEqual({ add: 0, fresh: false });
    expect(contribution(pt('cumulative', 100n, 300n, 8), undefined)).toEqual({ add: 8, fresh: true });
  });
  it('delta: each new interval adds; one ending no later than the last counted is a replay', () => {
    const cur: [string, string, number] = ['100', '200', 5];
    expect(contribution(pt('delta', 200n, 300n, 4), cur)).toEqual({ add: 4, fresh: true });
    expect(contribution(pt('delta', 100n, 200n, 5), cur)).toEqual({ add: 0, fresh: false });
  });
});

describe('budget settings', () => {
  it('come from the config file, the environment and flags (flags win), 0 by default; a negative one is refused', () => {
    const file = path.join(tempDir('aip-budget-'), 'config.json');
    writeFileSync(file, JSON.stringify({ budget_usd_per_agent: 2.5, budget_usd_per_team_day: 40 }));
    expect(loadConfig({}, {})).toMatchObject({ budget_usd_per_agent: 0, budget_usd_per_team_day: 0 });
    expect(loadConfig({ config_file: file }, {})).toMatchObject({ budget_usd_per_agent: 2.5, budget_usd_per_team_day: 40 });
    expect(loadConfig({ config_file: file }, { AI_PROCESSOR_BUDGET_USD_PER_AGENT: '3' })).toMatchObject({
      budget_usd_per_agent: 3,
      budget_usd_per_team_day: 40,
    });
    expect(loadConfig({ config_file: file, budget_usd_per_team_day: 7 }, {})).toMatchObject({ budget_usd_per_team_day: 7 });
    expect(() => loadConfig({ budget_usd_per_agent: -1 }, {})).toThrow(ConfigError);
  });
});

describe('after a daemon restart', () => {
  it('a cumulative series goes on from its stored cursor: the re-sent export counts nothing, the next one its difference', async () => {
    const dataDir = tempDir('aip-otlp-restart-');
    const session = newSession();
    const memory = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const s = sdk(memory, session);
    s.tokens.add(1000, { 'session.id': session, type: 'input' });
    await s.provider.forceFlush();
    s.tokens.add(250, { 'session.id': session, type: 'input' });
    await s.provider.forceFlush();
    const [first, second] = memory.getMetrics().map((rm) => Buffer.from(ProtobufMetricsSerializer.serializeRequest(rm) as Uint8Array));
    const post = (c: HttpClient, body: Buffer) => c.request('POST', '/v1/metrics', undefined, { 'content-type': 'application/x-protobuf' }, body);

    let d = await startDaemon({ dataDir });
    let c = new HttpClient(d.url);
    expect((await post(c, first)).status).toBe(200);
    expect((await agentOf(c, session)).usage.tokens.input).toBe(1000);
    c.close();
    expect(await d.stop()).toBe(0);

    d = await startDaemon({ dataDir });
    c = new HttpClient(d.url);
    try {
      expect((await post(c, first)).status).toBe(200); // the exporter retries what it sent before the restart
      expect((await agentOf(c, session)).usage.tokens.input).toBe(1000);
      expect((await post(c, second)).status).toBe(200); // 1250 so far: adds 250
      expect((await agentOf(c, session)).usage.tokens.input).toBe(1250);
    } finally {
      c.close();
      expect(await d.stop()).toBe(0);
    }
    await s.provider.shutdown();
  });
});
