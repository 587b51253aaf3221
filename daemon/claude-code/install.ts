// Wires the Claude Code hooks endpoint into the daemon.
import type { DaemonContext } from '../context.js';
import { ProjectResolver } from './project.js';
import { claudeCodeRoutes } from './routes.js';

export function installClaudeCode(ctx: DaemonContext): void {
  void ctx.app.register(claudeCodeRoutes({ service: ctx.service, logger: ctx.logger.child({ component: 'claude-code' }), projects: new ProjectResolver(), traceOf: (r) => ctx.traceOf(r) }));
}
