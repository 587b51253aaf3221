// The number parser of the command-line flags, shared by the daemon's `start` and the client
// programs (kept apart from exit-codes.ts: the legacy helper's fast path does not load commander).
import { CommanderError } from 'commander';
import { EXIT } from './exit-codes.js';

/** A commander argument parser for a number flag: a usage error (exit 2) for anything else. */
export function num(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw new CommanderError(EXIT.usage, 'usage', `${name} must be a number, got "${v}"`);
    return n;
  };
}
