// What the parts of the daemon share. Each feature installs itself from this context
// (observability, stream, analyzer, services) instead of the daemon knowing their insides.
import type { EventEmitter } from 'node:events';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger as Pino } from 'pino';
import type { DaemonConfig } from './config.js';
import type { CoordinationService, Trace } from './core/service.js';
import type { Metrics } from './metrics.js';
import type { CoordinationStore } from './store/memory-state.js';
import type { EntropyTracker } from '../shared/entropy.js';
import type { SyncFailures } from './stream/sync-failures.js';
import type { LateStatsParts } from './http/stats-parts.js';

/** Events between the daemon's features (one declaration per payload). */
export interface DaemonEvents {
  /** A side-channel event for stream clients: its name (file_problem, merge_conflict, service_status, ...) and detail. */
  event: [name: string, detail: Record<string, unknown>];
}

export interface DaemonContext {
  config: DaemonConfig;
  logger: Pino;
  store: CoordinationStore;
  service: CoordinationService;
  metrics: Metrics;
  /** Sync failures by reason: state_sync_failures_total and /api/stats read the same tally. */
  syncFailures: SyncFailures;
  /** Entropy of the stored records, kept per change (spans are added by the telemetry part). */
  entropy: EntropyTracker;
  app: FastifyInstance;
  /** The trace of a request, set by observability; routes pass it to the service. */
  traceOf: (request: FastifyRequest) => Trace | undefined;
  /** Extra fields for GET /api/coordination/status, contributed by features. */
  statusExtras: Array<() => Record<string, unknown>>;
  /** Parts of GET /api/stats installed after the daemon started; the others are given to statsRoutes by their installers' results. */
  stats: LateStatsParts;
  /**
   * Side-channel events that are not state changes (service health, file problems, conflicts):
   * emit('event', name, detail). The coordination stream forwards them as EventMessage.
   */
  events: EventEmitter<DaemonEvents>;
  /** Run on shutdown, in reverse order of registration, after the HTTP server stopped. */
  onClose: Array<() => Promise<void> | void>;
  /**
   * Run on a configuration reload (SIGHUP, reload.ts), in order, after ctx.config took the new values:
   * the new configuration and the names of the settings that changed. A hook applies what concerns
   * it; a hook that throws is logged and the others still run.
   */
  onReload: Array<(config: DaemonConfig, changed: ReadonlySet<keyof DaemonConfig>) => Promise<void> | void>;
}
