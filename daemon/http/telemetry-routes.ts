// GET /api/telemetry/spans?limit=N[&trace_id=..][&operation=..]: recent spans, oldest first, in the
// legacy line format ({spans: [...]}). WS /api/telemetry/stream[?recent=N]: {type:'span', span}
// messages as spans finish (after the last N recent ones when asked). Neither is traced itself.
import type { WebSocket } from 'ws';
import { CLOSE_TRY_AGAIN_LATER, TELEMETRY_STREAM_PATH } from '../../shared/protocol.js';
import type { JsonObject } from '../../shared/types.js';
import type { DaemonContext } from '../context.js';
import { ApiError } from '../errors.js';
import type { TelemetrySink } from '../observability/telemetry.js';
import { guardInbound } from '../stream/inbound.js';

export const DEFAULT_SPANS_LIMIT = 100;

const spansQuery = {
  type: 'object',
  properties: {
    limit: { type: 'string', pattern: '^[0-9]{1,6}$' },
    trace_id: { type: 'string', pattern: '^[0-9a-fA-F]{1,32}$' },
    operation: { type: 'string', maxLength: 200 },
  },
  additionalProperties: false,
} as const;

function limitOf(raw: string | undefined, max: number, dflt: number): number {
  if (raw === undefined) return dflt;
  if (!/^\d{1,6}$/.test(raw)) throw new ApiError('invalid_request', 'limit must be a whole number');
  return Math.min(Number(raw), max);
}

export async function telemetryRoutes(ctx: DaemonContext, sink: TelemetrySink): Promise<void> {
  const { app } = ctx;

  app.get('/api/telemetry/spans', { schema: { querystring: spansQuery } }, async (req) => {
    const q = req.query as { limit?: string; trace_id?: string; operation?: string };
    const limit = limitOf(q.limit, sink.ring.capacity, DEFAULT_SPANS_LIMIT);
    const traceId = q.trace_id?.toLowerCase();
    const filter =
      traceId || q.operation
        ? (s: JsonObject) => (!traceId || s.trace_id === traceId) && (!q.operation || (s.operation_name ?? s.operation) === q.operation)
        : undefined;
    return { spans: sink.ring.recent(limit, filter) };
  });

  const full = (): boolean => sink.clientCount >= ctx.config.max_stream_clients;
  const preHandler = async (_req: unknown, reply: { code(n: number): { send(b: unknown): unknown } }) => {
    if (full())
      return reply.code(503).send({
        error: 'too_many_clients',
        message: `The telemetry stream has ${sink.clientCount} clients (limit ${ctx.config.max_stream_clients}): retry later`,
      });
  };

  app.get(TELEMETRY_STREAM_PATH, { websocket: true, preHandler }, (socket: WebSocket, req) => {
    if (full()) return socket.close(CLOSE_TRY_AGAIN_LATER, 'too many stream clients: retry later');
    // Clients only listen: text frames are ignored (within the per-client rate), binary ones refused.
    guardInbound(socket, {
      stream: 'telemetry',
      logger: ctx.logger,
      rejected: (why) => ctx.metrics.framesRejected.inc({ stream: 'telemetry', reason: why }),
      onMessage: null,
    });
    const raw = (req.query as { recent?: string }).recent;
    const backlog = raw !== undefined && /^\d{1,6}$/.test(raw) ? Math.min(Number(raw), sink.ring.capacity) : 0;
    sink.addClient(socket, backlog);
  });
}
