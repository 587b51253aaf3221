// Wires the Claude Code hooks endpoint and its telemetry intake (OTLP/HTTP) into the daemon.
import type { DaemonContext } from '../context.js';
import { ProjectResolver } from './project.js';
import { installPathLeases } from '../http/path-routes.js';
import { claudeCodeRoutes } from './routes.js';
import { otlpRoutes, usageStats } from './otlp-routes.js';

/** Returns its part of GET /api/stats: the Claude Code usage totals. */
export function installClaudeCode(ctx: DaemonContext): { usage: ReturnType<typeof usageStats> } {
  const projects = new ProjectResolver();
  const { leases, locator, report } = installPathLeases(ctx, projects);
  const paths = { leases, locator, enforcement: () => ctx.config.path_leases, onConflict: report };
  void ctx.app.register(
    claudeCodeRoutes({ service: ctx.service, logger: ctx.logger.child({ component: 'claude-code' }), projects, traceOf: (r) => ctx.traceOf(r), paths }),
  );
  void ctx.app.register(otlpRoutes(ctx));
  return { usage: usageStats(ctx) };
}
