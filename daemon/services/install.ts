// Wires the service monitor into the daemon: GET /api/services, service_up and
// service_probe_duration_seconds, its part of GET /api/stats, a `service_status` event on every
// change (the coordination stream forwards it), and its shutdown.
import type { StatsResponse } from '../../shared/protocol.js';
import type { DaemonContext } from '../context.js';
import { ServiceMonitor, type ServiceStatus } from './health.js';
import { servicesRoutes } from './routes.js';

/** Its part of GET /api/stats. */
export function servicesStats(monitor: ServiceMonitor): StatsResponse['services'] {
  return monitor
    .list()
    .map((s) => ({ name: s.name, url: s.url, status: s.status, latency_ms: s.latency_ms, last_error: s.last_error, last_checked_at: s.last_checked_at }));
}

export function installServices(ctx: DaemonContext): ServiceMonitor {
  const { metrics } = ctx;
  const monitor = new ServiceMonitor(ctx.config.services, { logger: ctx.logger.child({ component: 'services' }) });
  // Known services are 0 until their first probe says otherwise: an absent series would keep a
  // `service_up == 0` alert silent while the daemon has not reached the service yet.
  for (const s of monitor.list()) metrics.serviceUp.set({ service: s.name }, 0);
  monitor.on('check', (s: ServiceStatus) => {
    metrics.serviceUp.set({ service: s.name }, s.status === 'up' || s.status === 'slow' ? 1 : 0);
    if (s.probe_ms !== null) metrics.serviceProbeDuration.set({ service: s.name }, s.probe_ms / 1000);
  });
  monitor.on('change', (s: ServiceStatus, previous: string) => ctx.events.emit('event', 'service_status', { ...s, previous }));
  void ctx.app.register(servicesRoutes(monitor));
  // First probes once the server is ready, not while the daemon may still fail to start.
  ctx.app.addHook('onReady', async () => monitor.start());
  ctx.onClose.push(() => monitor.stop());
  ctx.onReload.push((next, changed) => {
    if (!changed.has('services')) return;
    const { added, removed } = monitor.setServices(next.services);
    for (const name of removed) {
      metrics.serviceUp.remove({ service: name });
      metrics.serviceProbeDuration.remove({ service: name });
    }
    for (const name of added) metrics.serviceUp.set({ service: name }, 0);
    ctx.logger.info({ services: monitor.list().map((s) => s.name), added, removed }, 'services reconfigured');
  });
  return monitor;
}
