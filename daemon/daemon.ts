// Assembles the daemon: store → service → HTTP API and features, and shuts it down in reverse.
import Fastify, { type FastifyInstance } from 'fastify';
import { pino, type Logger as Pino } from 'pino';
import { timingSafeEqual, createHash } from 'node:crypto';
import type { DaemonConfig } from './config.js';
import { ConfigError, heapPolicyInputs, isLoopback, otelSettings, processEnv } from './config.js';
import type { DaemonContext, DaemonEvents } from './context.js';
import { FileStore } from './store/file-store.js';
import type { CoordinationStore } from './store/memory-state.js';
import { CoordinationService } from './core/service.js';
import { installErrorHandling } from './http/errors-handler.js';
import { coordinationRoutes } from './http/coordination-routes.js';
import { healthRoutes } from './http/health-routes.js';
import { createMetrics } from './metrics.js';
import { installMetrics, observeState } from './observability/metrics-wiring.js';
import { metricsRoutes } from './http/metrics-routes.js';
import { VERSION } from '../io/version.js';
import { latencyStats, processStats, statsRoutes } from './http/stats-routes.js';
import { installTracing } from './observability/tracing.js';
import { installEntropy } from './observability/baseline.js';
import { entropyRoutes } from './http/entropy-routes.js';
import { telemetryRoutes } from './http/telemetry-routes.js';
import os from 'node:os';
import { applyHeapPolicy } from './observability/heap-policy.js';
import { NODE_FLAGS, poolSizeGiven } from '../shared/node-flags.js';
import { analyzerStats, installAnalyzer } from './analyzer/install.js';
import { installServices, servicesStats } from './services/install.js';
import { installClaudeCode } from './claude-code/install.js';
import { installVelocityLog } from './legacy/velocity-log.js';
import { installCoordinationStream } from './stream/coordination-stream.js';
import { readTls } from './http/tls.js';
import { installRateLimit } from './http/rate-limit.js';
import { installWorkGraph } from './http/work-graph-routes.js';
import { CLOSE_GOING_AWAY, CLOSE_INTERNAL_ERROR, MAX_CLIENT_FRAME_BYTES, STREAM_PATH, TELEMETRY_STREAM_PATH } from '../shared/protocol.js';
import { SyncFailures } from './stream/sync-failures.js';
import websocket from '@fastify/websocket';
import { EventEmitter } from 'node:events';

export interface Daemon {
  app: FastifyInstance;
  store: CoordinationStore;
  service: CoordinationService;
  logger: Pino;
  url: string;
  ctx: DaemonContext;
  /** Every route the API declared (the security tests hold each mutating one to the token). */
  routes: Array<{ method: string; url: string; websocket: boolean }>;
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

/** Never logged, whatever a log call is given (defence in depth: nothing logs them on purpose). */
const REDACT = ['token', '*.token', 'authorization', '*.authorization', 'headers.authorization', '*.headers.authorization'];

/**
 * The daemon's JSON-lines logger. Its destination is stdout's file descriptor (pino's own synchronous
 * writer) unless another stream is given: a daemon in a worker thread shares fd 1 with the console
 * drawing on the terminal, so it logs to the thread's stdout stream, which its launcher reads.
 */
export function createLogger(config: Pick<DaemonConfig, 'log_level'>, destination?: NodeJS.WritableStream): Pino {
  const options = { level: config.log_level, base: { service: 'ai-processor' }, redact: REDACT };
  return destination ? pino(options, destination) : pino(options);
}

export async function startDaemon(config: DaemonConfig, logger: Pino = createLogger(config)): Promise<Daemon> {
  if (!isLoopback(config.host) && !config.token) {
    throw new ConfigError(`refusing to listen on ${config.host} without a token: set AI_PROCESSOR_TOKEN or --token-file (loopback needs none)`);
  }
  const tls = readTls(config); // before opening the store: a bad key pair fails fast
  const started = Date.now();
  const heapPolicy = applyHeapPolicy(heapPolicyInputs(processEnv())); // before loading the data: it sizes the heap for it
  // The embedded file store is the default; a postgres:// URL selects the shared PostgreSQL store
  // (loaded only then: a file-store daemon does not hold its code).
  const store: CoordinationStore = /^postgres(ql)?:\/\//.test(config.store)
    ? new (await import('./store/pg-store.js')).PgStore({ url: config.store, dataDir: config.data_dir, logger })
    : new FileStore({
        dataDir: config.data_dir,
        logger,
        viewFlushMs: config.view_flush_ms,
        maxJournalBytes: config.max_journal_bytes,
        maxLegacyFileBytes: config.max_legacy_file_bytes,
        loadHooks: heapPolicy,
      });
  const metrics = createMetrics();
  const entropy = observeState(store, metrics);
  try {
    await store.open();
  } catch (err) {
    heapPolicy.stop();
    throw err;
  }
  heapPolicy.loaded();
  logger.debug({ heap: heapPolicy.applied }, 'heap policy');
  if (!poolSizeGiven(process.execArgv, processEnv()) && os.availableParallelism() <= 4) {
    // The bin, the unit and npm start give it; this is node run on the script directly.
    logger.info(
      { cores: os.availableParallelism(), node_flags: NODE_FLAGS.join(' ') },
      "node started without --v8-pool-size=1: on a machine this small the garbage collector's helper threads take cores from requests (run the ai-processor bin, or set NODE_OPTIONS)",
    );
  }
  const service = new CoordinationService(store, { leaseMs: config.lease_ms, maxLeaseMs: config.max_lease_ms, logger });
  // Fastify's own per-request logging is off (thousands of lines a second under load); errors are
  // logged by the error handler, changes by the store.
  const app: FastifyInstance = Fastify({
    logger: false,
    bodyLimit: config.body_limit,
    forceCloseConnections: 'idle',
    ...(tls ? { https: tls } : {}),
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  });
  installErrorHandling(app, logger);
  app.removeContentTypeParser('text/plain'); // JSON only: anything else is a 415, not a confusing 400
  await installRateLimit(app, () => config.rate_limit_per_s); // before any route: it attaches to routes as they are declared
  const routes: Daemon['routes'] = [];
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) routes.push({ method, url: r.url, websocket: Boolean((r as { websocket?: boolean }).websocket) });
  });
  await app.register(websocket, {
    options: { maxPayload: MAX_CLIENT_FRAME_BYTES },
    // A stream handler that throws, or a socket error (a frame over maxPayload, bad UTF-8), closes
    // that client only; fastify's own logger is off, so it is logged here.
    errorHandler(error: Error, socket: { close(code: number, reason: string): void; terminate(): void }) {
      logger.warn({ error: error.message }, 'stream client error; closed');
      try {
        socket.close(CLOSE_INTERNAL_ERROR, 'internal error');
      } catch {
        socket.terminate();
      }
    },
    // On shutdown tell stream clients to come back (1001 going away), so they resume from their revision.
    preClose(this: FastifyInstance, done: () => void) {
      for (const client of this.websocketServer.clients) client.close(CLOSE_GOING_AWAY, 'daemon shutting down: reconnect and resume');
      this.websocketServer.close();
      done();
    },
  });
  // The token is read per request (config.token), so a SIGHUP reload can set or rotate it. Declared
  // after the websocket plugin: its onRequest hook marks upgrade requests, so a refused upgrade's
  // socket is destroyed after the 401 (else it lingers and app.close() never returns).
  app.addHook('onRequest', async (req, reply) => {
    const token = config.token;
    if (!token) return;
    // The matched route, not the raw URL: /api/coordination/%73tream is the stream too.
    const route = req.routeOptions.url;
    const isStream = route === STREAM_PATH || route === TELEMETRY_STREAM_PATH;
    if ((MUTATING.has(req.method) || isStream) && !tokenMatches(token, req.headers.authorization)) {
      return reply.code(401).send({ error: 'unauthorized', message: 'Send Authorization: Bearer <AI_PROCESSOR_TOKEN>' });
    }
  });
  const syncFailures = new SyncFailures(metrics.syncFailures);
  const ctx: DaemonContext = {
    config,
    logger,
    store,
    service,
    metrics,
    syncFailures,
    entropy,
    app,
    traceOf: () => undefined,
    statusExtras: [],
    stats: {},
    events: new EventEmitter<DaemonEvents>(),
    onClose: [],
    onReload: [],
  };
  store.on('problem', (p) => ctx.events.emit('event', 'file_problem', { ...p }));
  store.on('conflict', (c) => ctx.events.emit('event', 'merge_conflict', { ...c }));
  store.on('storage', (e) => ctx.events.emit('event', e.state === 'degraded' ? 'storage_degraded' : 'storage_recovered', { ...e }));
  metricsRoutes(app, installMetrics(ctx)); // declared before tracing: /metrics carries no trace headers
  const stats = statsRoutes(ctx);
  const latency = latencyStats(ctx);
  const stream = installCoordinationStream(ctx);
  const tracing = await installTracing(ctx, otelSettings(processEnv())); // before the API routes: sets ctx.traceOf and the tracing hooks they get
  await telemetryRoutes(ctx, tracing.sink);
  const baselines = await installEntropy(ctx);
  await entropyRoutes(ctx, baselines);
  await app.register(healthRoutes, { store, version: VERSION, started });
  await app.register(coordinationRoutes, {
    service,
    traceOf: (r) => ctx.traceOf(r),
    statusExtras: () => Object.assign({}, ...ctx.statusExtras.map((f) => f())),
  });
  installWorkGraph(ctx);
  const analyzer = installAnalyzer(ctx, tracing);
  const monitor = installServices(ctx);
  const claudeCode = installClaudeCode(ctx);
  installVelocityLog(ctx);
  // Every field of GET /api/stats, in the order it answers them, each from the feature that owns it.
  stats.serve({
    ...processStats(ctx, started),
    sync: stream.sync,
    services: () => servicesStats(monitor),
    analyzer: () => analyzerStats(analyzer),
    latency,
    entropy: () => baselines.stats(),
    lease_ms: () => service.leaseMs,
    telemetry: tracing.stats,
    reload: () => ctx.stats.reload?.(),
    usage: claudeCode.usage,
  });
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
    routes,
    close: () =>
      (closing ??= (async () => {
        service.stop();
        heapPolicy.stop();
        await app.close(); // finishes in-flight requests
        await store.close(); // drains the journal, writes the legacy files
        for (const fn of [...ctx.onClose].reverse()) await fn(); // after the store: its last writes are traced too
        logger.info({ revision: store.revision }, 'stopped');
      })()),
  };
}
