// One daemon per data directory. A pid file created exclusively; a leftover one whose process is
// gone (crash, SIGKILL) is taken over at once, so a restart after a kill is not delayed.
import { promises as fsp } from 'node:fs';
import path from 'node:path';

export interface InstanceLock {
  release(): Promise<void>;
}

export class DataDirInUseError extends Error {
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(`data directory ${dataDir} is in use by another ai-processor (pid ${pid}); stop it first or choose another --data-dir`);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function acquireInstanceLock(metaDir: string, dataDir: string): Promise<InstanceLock> {
  const file = path.join(metaDir, 'daemon.pid');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await fsp.open(file, 'wx');
      await handle.writeFile(`${process.pid}\n`);
      await handle.sync();
      await handle.close();
      return {
        release: async () => {
          const pid = Number((await fsp.readFile(file, 'utf8').catch(() => '')).trim());
          if (pid === process.pid) await fsp.rm(file, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number((await fsp.readFile(file, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) throw new DataDirInUseError(dataDir, pid);
      await fsp.rm(file, { force: true }); // stale: its process is gone
    }
  }
  throw new Error(`could not lock ${dataDir}`);
}
