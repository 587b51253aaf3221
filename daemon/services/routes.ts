// GET /api/services[?refresh=1] → {services: ServiceStatus[]}; GET /api/services/:name → one status.
// refresh probes now instead of answering the last known statuses (bounded by each probe's timeout).
import type { FastifyPluginAsync } from 'fastify';
import { ApiError } from '../errors.js';
import type { ServiceMonitor } from './health.js';

const wantsRefresh = (q: unknown): boolean => {
  const v = (q as Record<string, unknown> | undefined)?.refresh;
  return v === '1' || v === 'true' || v === '';
};

export function servicesRoutes(monitor: ServiceMonitor): FastifyPluginAsync {
  return async (app) => {
    app.get('/api/services', async (req) => {
      if (wantsRefresh(req.query)) await monitor.checkNow();
      return { services: monitor.list() };
    });

    app.get<{ Params: { name: string } }>('/api/services/:name', async (req) => {
      const known = monitor.get(req.params.name);
      if (!known) throw new ApiError('not_found', `No service named ${JSON.stringify(req.params.name)} is configured`);
      if (wantsRefresh(req.query)) await monitor.checkNow(req.params.name);
      return monitor.get(req.params.name);
    });
  };
}
