// Starts the real daemon (compiled dist/daemon/cli.js) as a child process on a free loopback port.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, cpSync, chmodSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(ROOT, 'dist/daemon/cli.js');
export const CONSOLE_CLI = path.join(ROOT, 'dist/tui/cli.js');
export const REFERENCE = path.resolve(ROOT, '../shared/reference');

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

export interface DaemonHandle {
  url: string;
  port: number;
  dataDir: string;
  proc: ChildProcess;
  logs: string[];
  stderr: string[];
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

export interface StartOptions {
  dataDir?: string;
  args?: string[];
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
}

export async function startDaemon(opts: StartOptions = {}): Promise<DaemonHandle> {
  const dataDir = opts.dataDir ?? tempDir();
  const args = [CLI, 'start', '--data-dir', dataDir, '--port', '0', ...(opts.args ?? [])];
  const env = { ...process.env, AI_PROCESSOR_TOKEN: undefined, AI_PROCESSOR_URL: undefined, OTEL_EXPORTER_OTLP_ENDPOINT: undefined, ...opts.env } as NodeJS.ProcessEnv;
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  const proc = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  const stderr: string[] = [];
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`daemon did not start in time:\n${logs.join('\n')}\n${stderr.join('')}`)), opts.timeoutMs ?? 15_000);
    let buf = '';
    proc.stdout!.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        logs.push(line);
        try {
          const j = JSON.parse(line);
          if (j.msg === 'listening') {
            clearTimeout(timer);
            resolve(j.url);
          }
        } catch {
          /* not JSON */
        }
      }
    });
    proc.stderr!.on('data', (c: Buffer) => stderr.push(c.toString()));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited with ${code} before listening:\n${stderr.join('')}`));
    });
  });
  const port = Number(new URL(url).port);
  return {
    url,
    port,
    dataDir,
    proc,
    logs,
    stderr,
    exited,
    stop: async (signal = 'SIGTERM') => {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill(signal);
      return exited;
    },
  };
}

/** Runs the CLI to completion. */
export function runCli(args: string[], env: Record<string, string | undefined> = {}, input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const e = { ...process.env, ...env } as NodeJS.ProcessEnv;
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
