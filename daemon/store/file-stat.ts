// Which version of a file is on disk, by its stat (inode, size, mtime): a legacy file is read again
// only when this changed, and our own write is recognised by the stat of what we put in place.
import { promises as fsp, statSync } from 'node:fs';

export type FileStat = { ino: number; size: number; mtimeMs: number } | null;

/** The file's stat, or null when it does not exist (or cannot be stat'ed). */
export async function statOf(file: string): Promise<FileStat> {
  try {
    const st = await fsp.stat(file);
    return { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs };
  } catch {
    return null;
  }
}

/** statOf, synchronously: for the last check right before a rename. */
export function statSyncOf(file: string): FileStat {
  try {
    const st = statSync(file);
    return { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs };
  } catch {
    return null;
  }
}

export const sameStat = (a: FileStat, b: FileStat): boolean =>
  (a === null && b === null) || (!!a && !!b && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs);
