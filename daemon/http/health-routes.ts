// Liveness and readiness, as load balancers and systemd watchers expect them.
import type { FastifyInstance } from 'fastify';
import type { CoordinationStore } from '../store/memory-state.js';

export async function healthRoutes(app: FastifyInstance, opts: { store: CoordinationStore; version: string; started: number }): Promise<void> {
  app.get('/health', async () => ({ status: 'ok', version: opts.version, uptime_s: Math.round((Date.now() - opts.started) / 1000) }));
  app.get('/ready', async (_req, reply) => {
    const ready = opts.store.ready;
    const problems = opts.store.problems();
    return reply.code(ready ? 200 : 503).send({ ready, revision: opts.store.revision, problems });
  });
}
