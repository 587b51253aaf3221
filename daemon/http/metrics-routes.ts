// GET /metrics: the Prometheus text of the daemon's metrics (observability/metrics-wiring.ts renders
// it). Never traced, no token needed.
import type { FastifyInstance } from 'fastify';
import type { MetricsText } from '../observability/metrics-wiring.js';

export function metricsRoutes(app: FastifyInstance, metrics: MetricsText): void {
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', metrics.contentType);
    return metrics.render();
  });
}
