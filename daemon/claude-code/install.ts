// Wires the Claude Code hooks endpoint and its telemetry intake (OTLP/HTTP) into the daemon.
import type { DaemonContext } from '../context.js';
import { ProjectResolver } from './project.js';
import { claudeCodeRoutes } from './routes.js';
import { otlpRoutes, usageStats } from './otlp-routes.js';

export function installClaudeCode(ctx: DaemonContext): void {
  void ctx.app.register(claudeCodeRoutes({ service: ctx.service, logger: ctx.logger.child({ component: 'claude-code' }), projects: new ProjectResolver(), traceOf: (r) => ctx.traceOf(r) }));
  void ctx.app.register(otlpRoutes(ctx));
  ctx.stats.usage = usageStats(ctx);
}
