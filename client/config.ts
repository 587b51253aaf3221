// The clients' configuration: the only place the client layer and the client programs read the
// environment. Each value: the flag, else the environment variable, else the default.
import os from 'node:os';
import { DEFAULT_URL } from '../shared/protocol.js';

export type Env = Readonly<Record<string, string | undefined>>;

/** The process environment, for programs that pass it on whole (the legacy helper's AGENT_* and COORDINATION_DIR, the unit paths). */
export function processEnv(): Env {
  return process.env;
}

/** The user's home directory (HOME, else the OS's idea of it): where Claude Code keeps its user settings. */
export function homeDir(env: Env = process.env): string {
  return env.HOME || os.homedir();
}

/** The daemon URL every client uses: --url, else AI_PROCESSOR_URL, else DEFAULT_URL. */
export function resolveUrl(flag?: string, env: Env = process.env): string {
  return (flag || env.AI_PROCESSOR_URL || DEFAULT_URL).replace(/\/+$/, '');
}

/** The bearer token: the flag (null or empty: explicitly none), else AI_PROCESSOR_TOKEN, else none. */
export function resolveToken(flag?: string | null, env: Env = process.env): string | null {
  if (flag !== undefined) return flag || null;
  return env.AI_PROCESSOR_TOKEN || null;
}

/** The acting agent of the CLI verbs: --agent, else AGENT_ID. */
export function resolveAgent(flag?: string, env: Env = process.env): string | undefined {
  return flag ?? env.AGENT_ID;
}

/** The help text of the client flags, from the same defaults. */
export const URL_HELP = `daemon URL (else AI_PROCESSOR_URL, else ${DEFAULT_URL})`;
export const TOKEN_HELP = 'bearer token (else AI_PROCESSOR_TOKEN)';
