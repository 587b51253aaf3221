// What the Claude Code tests share: Claude Code's recorded hook payloads, session ids of their own
// per test file, and git run with an identity (the tests make the repositories the sessions edit).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REFERENCE } from './daemon.js';

const HOOK_FIXTURES = path.join(REFERENCE, 'claude-code/hooks');

/** The recorded payload of one hook event (`test/fixtures/claude-code/hooks/<name>.json`), with `overrides` on top. */
export function hookFixture(name: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...(JSON.parse(readFileSync(path.join(HOOK_FIXTURES, `${name}.json`), 'utf8')) as Record<string, unknown>), ...overrides };
}

/** A generator of session ids (UUID-shaped) starting with `prefix` (8 hex digits), one new id per call. */
export function sessionIds(prefix: string): () => string {
  let n = 0;
  return () => `${prefix}-0000-4000-8000-${String(++n).padStart(12, '0')}`;
}

/** Runs git in `cwd` with a fixed author, and returns what it printed. */
export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' },
  });
}
