// Starts the real daemon (compiled dist/daemon/cli.js) as a child process on a free loopback port.
import { spawn } from 'node:child_process';
import { CLI, ROOT, spawnDaemon, type DaemonProcess } from '../../bench/proc.js';
import { mkdtempSync, cpSync, chmodSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export { CLI, ROOT };
export const CONSOLE_CLI = path.join(ROOT, 'dist/tui/cli.js');
/** The legacy reference data (test/fixtures/README.md says where it comes from). */
export const REFERENCE = path.join(ROOT, 'test/fixtures');

export function tempDir(prefix = 'aip-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A temp data dir holding a writable copy of a reference folder (`legacy` or `original`). */
export function copyReference(which: 'legacy' | 'original'): string {
  const dir = tempDir(`aip-${which}-`);
  cpSync(path.join(REFERENCE, which), dir, { recursive: true });
  for (const f of readdirSync(dir)) chmodSync(path.join(dir, f), 0o644);
  return dir;
}

export type DaemonHandle = DaemonProcess;

export interface StartOptions {
  dataDir?: string;
  args?: string[];
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
  /** Extra flags for node itself (bench/proc.ts SpawnOptions). */
  nodeArgs?: string[];
}

export function startDaemon(opts: StartOptions = {}): Promise<DaemonHandle> {
  // A start waits on the daemon's own 'listening' line; the limit only bounds a daemon that never
  // gets there, so it is generous for a loaded 2-core machine.
  return spawnDaemon({ timeoutMs: 45_000, ...opts, dataDir: opts.dataDir ?? tempDir() });
}

/** Runs the CLI to completion. */
export function runCli(
  args: string[],
  env: Record<string, string | undefined> = {},
  input?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const e = { ...process.env, ...env };
    for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
    const proc = spawn(process.execPath, [CLI, ...args], { env: e, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c) => (stdout += c));
    proc.stderr.on('data', (c) => (stderr += c));
    if (input !== undefined) proc.stdin.end(input);
    else proc.stdin.end();
    proc.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
