// What every client command shares: talking to the daemon, printing, exit codes.
import { Command, CommanderError } from 'commander';
import { ApiClient, DaemonUnreachableError, type ApiResponse } from '../client/api.js';
import { requestJson } from '../client/node-request.js';

export const EXIT = { ok: 0, refused: 1, usage: 2, unavailable: 3 } as const;

export interface ClientFlags {
  url?: string;
  token?: string;
  json?: boolean;
}

export function print(flags: ClientFlags, res: ApiResponse, line: (b: Record<string, any>) => string): never {
  const ok = res.status >= 200 && res.status < 300;
  if (flags.json) process.stdout.write(JSON.stringify(res.body) + '\n');
  else if (ok) process.stdout.write(line(res.body) + '\n');
  else process.stderr.write(`${res.body.error ?? 'error'}: ${res.body.message ?? JSON.stringify(res.body)}\n`);
  process.exit(ok ? EXIT.ok : res.status >= 500 ? EXIT.unavailable : EXIT.refused);
}

/** One request over node:http (see shared/client/node-request.ts: fetch's undici costs more than the call). */
export async function call(flags: ClientFlags, method: string, path: string, body?: unknown): Promise<ApiResponse> {
  const client = new ApiClient({ url: flags.url, token: flags.token });
  try {
    return await requestJson(client.url, method, path, { body, token: flags.token ?? process.env.AI_PROCESSOR_TOKEN ?? null });
  } catch (err) {
    if (err instanceof DaemonUnreachableError) {
      process.stderr.write(err.message + '\n');
      process.exit(EXIT.unavailable);
    }
    throw err;
  }
}

export function agentOf(opts: { agent?: string }): string {
  const agent = opts.agent ?? process.env.AGENT_ID;
  if (!agent) {
    process.stderr.write('error: --agent <id> is required (or set AGENT_ID)\n');
    process.exit(EXIT.usage);
  }
  return agent;
}

export function num(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw new CommanderError(EXIT.usage, 'usage', `${name} must be a number, got "${v}"`);
    return n;
  };
}

export function clientOptions(cmd: Command): Command {
  return cmd
    .option('--url <url>', 'daemon URL (else AI_PROCESSOR_URL, else http://127.0.0.1:4001)')
    .option('--token <token>', 'bearer token (else AI_PROCESSOR_TOKEN)')
    .option('--json', 'print the daemon\'s JSON answer');
}

