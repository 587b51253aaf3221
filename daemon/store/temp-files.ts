// Temp files a killed daemon leaves behind (writeFileAtomic's `.<name>.<pid>.<random>.tmp`, the
// storage probe). Removed at start, and only ours: names of files we write, in our pattern.
import { promises as fsp } from 'node:fs';
import path from 'node:path';

const TEMP_NAME = /^\.(.+)\.\d+\.[0-9a-f]{8}\.tmp$/;
const PROBE_NAME = '.storage-probe.tmp';

/** Call only while holding the instance lock (no other daemon of ours writes here). Returns the paths removed. */
export async function cleanOwnTempFiles(dirs: string[], bases: string[]): Promise<string[]> {
  const ours = new Set(bases.flatMap((b) => [b, b + '.meta']));
  const removed: string[] = [];
  for (const dir of dirs) {
    let names: string[];
    try {
      names = await fsp.readdir(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      const m = TEMP_NAME.exec(name);
      if (name !== PROBE_NAME && !(m && ours.has(m[1]))) continue;
      const file = path.join(dir, name);
      const st = await fsp.lstat(file).catch(() => null);
      if (!st?.isFile()) continue;
      await fsp.rm(file, { force: true });
      removed.push(file);
    }
  }
  return removed;
}
