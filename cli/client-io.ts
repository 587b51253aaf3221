// What every client command shares: talking to the daemon, printing, exit codes.
import type { Command } from 'commander';
import { DaemonUnreachableError, type ApiResponse } from '../client/api.js';
import { TOKEN_HELP, URL_HELP, resolveAgent, resolveToken, resolveUrl } from '../client/config.js';
import { requestJson } from '../client/node-request.js';
import { EXIT } from '../shared/exit-codes.js';
import { textOf } from '../shared/text.js';
import type { ErrorBody } from '../shared/protocol.js';

export { EXIT };

export interface ClientFlags {
  url?: string;
  token?: string;
  json?: boolean;
}

export function print<T>(flags: ClientFlags, res: ApiResponse<T>, line: (b: T) => string): never {
  const ok = res.status >= 200 && res.status < 300;
  if (flags.json) process.stdout.write(JSON.stringify(res.body) + '\n');
  else if (ok) process.stdout.write(line(res.body) + '\n');
  else {
    const e = res.body as Partial<ErrorBody>;
    process.stderr.write(`${textOf(e.error ?? 'error')}: ${textOf(e.message ?? JSON.stringify(res.body))}\n`);
  }
  process.exit(ok ? EXIT.ok : res.status >= 500 ? EXIT.unavailable : EXIT.refused);
}

/** Where the client programs send their requests (resolved: client/config.ts), and how long they wait. */
export interface DaemonTarget {
  url: string;
  token: string | null;
  timeoutMs?: number;
}

/**
 * One request to the daemon over node:http (see client/node-request.ts: fetch's undici costs more
 * than the call), for every client program. An unreachable daemon ends the program through
 * `unreachable` (each program words it its own way; the exit code is EXIT.unavailable).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are read loosely by the printers
export async function request<T = Record<string, any>>(
  target: DaemonTarget,
  method: string,
  path: string,
  body: unknown,
  unreachable: (message: string) => never,
  headers?: Record<string, string>,
): Promise<ApiResponse<T>> {
  try {
    return await requestJson<T>(target.url, method, path, { body, headers, token: target.token, timeoutMs: target.timeoutMs });
  } catch (err) {
    if (err instanceof DaemonUnreachableError) unreachable(err.message);
    throw err;
  }
}

/** A request of the CLI verbs: an unreachable daemon prints the reason and exits 3. */
export function call<T = Record<string, unknown>>(flags: ClientFlags, method: string, path: string, body?: unknown): Promise<ApiResponse<T>> {
  return request<T>({ url: resolveUrl(flags.url), token: resolveToken(flags.token) }, method, path, body, (message) => {
    process.stderr.write(message + '\n');
    process.exit(EXIT.unavailable);
  });
}

export function agentOf(opts: { agent?: string }): string {
  const agent = resolveAgent(opts.agent);
  if (!agent) {
    process.stderr.write('error: --agent <id> is required (or set AGENT_ID)\n');
    process.exit(EXIT.usage);
  }
  return agent;
}

export function clientOptions(cmd: Command): Command {
  return cmd.option('--url <url>', URL_HELP).option('--token <token>', TOKEN_HELP).option('--json', "print the daemon's JSON answer");
}
