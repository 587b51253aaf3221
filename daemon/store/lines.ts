// Reads a file line by line from one Buffer, so a large snapshot or journal never becomes one
// giant string (which would double the memory a restart needs).
import { promises as fsp } from 'node:fs';

export interface Line {
  text: string;
  /** Byte offset of the line's start, and whether a newline ended it. */
  offset: number;
  terminated: boolean;
}

export async function readLines(file: string): Promise<Line[] | null> {
  let buf: Buffer;
  try {
    buf = await fsp.readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const lines: Line[] = [];
  let start = 0;
  while (start < buf.length) {
    const nl = buf.indexOf(10, start);
    const end = nl === -1 ? buf.length : nl;
    lines.push({ text: buf.toString('utf8', start, end), offset: start, terminated: nl !== -1 });
    start = end + 1;
  }
  return lines;
}
