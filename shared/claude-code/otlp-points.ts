// OTLP metrics and logs requests (the JSON shape: camelCase fields, 64-bit integers as decimal
// strings or numbers) -> the Claude Code data points the daemon counts (pure). The protobuf
// encoding is decoded into this same shape by the daemon, so one reader serves both.
import { agentIdFor } from './hook-mapping.js';

/** The usage figures a Claude Code metric feeds, by metric name (and its `type` attribute). */
export type UsageField =
  'cost_usd' | 'input' | 'output' | 'cache_read' | 'cache_creation' | 'active_s' | 'lines_added' | 'lines_removed' | 'commits' | 'pull_requests';

export const TOKEN_TYPES: Record<string, UsageField> = { input: 'input', output: 'output', cacheRead: 'cache_read', cacheCreation: 'cache_creation' };
const LINE_TYPES: Record<string, UsageField> = { added: 'lines_added', removed: 'lines_removed' };

/** null: a known metric whose `type` attribute is not one we count. */
function fieldOf(metric: string, type: string | undefined): UsageField | null | undefined {
  switch (metric) {
    case 'claude_code.cost.usage':
      return 'cost_usd';
    case 'claude_code.token.usage':
      return type && Object.hasOwn(TOKEN_TYPES, type) ? TOKEN_TYPES[type] : null;
    case 'claude_code.active_time.total':
      return 'active_s';
    case 'claude_code.lines_of_code.count':
      return type && Object.hasOwn(LINE_TYPES, type) ? LINE_TYPES[type] : null;
    case 'claude_code.commit.count':
      return 'commits';
    case 'claude_code.pull_request.count':
      return 'pull_requests';
  }
  return undefined;
}

export type Temporality = 'delta' | 'cumulative';

export interface UsagePoint {
  agent_id: string;
  session_id: string;
  field: UsageField;
  /** Identifies the series: the metric and every attribute of the point (session included). */
  series: string;
  temporality: Temporality;
  /** Nanoseconds since the epoch (exceed 2^53: kept exact as bigint). */
  start: bigint;
  time: bigint;
  value: number;
}

export interface MetricsReading {
  points: UsagePoint[];
  /** Points of the counted metrics that could not be taken, and why (for partial_success). */
  rejected: number;
  reasons: string[];
  /** Data points of other metrics (accepted, not counted). */
  ignored: number;
}

export interface LogsReading {
  /** Latest log record time (ms since the epoch) per session's agent: telemetry's sign of life. */
  seen: Map<string, { session_id: string; at_ms: number; event: string | null }>;
  records: number;
  rejected: number;
  reasons: string[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** An AnyValue as a plain scalar (strings, numbers, booleans; nested values as JSON text). */
function anyValue(v: unknown): string | number | boolean | null {
  if (!isObj(v)) return null;
  if (typeof v.stringValue === 'string') return v.stringValue;
  if (typeof v.boolValue === 'boolean') return v.boolValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (typeof v.doubleValue === 'number') return v.doubleValue;
  if (v.arrayValue !== undefined || v.kvlistValue !== undefined) return JSON.stringify(v.arrayValue ?? v.kvlistValue);
  return null;
}

export function attributes(v: unknown): Map<string, string | number | boolean | null> {
  const out = new Map<string, string | number | boolean | null>();
  for (const kv of list(v)) if (isObj(kv) && typeof kv.key === 'string') out.set(kv.key, anyValue(kv.value));
  return out;
}

/** A fixed64/int64 as OTLP JSON writes it: a decimal string, or a number. */
function nanos(v: unknown): bigint | null {
  if (v === undefined || v === null) return 0n;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === 'string' && /^\d{1,20}$/.test(v)) return BigInt(v);
  return null;
}

function temporalityOf(v: unknown): Temporality | null {
  if (v === 1 || v === 'AGGREGATION_TEMPORALITY_DELTA') return 'delta';
  if (v === 2 || v === 'AGGREGATION_TEMPORALITY_CUMULATIVE') return 'cumulative';
  return null;
}

function pointValue(p: Obj): number | null {
  if (typeof p.asDouble === 'number') return p.asDouble;
  if (typeof p.asDouble === 'string' && p.asDouble !== '') return Number(p.asDouble); // NaN, Infinity as JSON strings
  if (p.asInt !== undefined) {
    const n = typeof p.asInt === 'string' && /^-?\d+$/.test(p.asInt) ? Number(p.asInt) : typeof p.asInt === 'number' ? p.asInt : NaN;
    return n;
  }
  return null;
}

/** 64-bit FNV-1a as 16 hex digits: a short, stable series key to keep on the agent. */
export function seriesKey(text: string): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995) ^ (h1 >>> 13);
  }
  return (h1 >>> 0).toString(16).padStart(8, '0') + (h2 >>> 0).toString(16).padStart(8, '0');
}

function sessionOf(point: Map<string, unknown>, resource: Map<string, unknown>): string | null {
  const s = point.get('session.id') ?? resource.get('session.id');
  return typeof s === 'string' && s !== '' ? s : null;
}

/**
 * How far ahead of the daemon's clock a point may be. A point far in the future would make every
 * later point of its series look like a replay (each series counts only points after its last one).
 */
export const MAX_FUTURE_NS = 24n * 3600n * 1_000_000_000n;

/** The counted data points of an ExportMetricsServiceRequest. Throws on a body that is not one. */
export function readMetrics(body: unknown, nowMs: number = Date.now()): MetricsReading {
  const latest = BigInt(Math.floor(nowMs)) * 1_000_000n + MAX_FUTURE_NS;
  if (!isObj(body)) throw new TypeError('the body is not an ExportMetricsServiceRequest object');
  const out: MetricsReading = { points: [], rejected: 0, reasons: [], ignored: 0 };
  const reject = (why: string) => {
    out.rejected++;
    if (out.reasons.length < 5 && !out.reasons.includes(why)) out.reasons.push(why);
  };
  if (body.resourceMetrics !== undefined && !Array.isArray(body.resourceMetrics)) throw new TypeError('resourceMetrics must be a list');
  for (const rm of list(body.resourceMetrics)) {
    if (!isObj(rm)) continue;
    const resourceSession = attributes(isObj(rm.resource) ? rm.resource.attributes : undefined).get('session.id');
    for (const sm of list(rm.scopeMetrics)) {
      if (!isObj(sm)) continue;
      for (const metric of list(sm.metrics)) {
        if (!isObj(metric) || typeof metric.name !== 'string') continue;
        const name = metric.name;
        const sum = isObj(metric.sum) ? metric.sum : null;
        const points = list(sum?.dataPoints ?? (isObj(metric.gauge) ? metric.gauge.dataPoints : undefined));
        if (fieldOf(name, 'input') === undefined) {
          out.ignored += points.length;
          continue;
        }
        const temporality = sum ? temporalityOf(sum.aggregationTemporality) : null;
        for (const raw of points) {
          if (!isObj(raw)) continue;
          // One pass over the attributes: session, type, and the series' identity (sorted key=value pairs).
          const pairs: string[] = [];
          let pointSession: unknown;
          let type: unknown;
          for (const kv of list(raw.attributes)) {
            if (!isObj(kv) || typeof kv.key !== 'string') continue;
            const v = anyValue(kv.value);
            if (kv.key === 'session.id') pointSession = v;
            else {
              if (kv.key === 'type') type = v;
              pairs.push(`${kv.key}=${String(v)}`);
            }
          }
          const field = fieldOf(name, typeof type === 'string' ? type : undefined);
          if (!field) {
            out.ignored++;
            continue;
          }
          if (!temporality) {
            reject(`${name}: not a sum with delta or cumulative temporality`);
            continue;
          }
          const s = pointSession ?? resourceSession;
          const session = typeof s === 'string' && s !== '' ? s : null;
          const agent = session ? agentIdFor(session) : null;
          if (!session || !agent) {
            reject(`${name}: ${session ? 'session.id is not a valid id' : 'no session.id attribute'}`);
            continue;
          }
          const value = pointValue(raw);
          const start = nanos(raw.startTimeUnixNano);
          const time = nanos(raw.timeUnixNano);
          if (value === null || !Number.isFinite(value) || value < 0) {
            reject(`${name}: the value is missing, negative or not finite`);
            continue;
          }
          if (start === null || time === null || time === 0n || start > time) {
            reject(`${name}: startTimeUnixNano/timeUnixNano missing or malformed`);
            continue;
          }
          if (time > latest) {
            reject(`${name}: timeUnixNano is more than a day ahead of the daemon's clock`);
            continue;
          }
          const id = pairs.sort().join('\u0001');
          out.points.push({
            agent_id: agent,
            session_id: session,
            field,
            series: seriesKey(`${name}\u0000${session}\u0000${id}`),
            temporality,
            start,
            time,
            value,
          });
        }
      }
    }
  }
  return out;
}

/** The log records of an ExportLogsServiceRequest, as signs of life per session. Throws on a body that is not one. */
export function readLogs(body: unknown): LogsReading {
  if (!isObj(body)) throw new TypeError('the body is not an ExportLogsServiceRequest object');
  if (body.resourceLogs !== undefined && !Array.isArray(body.resourceLogs)) throw new TypeError('resourceLogs must be a list');
  const out: LogsReading = { seen: new Map(), records: 0, rejected: 0, reasons: [] };
  for (const rl of list(body.resourceLogs)) {
    if (!isObj(rl)) continue;
    const resource = attributes(isObj(rl.resource) ? rl.resource.attributes : undefined);
    for (const sl of list(rl.scopeLogs)) {
      if (!isObj(sl)) continue;
      for (const rec of list(sl.logRecords)) {
        if (!isObj(rec)) continue;
        out.records++;
        const attrs = attributes(rec.attributes);
        const session = sessionOf(attrs, resource);
        const agent = session ? agentIdFor(session) : null;
        if (!session || !agent) {
          out.rejected++;
          if (out.reasons.length === 0) out.reasons.push('log records without a valid session.id attribute');
          continue;
        }
        const t = nanos(rec.timeUnixNano) || nanos(rec.observedTimeUnixNano) || 0n;
        const at_ms = Number(t / 1_000_000n);
        const name = attrs.get('event.name') ?? rec.eventName;
        const event = typeof name === 'string' && name !== '' ? name.slice(0, 64) : null;
        const prev = out.seen.get(agent);
        if (!prev || at_ms >= prev.at_ms) out.seen.set(agent, { session_id: session, at_ms, event });
      }
    }
  }
  return out;
}
