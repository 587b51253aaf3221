// A small real tmpfs as a data dir (needs root). Tests that need one skip with a printed reason
// elsewhere, and fail instead under REQUIRE_SYSTEM_TOOLS=1.
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { tempDir } from './daemon.js';

export interface Tmpfs {
  dir: string;
  unmount(): void;
}

/** Mounts a tmpfs of `kib` KiB, or returns the reason it could not (throws under REQUIRE_SYSTEM_TOOLS=1). */
export function mountTmpfs(kib: number): Tmpfs | string {
  const reason = (why: string) => {
    if (process.env.REQUIRE_SYSTEM_TOOLS === '1') throw new Error(`REQUIRE_SYSTEM_TOOLS=1 but no tmpfs: ${why}`);
    console.warn(`skipping the tmpfs tests: ${why}`);
    return why;
  };
  if (process.getuid?.() !== 0) return reason('not root (mounting a tmpfs needs it)');
  const dir = tempDir('aip-tmpfs-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${kib}k`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    return reason(`mount -t tmpfs failed: ${(err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message}`);
  }
  return {
    dir,
    unmount: () => {
      execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Fills the file system: writes until nothing more fits. */
export function fill(file: string): void {
  const fd = openSync(file, 'w');
  try {
    for (const size of [64 * 1024, 4096, 512, 1]) {
      const buf = Buffer.alloc(size, 1);
      for (;;) {
        try {
          if (writeSync(fd, buf) < size) break;
        } catch {
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
}
