// Client commands of the work graph: `next` (claim the best ready item, optionally waiting for one)
// and `work add ... --after W1,W2` (create an item with prerequisites).
import type { Command } from 'commander';
import { CommanderError } from 'commander';
import { resolveToken, resolveUrl } from '../client/config.js';
import { EXIT, agentOf, call, clientOptions, print, request, type ClientFlags } from './client-io.js';

/** "30s", "500ms", "2m" or plain seconds, as milliseconds. */
export function parseWait(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v.trim());
  if (!m) throw new CommanderError(EXIT.usage, 'usage', `--wait must be a duration like 30s, 500ms or 1m, got "${v}"`);
  const n = Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : 1000);
  return Math.round(n);
}

/** call() with a time limit beyond the wait (call's own limit is for answers that come at once). */
function callWaiting(flags: ClientFlags, path: string, body: unknown, timeoutMs: number) {
  return request({ url: resolveUrl(flags.url), token: resolveToken(flags.token), timeoutMs }, 'POST', path, body, (message) => {
    process.stderr.write(message + '\n');
    process.exit(EXIT.unavailable);
  });
}

const list = (v: string): string[] =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

export function registerWorkGraphCommands(program: Command): void {
  clientOptions(program.command('next'))
    .description('claim the best ready work item (priority, then age); exit 1 when nothing is ready')
    .option('--agent <id>', 'agent id (else AGENT_ID)')
    .option('--type <types>', 'only these work types (comma-separated)', list)
    .option('--team <teams>', 'only these teams (comma-separated)', list)
    .option('--min-priority <p>', 'low|medium|high|critical')
    .option('--wait <duration>', 'wait up to this long for an item (e.g. 30s; at most 60s)', parseWait)
    .action(async (o) => {
      const wait: number = o.wait ?? 0;
      const body = { agent_id: agentOf(o), work_types: o.type, teams: o.team, min_priority: o.minPriority, wait_ms: wait || undefined };
      const res = await callWaiting(o, '/api/coordination/claim-next', body, wait + 10_000);
      if (res.status === 204) {
        process.stderr.write('nothing ready\n');
        process.exit(EXIT.refused);
      }
      print(o, res, (b) => `claimed ${b.work_id} for ${b.claim.agent_id} (fencing token ${b.claim.fencing_token}, priority ${b.claim.priority})`);
    });

  const work = program.command('work').description('work items');
  clientOptions(work.command('add <work_type>'))
    .description('create a pending work item, optionally after prerequisites')
    .option('--id <work_id>', 'work id (default work_<nanoseconds>)')
    .option('--description <text>', 'description')
    .option('--priority <p>', 'low|medium|high|critical')
    .option('--team <team>', 'team')
    .option('--after <ids>', 'prerequisites: ready once these are completed (comma-separated)', list)
    .action(async (workType: string, o) => {
      const res = await call<{ work: { work_item_id: string } }>(o, 'POST', '/api/work', {
        work_id: o.id,
        work_type: workType,
        description: o.description,
        priority: o.priority,
        team: o.team,
        depends_on: o.after,
      });
      print(o, res, (b) => b.work.work_item_id);
    });
}
