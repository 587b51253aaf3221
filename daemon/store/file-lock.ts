// The lock convention shared with shell scripts: `<file>.lock` held while a file is rewritten.
// proper-lockfile creates it as a directory (mkdir); the legacy helper creates a plain file with
// noclobber. Either form counts as held. Staleness rule (documented in the README): a lock
// *directory* whose mtime is older than `staleMs` is removed (proper-lockfile's rule); a plain lock
// *file* is never removed by us, only reported, because we cannot know that its owner is gone.
import lockfile from 'proper-lockfile';

export const LOCK_STALE_MS = 30_000;

export class LockBusyError extends Error {
  constructor(
    readonly file: string,
    readonly legacyFileLock: boolean,
  ) {
    super(legacyFileLock ? `${file}.lock is a plain lock file (legacy helper) older than the stale limit; remove it if no script is running` : `${file}.lock is held`);
  }
}

/** Runs fn while holding `<file>.lock`; retries briefly, then throws LockBusyError. */
export async function withFileLock<T>(file: string, fn: () => Promise<T>, retries = 40): Promise<T> {
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(file, {
      lockfilePath: `${file}.lock`,
      realpath: false,
      stale: LOCK_STALE_MS,
      update: LOCK_STALE_MS / 3,
      retries: { retries, minTimeout: 5, maxTimeout: 100, factor: 1.5 },
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
  try {
    return await fn();
  } finally {
    await release().catch(() => {});
  }
}
