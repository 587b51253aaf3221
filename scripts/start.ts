// `npm start`: the daemon on the default data dir, and the console against it when there is a
// terminal. `npm run demo`: the same on a throw-away data dir (removed on exit) with the fleet
// simulator running.
//
// With the console, the daemon never gets the terminal: its stdout (JSON logs) and stderr are
// pipes. Node restores a terminal's modes on exit for every stdio fd that is a terminal, so a
// daemon sharing the console's terminal would, on exiting, switch the console's raw mode off (keys
// echoed, `q` ignored); its messages would also land in the middle of the console's screen. They are
// kept instead, and shown after the console is gone when the daemon failed.
//
// Exit code: the console's when it quits (q: 0); the daemon's when it could not start or stopped on
// its own (1 when that was 0 or a signal), after stopping the console; 0 on SIGINT/SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from '../shared/node-flags.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const daemonCli = path.join(root, 'dist/daemon/cli.js');
const consoleCli = path.join(root, 'dist/tui/cli.js');
const demo = process.argv.includes('--demo');
const port = process.env.AI_PROCESSOR_PORT ?? (demo ? '0' : '4001');
const STOP_WAIT_MS = 30_000; // the daemon bounds its own shutdown at 25 s

const args = [...NODE_FLAGS, daemonCli, 'start', '--port', port];
const demoDir = demo ? mkdtempSync(path.join(os.tmpdir(), 'ai-processor-demo-')) : null;
if (demoDir) args.push('--data-dir', demoDir, '--lease-ms', '15000');
const interactive = process.stdout.isTTY === true && existsSync(consoleCli);
const daemon = spawn(process.execPath, args, { stdio: ['ignore', interactive ? 'pipe' : 'inherit', interactive ? 'pipe' : 'inherit'] });
let sim: ChildProcess | null = null;
let ui: ChildProcess | null = null;
let stopping = false;

// What the daemon said, for when it fails with the console up: all of stderr (bounded) and the
// last log lines of stdout.
let daemonStderr = '';
const lastLogs: string[] = [];
daemon.stderr?.on('data', (c: Buffer) => {
  daemonStderr = (daemonStderr + c.toString()).slice(-65_536);
});

const alive = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;
const exited = (c: ChildProcess) => (alive(c) ? new Promise<void>((resolve) => c.once('exit', () => resolve())) : Promise.resolve());

/** Stops every child (SIGTERM), waits for them (bounded), reports the daemon's failure, exits. */
async function finish(code: number, reason?: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  for (const c of [ui, sim, daemon]) if (c && alive(c)) c.kill('SIGTERM');
  const all = Promise.all([ui, sim, daemon].filter((c): c is ChildProcess => c !== null).map(exited));
  const inTime = await Promise.race([all.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), STOP_WAIT_MS).unref())]);
  if (!inTime) {
    process.stderr.write(`ai-processor did not stop within ${STOP_WAIT_MS / 1000} s; killing it\n`);
    if (alive(daemon)) daemon.kill('SIGKILL');
    code = code || 1;
  }
  if (!reason && daemon.exitCode) {
    reason = `ai-processor stopped with code ${daemon.exitCode}:`;
    code = code || daemon.exitCode;
  }
  if (reason) {
    const errors = lastLogs.filter((l) => /"level":[56]\d/.test(l)); // error, fatal
    process.stderr.write(`${reason}\n${daemonStderr}${errors.length ? errors.join('\n') + '\n' : ''}`);
  }
  if (demoDir && !alive(daemon)) rmSync(demoDir, { recursive: true, force: true });
  process.exit(code);
}

process.on('SIGINT', () => void finish(0));
process.on('SIGTERM', () => void finish(0));
process.on('SIGHUP', () => void finish(0));

daemon.on('exit', (code, signal) => {
  if (stopping) return;
  if (!interactive) {
    if (demoDir) rmSync(demoDir, { recursive: true, force: true });
    process.exit(code ?? 1);
  }
  const how = signal ? `was killed by ${signal}` : ui ? `stopped on its own (exit code ${code})` : `exited with code ${code}`;
  void finish(code || 1, ui ? `ai-console: the daemon (ai-processor) ${how}; the console was closed.` : `ai-processor ${how} before it was ready:`);
});

if (interactive) {
  let buf = '';
  daemon.stdout!.on('data', (chunk: Buffer) => {
    buf += chunk.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      lastLogs.push(line);
      if (lastLogs.length > 20) lastLogs.shift();
      if (ui || stopping || !line.includes('"msg":"listening"')) continue;
      let url: string | undefined;
      try {
        url = JSON.parse(line).url;
      } catch {
        /* not a log line */
      }
      if (typeof url === 'string') startConsole(url);
    }
  });
}

function startConsole(url: string): void {
  if (demo)
    sim = spawn(process.execPath, [daemonCli, 'simulate', '--url', url, '--agents', '12', '--rate', '8', '--claude-sessions', '3'], { stdio: 'ignore' });
  ui = spawn(process.execPath, [...NODE_FLAGS, consoleCli, '--url', url], { stdio: 'inherit' });
  ui.on('exit', (code, signal) => void finish(code ?? (signal === 'SIGINT' ? 0 : 1)));
}
