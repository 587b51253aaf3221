// Rate limits on the mutating endpoints (@fastify/rate-limit): `rate_limit_per_s` requests per second
// per client IP, 0 = off (the default). GETs (reads, /health, /ready, /metrics, the stream upgrades)
// are never limited. Beyond the limit: 429 {error:'too_many_requests', message} with retry-after.
// The limit is read per request, so a SIGHUP reload changes it (0 <-> n included) without a restart.
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../errors.js';

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Registers the limiter. Call before any route is declared (it attaches itself to routes as they are added). */
export async function installRateLimit(app: FastifyInstance, limitPerSecond: () => number): Promise<void> {
  await app.register(rateLimit, {
    global: true,
    timeWindow: 1000,
    max: () => Math.max(1, Math.floor(limitPerSecond())),
    allowList: (req) => !MUTATING.has(req.method) || !(limitPerSecond() > 0),
    errorResponseBuilder: (_req, ctx) =>
      new ApiError('too_many_requests', `Rate limit of ${ctx.max} mutating requests per second per client exceeded: retry in ${ctx.after}`),
  });
}
