// Durable file primitives: atomic replace (unique temp in the same directory, fsync, rename,
// fsync the directory), so a reader never sees a half-written file and a crash leaves old or new.
// In io/ (no daemon state): the store, the span file and the `baseline` command all write this way.
import { promises as fsp, constants, renameSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await fsp.open(dir, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export interface AtomicWriteOptions {
  /** Runs once the content is on disk, before the rename (e.g. to note the write in a journal). */
  beforeRename?: (sha256: string) => Promise<void>;
  /**
   * Last check, run synchronously right before a synchronous rename, so nothing can happen in
   * between but the two system calls; returning false abandons the write.
   */
  renameIf?: () => boolean;
  /**
   * Called right after the rename with the stat of what was put in place, taken from the temp file
   * before it: a stat of the path after the rename may already be of another writer's change.
   */
  renamed?: (stat: { ino: number; size: number; mtimeMs: number }) => void;
  /** fsync the file and its directory (default). Off for files that are only hints. */
  durable?: boolean;
  /**
   * Background priority for chunked data: after each chunk, pause this many times as long as
   * making and hashing it took, so a large write takes at most 1/(1+pace) of the event loop and
   * requests never queue behind more than one chunk.
   */
  pace?: number;
}

/**
 * Writes `data` (a string, or chunks written one by one so a large file never blocks the event
 * loop for long; a chunk may be a reused buffer: each is written before the next is asked for) atomically. Returns the sha256 of what was written, or null if abandoned.
 */
export async function writeFileAtomic(
  file: string,
  data: string | Buffer | Iterable<string | Uint8Array>,
  opts: AtomicWriteOptions = {},
): Promise<string | null> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const hash = createHash('sha256');
  const handle = await fsp.open(tmp, 'wx', 0o644);
  let renamed = false;
  try {
    if (typeof data === 'string' || Buffer.isBuffer(data)) {
      hash.update(data);
      await handle.writeFile(data);
    } else {
      const iter = data[Symbol.iterator]();
      for (;;) {
        const t0 = opts.pace ? performance.now() : 0;
        const next = iter.next();
        if (next.done) break;
        const chunk = next.value;
        hash.update(chunk);
        const busy = opts.pace ? performance.now() - t0 : 0;
        await writeAll(handle, typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
        if (busy > 0) await new Promise((r) => setTimeout(r, busy * opts.pace!));
      }
    }
    if (opts.durable !== false) await handle.sync();
    const written = opts.renamed ? await handle.stat() : null; // rename keeps the inode, size and mtime
    await handle.close();
    const digest = hash.digest('hex');
    if (opts.beforeRename) await opts.beforeRename(digest);
    if (opts.renameIf && !opts.renameIf()) return null;
    renameSync(tmp, file);
    renamed = true;
    if (written) opts.renamed!({ ino: written.ino, size: written.size, mtimeMs: written.mtimeMs });
    if (opts.durable !== false) await fsyncDir(dir);
    return digest;
  } finally {
    if (!renamed) {
      await handle.close().catch(() => {});
      await fsp.rm(tmp, { force: true });
    }
  }
}

/**
 * One write call may write less than asked (a full disk): loop until all is written. Without the
 * loop, a short write was fsynced and renamed into place as if whole.
 */
async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) {
    const { bytesWritten } = await handle.write(bytes, off, bytes.length - off);
    if (bytesWritten <= 0) throw Object.assign(new Error('no space left on device (short write)'), { code: 'ENOSPC' });
    off += bytesWritten;
  }
}

export async function readFileIfExists(file: string): Promise<string | null> {
  try {
    return await fsp.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

export async function readBufferIfExists(file: string): Promise<Buffer | null> {
  try {
    return await fsp.readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}
