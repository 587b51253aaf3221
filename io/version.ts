// The package version, for the daemon and the client programs alike (io/: I/O helpers with no daemon
// state, usable on both sides).
import { readFileSync } from 'node:fs';

/** The package version, read once from package.json (two levels up from dist/io or one from io/). */
export const VERSION: string = (() => {
  for (const rel of ['../../package.json', '../package.json']) {
    try {
      return (JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { version: string }).version;
    } catch {
      /* try the next location */
    }
  }
  return '0.0.0';
})();
