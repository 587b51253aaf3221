// `ai-processor hooks repo-context`: a Claude Code command hook (SessionStart, CwdChanged) for
// sessions on another host than the daemon. It reads the hook's JSON on stdin, asks git for the
// top-level and origin of the session's cwd, and sends them to the daemon, which cannot look at
// this host's files. It never blocks or harms the session: whatever happens (not a repository, no
// git, daemon down, bad input) it prints nothing and exits 0, each step bounded in time.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { REPO_CONTEXT_PATH } from '../shared/claude-code/settings.js';
import { resolveToken, resolveUrl } from '../client/config.js';
import { requestJson } from '../client/node-request.js';

/** Each bound is well under the hook's timeout: the session goes on either way. */
const STDIN_WAIT_MS = 1000;
const GIT_WAIT_MS = 1000;
const POST_WAIT_MS = 2000;
/** A hook event is small; a SessionStart one well under this. */
const MAX_STDIN = 1024 * 1024;

function readStdin(): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = () => {
      clearTimeout(timer);
      process.stdin.pause();
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const timer = setTimeout(done, STDIN_WAIT_MS);
    process.stdin.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_STDIN) return done();
      chunks.push(c);
    });
    process.stdin.on('end', done);
    process.stdin.on('error', done);
  });
}

/** git's answer (trimmed), or null when it fails, is missing or is slow. */
function git(cwd: string, args: string[]): Promise<string | null> {
  return new Promise((resolve) => {
    execFile('git', ['-C', cwd, ...args], { timeout: GIT_WAIT_MS, maxBuffer: 64 * 1024, windowsHide: true }, (err, stdout) =>
      resolve(err ? null : stdout.trim()),
    );
  });
}

/** The hook event's session and cwd; null for anything else. */
export function sessionOf(text: string): { session_id: string; cwd: string } | null {
  try {
    const v = JSON.parse(text) as { session_id?: unknown; cwd?: unknown };
    if (typeof v.session_id !== 'string' || typeof v.cwd !== 'string' || !path.isAbsolute(v.cwd)) return null;
    return { session_id: v.session_id, cwd: v.cwd };
  } catch {
    return null;
  }
}

async function report(urlFlag?: string): Promise<void> {
  const session = sessionOf(await readStdin());
  if (!session) return;
  const toplevel = await git(session.cwd, ['rev-parse', '--show-toplevel']);
  if (!toplevel || !path.isAbsolute(toplevel)) return; // not in a repository: nothing to tell
  const origin = await git(session.cwd, ['config', '--get', 'remote.origin.url']);
  await requestJson(resolveUrl(urlFlag), 'POST', REPO_CONTEXT_PATH, {
    body: { session_id: session.session_id, toplevel, origin: origin || null },
    token: resolveToken(),
    timeoutMs: POST_WAIT_MS,
  });
}

/** Runs the hook: exit 0, nothing on stdout (Claude Code adds a SessionStart hook's stdout to the session's context). */
export async function runRepoContext(urlFlag?: string): Promise<never> {
  await report(urlFlag).catch(() => undefined);
  process.exit(0);
}
