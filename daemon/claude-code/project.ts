// The repository of a directory: its git top-level and origin URL. Looked up on the filesystem
// (only meaningful when the session runs on the daemon's host), once per directory, bounded in
// depth, in bytes read and in time: a hook is never kept waiting on a slow disk. Only the `.git`
// entries above the directory and git's own config are looked at, never a file a lease names. A
// walk up stops at the first directory already known: edits spread over a tree cost one `stat` per
// new directory, not a walk and a read of git's config each.
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import { normalizeAbsPath, normalizeOrigin } from '../../shared/path-leases.js';
import type { JsonObject } from '../../shared/types.js';
import type { PathTarget } from '../core/path-leases.js';

/** Directories walked up from cwd at most. */
const MAX_DEPTH = 64;
/** How long a hook waits for a first lookup; a slower one still fills the cache for the next event. */
const WAIT_MS = 50;
const MAX_CACHED = 2048;
/** Most bytes read of a `.git` file, a `commondir` file or a git config. */
const MAX_READ = 256 * 1024;

export interface RepoInfo {
  /** The directory holding `.git`. */
  toplevel: string;
  /** The normalised `remote "origin"` URL, null when there is none. */
  origin: string | null;
}

export class ProjectResolver {
  private cache = new Map<string, RepoInfo | null>();
  private pending = new Map<string, Promise<RepoInfo | null>>();

  /** The project name, null when cwd is in no repository, undefined when not known (yet). */
  async resolve(cwd: string): Promise<string | null | undefined> {
    const repo = await this.repo(cwd);
    return repo === undefined ? undefined : repo === null ? null : path.basename(repo.toplevel) || null;
  }

  /** The repository holding `dir`: null when none, undefined when not known (yet). */
  async repo(dir: string, waitMs = WAIT_MS): Promise<RepoInfo | null | undefined> {
    if (!path.isAbsolute(dir)) return undefined;
    if (this.cache.has(dir)) return this.cache.get(dir);
    let lookup = this.pending.get(dir);
    if (!lookup) {
      lookup = gitRepo(dir, (d) => this.cache.get(d)).then((info) => {
        this.pending.delete(dir);
        if (this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value as string);
        this.cache.set(dir, info);
        return info;
      });
      this.pending.set(dir, lookup);
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), waitMs)));
    try {
      return await Promise.race([lookup, late]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The base name of the nearest directory at or above `dir` holding `.git` (a directory, or a worktree's file). */
export async function gitTopLevelName(dir: string): Promise<string | null> {
  const info = await gitRepo(dir);
  return info ? path.basename(info.toplevel) || null : null;
}

/**
 * The nearest directory at or above `dir` holding `.git`, and its repository's origin. `known`
 * answers for a directory above `dir` looked up before (undefined: not known): the walk stops there.
 */
export async function gitRepo(dir: string, known: (dir: string) => RepoInfo | null | undefined = () => undefined): Promise<RepoInfo | null> {
  let current = path.resolve(dir);
  for (let i = 0; i < MAX_DEPTH; i++) {
    if (i > 0) {
      const above = known(current);
      if (above !== undefined) return above;
    }
    const dotGit = path.join(current, '.git');
    try {
      const st = await stat(dotGit);
      return { toplevel: current, origin: await originOf(dotGit, st.isDirectory()).catch(() => null) };
    } catch {
      /* not here: one level up */
    }
    const parent = path.dirname(current);
    if (parent === current) return null;
    current = parent;
  }
  return null;
}

async function readBounded(file: string): Promise<string | null> {
  let fh;
  try {
    fh = await open(file, 'r');
    // As large as the file (a git config is a few hundred bytes), never more than MAX_READ.
    const size = Math.min(MAX_READ, (await fh.stat()).size);
    const buf = Buffer.allocUnsafe(size);
    const { bytesRead } = await fh.read(buf, 0, size, 0);
    return buf.subarray(0, bytesRead).toString('utf8');
  } catch {
    return null;
  } finally {
    await fh?.close();
  }
}

/** A worktree's `.git` is a file naming its git dir; the config is in the common dir of all worktrees. */
async function originOf(dotGit: string, isDir: boolean): Promise<string | null> {
  let gitDir = dotGit;
  if (!isDir) {
    const text = await readBounded(dotGit);
    const m = text && /^gitdir:\s*(.+)$/m.exec(text);
    if (!m) return null;
    gitDir = path.resolve(path.dirname(dotGit), m[1].trim());
  }
  const common = await readBounded(path.join(gitDir, 'commondir'));
  const commonDir = common ? path.resolve(gitDir, common.trim()) : gitDir;
  const config = await readBounded(path.join(commonDir, 'config'));
  return config ? originFromConfig(config) : null;
}

/** The url of `[remote "origin"]` in a git config text, normalised. */
export function originFromConfig(text: string): string | null {
  let inOrigin = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('[')) {
      inOrigin = /^\[remote\s+"origin"\]$/.test(line);
      continue;
    }
    if (!inOrigin) continue;
    const m = /^url\s*=\s*(.+)$/.exec(line);
    if (m) return normalizeOrigin(m[1].replace(/^"(.*)"$/, '$1'));
  }
  return null;
}

async function exists(dir: string): Promise<boolean> {
  try {
    await stat(dir);
    return true;
  } catch {
    return false;
  }
}

/** The field of a Claude Code session's agent record holding the repository its repo-context hook reported. */
export const REPO_CONTEXT_FIELD = 'repo_context';

/** A session's repository as reported by its repo-context hook: its top-level on the session's host, and its normalised origin. */
export function repoContextOf(data: JsonObject | undefined): RepoInfo | null {
  const c = data?.[REPO_CONTEXT_FIELD];
  if (c === null || typeof c !== 'object' || Array.isArray(c) || typeof c.toplevel !== 'string') return null;
  return { toplevel: c.toplevel, origin: typeof c.origin === 'string' ? c.origin : null };
}

/**
 * A file placed in the repository a session reported, when the daemon cannot look at it itself:
 * the request is not from this host, or the top-level does not exist here (the session is on
 * another host, or the checkout moved). Null when the file is not under that top-level, or when
 * the daemon can look (its own walk up then decides). `host` is the host part of worktree ids.
 */
export async function placeInContext(abs: string, ctx: RepoInfo, local: boolean, host: string): Promise<PathTarget | null> {
  const n = normalizeAbsPath(abs);
  if (!n.ok) return null;
  const full = '/' + n.path.replace(/\/$/, '');
  const rel = path.posix.relative(ctx.toplevel, full);
  if (rel === '' || rel.startsWith('..') || path.posix.isAbsolute(rel)) return null;
  if (local && (await exists(ctx.toplevel))) return null;
  const worktree = `${host}:${ctx.toplevel}`;
  return { repo: ctx.origin ?? worktree, worktree, path: rel };
}
