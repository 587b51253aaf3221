// The lock convention shared with shell scripts: `<file>.lock` held while a file is rewritten.
// We create it as a directory (mkdir, atomic, what scripts do too); the legacy helper creates a
// plain file with noclobber. Either form counts as held. Staleness rule (documented in the README):
// a lock *directory* whose mtime is older than LOCK_STALE_MS is removed; a plain lock *file* is never
// removed by us, only reported and waited on, because we cannot know that its owner is gone.
//
// Our own lock directory holds an `owner` file (pid and a token of this holding) and its mtime is
// refreshed while we hold it. Release removes it only when the owner file is still ours, and says
// so when it is not: a lock of ours is never left behind silently, and a foreign one never removed.
// (proper-lockfile, used before, compared the directory's mtime with the one it set: writing the
// owner file changed it, so a lock held over its update period counted as "compromised" and its
// release left the directory behind.)
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';

export const LOCK_STALE_MS = 10_000;
/** How often a held lock's mtime is refreshed: well inside the stale limit. */
const REFRESH_MS = LOCK_STALE_MS / 4;

export type LockHolder = 'script' | 'legacy-file' | 'ai-processor';

export class LockBusyError extends Error {
  constructor(
    readonly file: string,
    readonly holder: LockHolder,
  ) {
    const lock = `${path.basename(file)}.lock`;
    super(
      holder === 'legacy-file'
        ? `${lock} is a plain lock file (legacy helper's lock); waiting for it: remove it if no script is running`
        : holder === 'ai-processor'
          ? `${lock} is held by another ai-processor process`
          : `${lock} is held (a lock directory not made by this daemon); waiting, it counts as abandoned ${LOCK_STALE_MS / 1000} s after its last change`,
    );
  }

  get legacyFileLock(): boolean {
    return this.holder === 'legacy-file';
  }
}

const OWNER = 'owner';

interface Owner {
  tool?: string;
  pid?: number;
  token?: string;
}

async function readOwner(dir: string): Promise<Owner | null> {
  let text: string;
  try {
    text = await fsp.readFile(path.join(dir, OWNER), 'utf8');
  } catch {
    return null;
  }
  try {
    const o = JSON.parse(text) as unknown;
    return o && typeof o === 'object' ? o : {};
  } catch {
    return {}; // empty or cut short: a daemon was killed while writing it
  }
}

/** Removes a lock directory: its owner file and the directory (not a directory that holds anything else). */
async function removeLockDir(dir: string): Promise<void> {
  await fsp.rm(path.join(dir, OWNER), { force: true });
  await fsp.rmdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

/**
 * A lock directory left behind by a daemon that was killed (its owner file names a pid that is
 * gone) is removed at the next start. Only we write owner files, and no other daemon can be
 * running on this data dir (we hold its instance lock).
 */
export async function clearOwnStaleLock(file: string): Promise<boolean> {
  const dir = `${file}.lock`;
  const owner = await readOwner(dir);
  if (owner === null) return false; // no lock, or not ours (scripts' lock directories have no owner file)
  if (owner.pid === process.pid) return false;
  if (typeof owner.pid === 'number') {
    try {
      process.kill(owner.pid, 0);
      return false; // its process is alive
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EPERM') return false;
    }
  }
  await removeLockDir(dir).catch(() => {});
  return true;
}

export interface LockOptions {
  /** How long to wait for the lock before LockBusyError (a wait over LOCK_STALE_MS outlasts an abandoned lock directory). */
  waitMs?: number;
  /** Told when the lock was not ours any more at release (removed or replaced by someone else). */
  onLost?: (why: string) => void;
  /** Told when an abandoned lock directory was removed. */
  onStaleRemoved?: (ageMs: number) => void;
}

/** One attempt: true when the lock was taken; else who holds it. Removes an abandoned lock directory. */
async function tryLock(dir: string, opts: LockOptions): Promise<true | LockHolder> {
  try {
    await fsp.mkdir(dir);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  let st;
  try {
    st = await fsp.lstat(dir);
  } catch {
    return 'script'; // removed in between: the caller tries again
  }
  if (!st.isDirectory()) return 'legacy-file';
  const age = Date.now() - st.mtimeMs;
  if (age > LOCK_STALE_MS) {
    try {
      await removeLockDir(dir);
      opts.onStaleRemoved?.(age);
    } catch {
      /* not empty (someone keeps files there) or not removable: treated as held */
    }
    return 'script';
  }
  const owner = await readOwner(dir);
  return owner?.tool === 'ai-processor' && owner.pid !== process.pid ? 'ai-processor' : 'script';
}

/**
 * Runs fn while holding `<file>.lock`; retries for about `waitMs`, then throws LockBusyError naming
 * who holds it. The lock is released (removed) afterwards whatever fn did.
 */
export async function withFileLock<T>(file: string, fn: () => Promise<T>, waitOrOpts: number | LockOptions = {}): Promise<T> {
  const opts: LockOptions = typeof waitOrOpts === 'number' ? { waitMs: waitOrOpts } : waitOrOpts;
  const dir = `${file}.lock`;
  const deadline = Date.now() + (opts.waitMs ?? 2_000);
  let pause = 5;
  for (;;) {
    const got = await tryLock(dir, opts);
    if (got === true) break;
    if (Date.now() >= deadline) throw new LockBusyError(file, got);
    await new Promise((resolve) => setTimeout(resolve, pause));
    pause = Math.min(100, Math.ceil(pause * 1.3));
  }
  const token = randomBytes(8).toString('hex');
  const ownerFile = path.join(dir, OWNER);
  // Refreshes the mtime so nobody takes a lock we still hold for abandoned.
  const refresh = setInterval(() => {
    const now = new Date();
    fsp.utimes(dir, now, now).catch(() => {});
  }, REFRESH_MS);
  refresh.unref();
  try {
    await fsp.writeFile(ownerFile, JSON.stringify({ tool: 'ai-processor', pid: process.pid, token }));
    return await fn();
  } finally {
    clearInterval(refresh);
    const owner = await readOwner(dir);
    if (owner?.token === token) {
      await removeLockDir(dir).catch((err: Error) => opts.onLost?.(`cannot remove ${path.basename(dir)}: ${err.message}`));
    } else {
      opts.onLost?.(
        owner === null
          ? `${path.basename(dir)} was removed by someone else while held`
          : `${path.basename(dir)} was taken over by another writer while held; left to it`,
      );
    }
  }
}
