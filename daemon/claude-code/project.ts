// The project of a session: the name of the git top-level directory that holds its cwd. Looked up
// on the filesystem (only meaningful when the session runs on the daemon's host), once per cwd,
// bounded in depth and in time: a hook is never kept waiting on a slow disk.
import { stat } from 'node:fs/promises';
import path from 'node:path';

/** Directories walked up from cwd at most. */
const MAX_DEPTH = 64;
/** How long a hook waits for a first lookup; a slower one still fills the cache for the next event. */
const WAIT_MS = 50;
const MAX_CACHED = 2048;

export class ProjectResolver {
  private cache = new Map<string, string | null>();
  private pending = new Map<string, Promise<string | null>>();

  /** The project name, null when cwd is in no repository, undefined when not known (yet). */
  async resolve(cwd: string): Promise<string | null | undefined> {
    if (!path.isAbsolute(cwd)) return undefined;
    if (this.cache.has(cwd)) return this.cache.get(cwd);
    let lookup = this.pending.get(cwd);
    if (!lookup) {
      lookup = gitTopLevelName(cwd).then((name) => {
        this.pending.delete(cwd);
        if (this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value as string);
        this.cache.set(cwd, name);
        return name;
      });
      this.pending.set(cwd, lookup);
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), WAIT_MS)));
    try {
      return await Promise.race([lookup, late]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The base name of the nearest directory at or above `dir` holding `.git` (a directory, or a worktree's file). */
export async function gitTopLevelName(dir: string): Promise<string | null> {
  let current = path.resolve(dir);
  for (let i = 0; i < MAX_DEPTH; i++) {
    try {
      await stat(path.join(current, '.git'));
      return path.basename(current) || null;
    } catch {
      /* not here: one level up */
    }
    const parent = path.dirname(current);
    if (parent === current) return null;
    current = parent;
  }
  return null;
}
