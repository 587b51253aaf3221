// The lock convention shared with shell scripts: `<file>.lock` held while a file is rewritten.
// proper-lockfile creates it as a directory (mkdir); the legacy helper creates a plain file with
// noclobber. Either form counts as held. Staleness rule (documented in the README): a lock
// *directory* whose mtime is older than `staleMs` is removed (proper-lockfile's rule); a plain lock
// *file* is never removed by us, only reported, because we cannot know that its owner is gone.
// A lock directory of our own (see clearOwnStaleLock) whose daemon is gone is removed at start.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import lockfile from 'proper-lockfile';

export const LOCK_STALE_MS = 10_000;

export class LockBusyError extends Error {
  constructor(
    readonly file: string,
    readonly legacyFileLock: boolean,
  ) {
    super(legacyFileLock ? `${file}.lock is a plain lock file (legacy helper) older than the stale limit; remove it if no script is running` : `${file}.lock is held`);
  }
}

const OWNER = 'owner';

/**
 * Our lock directories carry an `owner` file naming the daemon's pid, so a lock left behind by a
 * daemon that was killed can be told apart from a script's lock and removed at the next start.
 */
export async function clearOwnStaleLock(file: string): Promise<boolean> {
  const dir = `${file}.lock`;
  let text: string;
  try {
    text = await fsp.readFile(path.join(dir, OWNER), 'utf8');
  } catch {
    return false; // no lock, or not ours (scripts' lock directories have no owner file)
  }
  let owner: { pid?: number; tool?: string } = {};
  try {
    owner = JSON.parse(text);
  } catch {
    // Empty or cut short: a daemon was killed while writing it. Only we write owner files, and no
    // other daemon can be running on this data dir (we hold its instance lock), so it is stale.
  }
  if (owner.pid === process.pid) return false;
  if (typeof owner.pid === 'number') {
    try {
      process.kill(owner.pid, 0);
      return false; // its process is alive
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EPERM') return false;
    }
  }
  await fsp.rm(path.join(dir, OWNER), { force: true });
  await fsp.rmdir(dir).catch(() => {});
  return true;
}

/**
 * Runs fn while holding `<file>.lock`; retries for about `waitMs`, then throws LockBusyError. A wait
 * longer than LOCK_STALE_MS outlasts any abandoned lock directory (used on shutdown).
 */
export async function withFileLock<T>(file: string, fn: () => Promise<T>, waitMs = 2_000): Promise<T> {
  const retries = Math.ceil(waitMs / 100);
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(file, {
      lockfilePath: `${file}.lock`,
      realpath: false,
      stale: LOCK_STALE_MS,
      update: LOCK_STALE_MS / 3,
      retries: { retries, minTimeout: 5, maxTimeout: 100, factor: 1.3 },
      onCompromised: () => {
        /* our lock dir was removed or touched by someone else; the write itself is atomic */
      },
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOCKED') throw new LockBusyError(file, false);
    if (code === 'ENOTDIR') throw new LockBusyError(file, true);
    throw err;
  }
  const ownerFile = path.join(`${file}.lock`, OWNER);
  try {
    await fsp.writeFile(ownerFile, JSON.stringify({ tool: 'ai-processor', pid: process.pid }));
    return await fn();
  } finally {
    await fsp.rm(ownerFile, { force: true }).catch(() => {});
    await release().catch(() => {});
  }
}
