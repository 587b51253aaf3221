// ai-processor's client commands, the ones agents and scripts use. The entry point daemon/cli.ts
// loads this module for everything but the legacy fast path and `start` (parsed on its own root,
// program-root.ts), and adds the daemon's `start` so that the program's help lists it.
// Exit codes: 0 done, 1 refused by the daemon (conflict, not holder, unknown id), 2 usage error,
// 3 daemon unreachable or failing.
import { CommanderError, type Command } from 'commander';
import { EXIT, agentOf, call, clientOptions, print } from './client-io.js';
import { num } from '../shared/cli-args.js';
import type { StatusResponse } from '../shared/protocol.js';
import { parseDuration } from '../shared/duration.js';
import { resolveAgent } from '../client/config.js';
import { commandModules } from './index.js';
import { programRoot, runProgram, type CommandModule } from './program-root.js';

/** A duration option ("30m", "2h", "90s") as milliseconds; anything else is a usage error (exit 2). */
function duration(name: string) {
  return (v: string): number => {
    const ms = parseDuration(v);
    if (ms === null) throw new CommanderError(EXIT.usage, 'usage', `${name} must be a duration such as 90s, 30m or 2h, got "${v}"`);
    return ms;
  };
}

/** `first`: commands registered before the client verbs (the daemon's `start`, from daemon/cli.ts). */
export function buildProgram(first: CommandModule[] = []): Command {
  const program = programRoot();

  for (const register of first) register(program);

  clientOptions(program.command('claim <work_id>'))
    .description('claim a work item (created if unknown); exit 1 if another agent holds it')
    .option('--agent <id>', 'agent id (else AGENT_ID)')
    .option('--type <work_type>', 'work type, for a new item')
    .option('--description <text>', 'description, for a new item')
    .option('--priority <p>', 'low|medium|high|critical, for a new item')
    .option('--team <team>', 'team, for a new item')
    .option('--lease <duration>', "this claim's lease, e.g. 90s, 30m, 2h (default: the daemon's --lease-ms; at most its --max-lease-ms)", duration('--lease'))
    .action(async (workId: string, o) => {
      const res = await call<{ claim: { agent_id: string; fencing_token: number }; idempotent?: boolean }>(o, 'POST', '/api/coordination/claim', {
        work_id: workId,
        agent_id: agentOf(o),
        work_type: o.type,
        description: o.description,
        priority: o.priority,
        team: o.team,
        lease_ms: o.lease,
      });
      print(o, res, (b) => `claimed ${workId} for ${b.claim.agent_id} (fencing token ${b.claim.fencing_token}${b.idempotent ? ', already held' : ''})`);
    });

  clientOptions(program.command('progress <work_id> <percent>'))
    .description('report progress (0-100) on a held claim')
    .option('--agent <id>', 'agent id (else AGENT_ID)')
    .option('--status <status>', 'status to set (default in_progress)')
    .action(async (workId: string, percent: string, o) => {
      const res = await call<{ work: { progress: number; status: string } }>(o, 'POST', '/api/coordination/progress', {
        work_id: workId,
        agent_id: agentOf(o),
        progress: num('percent')(percent),
        status: o.status,
      });
      print(o, res, (b) => `${workId}: ${b.work.progress}% ${b.work.status}`);
    });

  clientOptions(program.command('complete <work_id>'))
    .description('complete a held claim; it moves to the coordination log')
    .option('--agent <id>', 'agent id (else AGENT_ID)')
    .option('--result <text>', 'result (default success)')
    .option('--points <n>', 'velocity points (default 5)', num('--points'))
    .option('--failed', 'mark the work failed instead of completed')
    .action(async (workId: string, o) => {
      const res = await call<{ work: { status: string }; log: { velocity_points: number } }>(o, 'POST', '/api/coordination/complete', {
        work_id: workId,
        agent_id: agentOf(o),
        result: o.result,
        velocity_points: o.points,
        status: o.failed ? 'failed' : undefined,
      });
      print(o, res, (b) => `${workId}: ${b.work.status} (${b.log.velocity_points} points)`);
    });

  clientOptions(program.command('release <work_id>'))
    .description('give a held claim back (pending for others)')
    .option('--agent <id>', 'agent id (else AGENT_ID)')
    .option('--reason <text>', 'why')
    .action(async (workId: string, o) => {
      const res = await call(o, 'POST', '/api/coordination/release', { work_id: workId, agent_id: agentOf(o), reason: o.reason });
      print(o, res, () => `${workId}: released`);
    });

  clientOptions(program.command('register [agent_id]'))
    .description('register an agent (id generated when omitted); idempotent')
    .option('--team <team>', 'team')
    .option('--specialization <s>', 'specialization')
    .option('--capacity <n>', 'capacity', num('--capacity'))
    .action(async (agentId: string | undefined, o) => {
      const res = await call<{ created: boolean; agent: { agent_id: string; team: string } }>(o, 'POST', '/api/agents', {
        agent_id: resolveAgent(agentId),
        team: o.team,
        specialization: o.specialization,
        capacity: o.capacity,
      });
      print(o, res, (b) => `${b.created ? 'registered' : 'already registered'} ${b.agent.agent_id} (${b.agent.team})`);
    });

  clientOptions(program.command('heartbeat [agent_id]'))
    .description("renew an agent's lease")
    .option('--status <status>', 'agent status to set')
    .option('--workload <n>', 'current workload', num('--workload'))
    .action(async (agentId: string | undefined, o) => {
      const id = agentId ?? agentOf(o);
      const res = await call<{ lease_expires_at: string }>(o, 'POST', `/api/agents/${encodeURIComponent(id)}/heartbeat`, {
        status: o.status,
        current_workload: o.workload,
      });
      print(o, res, (b) => `${id}: lease until ${b.lease_expires_at}`);
    });

  clientOptions(program.command('create-work <work_type>'))
    .description('create a pending work item')
    .option('--id <work_id>', 'work id (default work_<nanoseconds>)')
    .option('--description <text>', 'description')
    .option('--priority <p>', 'low|medium|high|critical')
    .option('--team <team>', 'team')
    .action(async (workType: string, o) => {
      const res = await call<{ work: { work_item_id: string } }>(o, 'POST', '/api/work', {
        work_id: o.id,
        work_type: workType,
        description: o.description,
        priority: o.priority,
        team: o.team,
      });
      print(o, res, (b) => b.work.work_item_id);
    });

  clientOptions(program.command('status'))
    .description("revision, checksum and counts of the daemon's state")
    .action(async (o) => {
      const res = await call<StatusResponse>(o, 'GET', '/api/coordination/status');
      print(
        o,
        res,
        (b) => `revision ${b.revision}  checksum ${String(b.checksum).slice(0, 16)}  work ${b.counts.work}  agents ${b.counts.agents}  log ${b.counts.log}`,
      );
    });

  for (const register of commandModules) register(program);
  return program;
}

export async function main(argv = process.argv, first: CommandModule[] = []): Promise<void> {
  await runProgram(buildProgram(first), argv);
}
