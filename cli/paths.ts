// `ai-processor paths claim|release|list`: path leases for shell agents. Paths are given as on the
// command line: relative ones are made absolute from the current directory (the daemon places them
// in their repository), unless --repo names the repository and the paths are relative to it.
import path from 'node:path';
import { CommanderError, type Command } from 'commander';
import { parseDuration } from '../shared/duration.js';
import { EXIT, agentOf, call, clientOptions, print } from './client-io.js';

/** Absolute from the current directory, keeping a trailing `/` (a directory lease). */
function absolute(p: string): string {
  const abs = path.resolve(p);
  return p.endsWith('/') && !abs.endsWith('/') ? abs + '/' : abs;
}

function pathsOf(list: string[], repo: string | undefined): string[] {
  return repo === undefined ? list.map(absolute) : list;
}

function ttl(v: string): number {
  const ms = parseDuration(v);
  if (ms === null) throw new CommanderError(EXIT.usage, 'usage', `--ttl must be a duration such as 90s, 30m or 2h, got "${v}"`);
  return ms;
}

interface Lease {
  agent_id: string;
  repo: string;
  path: string;
  mode: string;
  work_id: string | null;
  since: string;
  expires_at: string | null;
  fencing_token: number;
}

const line = (l: Lease) =>
  `${l.path}  ${l.mode}  ${l.agent_id}${l.work_id ? ` (${l.work_id})` : ''}  since ${l.since}${l.expires_at ? ` until ${l.expires_at}` : ''}  [${l.repo}]`;

export function registerPathsCommand(program: Command): void {
  const paths = program.command('paths').description('path leases: no two agents edit the same files (exit 1 if another agent holds one)');

  clientOptions(paths.command('claim <path...>'))
    .description('lease files or directories (trailing /: everything under it), all or none')
    .option('--agent <id>', 'agent id (else AGENT_ID)')
    .option('--work <work_id>', 'tie the leases to a work item the agent holds (they end with it)')
    .option('--shared', 'a shared lease (compatible with other shared ones)')
    .option('--ttl <duration>', 'the leases end after this, e.g. 30m', ttl)
    .option('--reason <text>', 'why')
    .option('--repo <repo>', 'the repository (origin URL or top-level directory); the paths are then relative to it')
    .action(async (list: string[], o) => {
      const res = await call(o, 'POST', '/api/paths/claim', {
        agent_id: agentOf(o),
        paths: pathsOf(list, o.repo),
        mode: o.shared ? 'shared' : 'exclusive',
        work_id: o.work,
        ttl_ms: o.ttl,
        reason: o.reason,
        repo: o.repo,
      });
      if (res.status === 409 && !o.json && Array.isArray(res.body.holders)) {
        for (const h of res.body.holders as Lease[]) process.stderr.write(`held: ${line(h)}\n`);
      }
      print(o, res, (b) =>
        (b.leases as Lease[])
          .map((l) => `leased ${line(l)}`)
          .concat((b.warnings as Lease[]).map((l) => `warning: also held in another worktree: ${line(l)}`))
          .join('\n'),
      );
    });

  clientOptions(paths.command('release [path...]'))
    .description("end the agent's leases on these paths (all of them when none is given)")
    .option('--agent <id>', 'agent id (else AGENT_ID)')
    .option('--repo <repo>', 'the repository; the paths are then relative to it')
    .action(async (list: string[], o) => {
      const res = await call(o, 'POST', '/api/paths/release', {
        agent_id: agentOf(o),
        paths: list.length ? pathsOf(list, o.repo) : undefined,
        repo: list.length ? o.repo : undefined,
      });
      print(o, res, (b) => `released ${(b.released as Lease[]).length} lease(s)`);
    });

  clientOptions(paths.command('list'))
    .description('path leases, optionally of one agent, under a path prefix (relative to the repository)')
    .option('--agent <id>', "only this agent's")
    .option('--prefix <path>', 'only paths starting with this')
    .option('--repo <repo>', 'only in this repository')
    .action(async (o) => {
      const q = new URLSearchParams();
      if (o.agent) q.set('agent_id', o.agent);
      if (o.prefix) q.set('prefix', o.prefix);
      if (o.repo) q.set('repo', o.repo);
      const res = await call(o, 'GET', `/api/paths${q.size ? '?' + q.toString() : ''}`);
      print(o, res, (b) => ((b.leases as Lease[]).length ? (b.leases as Lease[]).map(line).join('\n') : 'no path leases'));
    });
}
