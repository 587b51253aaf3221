// Starting the real daemon as a child process (shared by the benchmarks and the tests).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from '../shared/node-flags.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository root, from bench/ (sources under vitest) or dist/bench/ (compiled). */
export const ROOT = path.basename(path.dirname(here)) === 'dist' ? path.resolve(here, '../..') : path.resolve(here, '..');
export const CLI = path.join(ROOT, 'dist/daemon/cli.js');

export interface DaemonProcess {
  url: string;
  port: number;
  dataDir: string;
  proc: ChildProcess;
  logs: string[];
  stderr: string[];
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface SpawnOptions {
  dataDir: string;
  args?: string[];
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
  port?: number;
  /** Extra flags for node itself (e.g. --cpu-prof). */
  nodeArgs?: string[];
  /** Without the shipped launchers' node flags (NODE_FLAGS): as someone running the bin by hand. */
  bareNode?: boolean;
}

export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env = {
    ...process.env,
    AI_PROCESSOR_TOKEN: undefined,
    AI_PROCESSOR_URL: undefined,
    OTEL_EXPORTER_OTLP_ENDPOINT: undefined,
    ...extra,
  } as NodeJS.ProcessEnv;
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  return env;
}

/** Spawns `ai-processor start` on a free port and resolves once it logs "listening". */
export async function spawnDaemon(opts: SpawnOptions): Promise<DaemonProcess> {
  // As the shipped launchers run it (node-flags.ts); a test's own node flags come after and win.
  const args = [
    ...(opts.bareNode ? [] : NODE_FLAGS),
    ...(opts.nodeArgs ?? []),
    CLI,
    'start',
    '--data-dir',
    opts.dataDir,
    '--port',
    String(opts.port ?? 0),
    ...(opts.args ?? []),
  ];
  const proc = spawn(process.execPath, args, { env: cleanEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  const stderr: string[] = [];
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`daemon did not start in time:\n${logs.join('\n')}\n${stderr.join('')}`)), opts.timeoutMs ?? 20_000);
    let buf = '';
    proc.stdout.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        logs.push(line);
        if (line.includes('"msg":"listening"')) {
          clearTimeout(timer);
          resolve(JSON.parse(line).url);
        }
      }
    });
    proc.stderr.on('data', (c: Buffer) => stderr.push(c.toString()));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited with ${code} before listening:\n${stderr.join('')}`));
    });
  });
  return {
    url,
    port: Number(new URL(url).port),
    dataDir: opts.dataDir,
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

/** Resident set size of a process in bytes (Linux). */
export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** A process's resident pages split into its own and those it shares with other processes (Linux smaps_rollup). */
export function residentOf(pid: number): { private: number; shared: number } {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024;
  return { private: kb('Private_Clean') + kb('Private_Dirty'), shared: kb('Shared_Clean') + kb('Shared_Dirty') };
}

/** CPU seconds (user + system) a process has used so far (Linux). */
export function cpuSecondsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100/s)
}
