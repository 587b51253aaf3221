// Assembles the daemon: store → service → HTTP API and features, and shuts it down in reverse.
import Fastify, { type FastifyInstance } from 'fastify';
import { pino, type Logger as Pino } from 'pino';
import { timingSafeEqual, createHash } from 'node:crypto';
import type { DaemonConfig } from './config.js';
import { isLoopback } from './config.js';
import type { DaemonContext } from './context.js';
import { FileStore } from './store/file-store.js';
import { CoordinationService } from './core/service.js';
import { installErrorHandling } from './http/errors-handler.js';
import { coordinationRoutes } from './http/coordination-routes.js';
import { healthRoutes } from './http/health-routes.js';
import { createMetrics } from './metrics.js';
import { installMetrics, observeState } from './observability/metrics-wiring.js';
import { VERSION } from './version.js';
import { installStats } from './http/stats-routes.js';
import { installCoordinationStream } from './stream/coordination-stream.js';
import { CLOSE_GOING_AWAY } from '../shared/protocol.js';
import websocket from '@fastify/websocket';
import { EventEmitter } from 'node:events';

export interface Daemon {
  app: FastifyInstance;
  store: FileStore;
  service: CoordinationService;
  logger: Pino;
  url: string;
  ctx: DaemonContext;
  close(): Promise<void>;
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function tokenMatches(expected: string, header: string | undefined): boolean {
  const got = header?.startsWith('Bearer ') ? header.slice(7) : '';
  // Compare digests so the comparison is constant-time whatever the lengths.
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(got).digest();
  return timingSafeEqual(a, b) && got.length > 0;
}

export async function startDaemon(config: DaemonConfig, logger: Pino = pino({ level: config.log_level, base: { service: 'ai-processor' } })): Promise<Daemon> {
  if (!isLoopback(config.host) && !config.token) {
    throw new Error(`refusing to listen on ${config.host} without a token: set AI_PROCESSOR_TOKEN or --token-file (loopback needs none)`);
  }
  const started = Date.now();
  const store = new FileStore({ dataDir: config.data_dir, logger, viewFlushMs: config.view_flush_ms, maxJournalBytes: config.max_journal_bytes });
  const metrics = createMetrics();
  const entropy = observeState(store, metrics);
  await store.open();
  const service = new CoordinationService(store, { leaseMs: config.lease_ms, logger });
  // Fastify's own per-request logging is off (thousands of lines a second under load); errors are
  // logged by the error handler, changes by the store.
  const app: FastifyInstance = Fastify({
    logger: false,
    bodyLimit: config.body_limit,
    forceCloseConnections: 'idle',
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  }) as unknown as FastifyInstance;
  installErrorHandling(app, logger);
  app.removeContentTypeParser('text/plain'); // JSON only: anything else is a 415, not a confusing 400
  if (config.token) {
    const token = config.token;
    app.addHook('onRequest', async (req, reply) => {
      const isStream = req.url.startsWith('/api/coordination/stream') || req.url.startsWith('/api/telemetry/stream');
      if ((MUTATING.has(req.method) || isStream) && !tokenMatches(token, req.headers.authorization)) {
        return reply.code(401).send({ error: 'unauthorized', message: 'Send Authorization: Bearer <AI_PROCESSOR_TOKEN>' });
      }
    });
  }
  await app.register(websocket, {
    options: { maxPayload: 64 * 1024 },
    // On shutdown tell stream clients to come back (1001 going away), so they resume from their revision.
    preClose(this: FastifyInstance, done: () => void) {
      for (const client of this.websocketServer.clients) client.close(CLOSE_GOING_AWAY, 'daemon shutting down: reconnect and resume');
      this.websocketServer.close();
      done();
    },
  });
  const ctx: DaemonContext = { config, logger, store, service, metrics, entropy, app, traceOf: () => undefined, statusExtras: [], stats: {}, events: new EventEmitter(), onClose: [] };
  store.on('problem', (p) => ctx.events.emit('event', 'file_problem', p));
  store.on('conflict', (c) => ctx.events.emit('event', 'merge_conflict', c));
  installMetrics(ctx);
  installStats(ctx, started);
  installCoordinationStream(ctx);
  await app.register(healthRoutes, { store, version: VERSION, started });
  await app.register(coordinationRoutes, { service, traceOf: (r) => ctx.traceOf(r), statusExtras: () => Object.assign({}, ...ctx.statusExtras.map((f) => f())) });
  service.start();
  const address = await app.listen({ port: config.port, host: config.host });
  logger.info({ url: address, dataDir: store.dataDir, revision: store.revision, leaseMs: config.lease_ms, version: VERSION }, 'listening');
  let closing: Promise<void> | null = null;
  return {
    app,
    store,
    service,
    logger,
    url: address,
    ctx,
    close: () =>
      (closing ??= (async () => {
        service.stop();
        await app.close(); // finishes in-flight requests
        for (const fn of [...ctx.onClose].reverse()) await fn();
        await store.close(); // drains the journal, writes the legacy files
        logger.info({ revision: store.revision }, 'stopped');
      })()),
  };
}
