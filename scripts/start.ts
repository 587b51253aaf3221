// `npm start`: the daemon on the default data dir, and the console against it when there is a
// terminal. `npm run demo`: the same on a throw-away data dir (removed on exit) with the fleet
// simulator running.
//
// With a terminal, one process holds both: the console on the main thread (Ink needs the terminal's
// raw mode, which only the main thread has) and the daemon in a worker thread, running the same
// `ai-processor start` as the bin. Two Node processes would each map the node binary's pages and
// carry Node's own baseline; one process has them once (figures in docs/performance.md). The
// threads keep their own heaps and event loops: a long piece of daemon work does not freeze the
// console, nor a redraw the daemon. The daemon's JSON logs go to the thread's stdout, kept here
// (its last lines) and shown after the console is gone when the daemon failed; nothing of it is
// written over the console's screen. A daemon run as a service (the systemd unit) is its own
// process, and `ai-console` attaches to it from anywhere.
//
// Without a terminal (a pipe, a service manager), the daemon runs alone as a child process with
// this one's stdio, and its exit code is this one's.
//
// Exit code: the console's when it quits (q: 0); the daemon's when it could not start or stopped on
// its own (1 when that was 0), after closing the console; 0 on SIGINT/SIGTERM/SIGHUP, once the
// daemon has shut down cleanly (its files flushed, its pid file removed).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { isDaemonThreadReady, type StopDaemonThread } from '../shared/daemon-thread.js';
import { NODE_FLAGS } from '../shared/node-flags.js';
import { tuneHeapForMemory } from '../tui/heap.js';
import type { RunningConsole } from '../tui/run-console.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const daemonCli = path.join(root, 'dist/daemon/cli.js');
const consoleModule = path.join(root, 'dist/tui/run-console.js');
const demo = process.argv.includes('--demo');
const port = process.env.AI_PROCESSOR_PORT ?? (demo ? '0' : '4001');
const STOP_WAIT_MS = 30_000; // the daemon bounds its own shutdown at 25 s

const args = ['start', '--port', port];
const demoDir = demo ? mkdtempSync(path.join(os.tmpdir(), 'ai-processor-demo-')) : null;
if (demoDir) args.push('--data-dir', demoDir, '--lease-ms', '15000');
const removeDemoDir = () => demoDir && rmSync(demoDir, { recursive: true, force: true });

if (process.stdout.isTTY === true && existsSync(consoleModule)) withConsole();
else alone();

/** No terminal: the daemon as a child process on this one's stdio. */
function alone(): void {
  const daemon = spawn(process.execPath, [...NODE_FLAGS, daemonCli, ...args], { stdio: 'inherit' });
  const forward = (sig: NodeJS.Signals) => () => daemon.kill(sig);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, forward(sig === 'SIGHUP' ? 'SIGTERM' : sig));
  daemon.on('exit', (code) => {
    removeDemoDir();
    process.exit(code ?? 1);
  });
}

function withConsole(): void {
  // V8's heap flags are per process, and the daemon's heap policy changes them with its load: in one
  // process it would size the console's heap too. The console's memory sizing holds for both
  // threads instead, set before the daemon loads its data (tui/heap.ts; docs/performance.md).
  tuneHeapForMemory();
  const daemon = new Worker(daemonCli, { argv: args, stdout: true, stderr: true, env: { ...process.env, AI_PROCESSOR_HEAP_POLICY: 'off' } });
  /** The daemon thread's exit code; null while it runs. */
  let exitCode: number | null = null;
  let crash: Error | null = null;
  let ui: RunningConsole | null = null;
  // The console's exit, once loaded: it knows when the terminal went away (run-console.tsx).
  let exit: (code: number) => never = (code) => process.exit(code);
  let sim: ChildProcess | null = null;
  let stopping = false;

  // What the daemon said, for when it fails: all of stderr (bounded) and the last log lines of stdout.
  let daemonStderr = '';
  const lastLogs: string[] = [];
  daemon.stderr.on('data', (c: Buffer) => {
    daemonStderr = (daemonStderr + c.toString()).slice(-65_536);
  });
  let buf = '';
  daemon.stdout.on('data', (chunk: Buffer) => {
    buf += chunk.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      lastLogs.push(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      if (lastLogs.length > 20) lastLogs.shift();
    }
  });
  const daemonExited = new Promise<void>((resolve) =>
    daemon.once('exit', (code) => {
      exitCode = code;
      resolve();
    }),
  );
  // An exception nobody caught in the daemon's thread ends the thread (then 'exit', code 1).
  daemon.on('error', (err) => {
    crash = err;
  });

  /** Closes the console, stops the simulator and the daemon (bounded), reports a failure, exits. */
  const finish = async (code: number, stop: StopDaemonThread['signal'], reason?: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    if (ui) {
      try {
        ui.quit(code);
        // Bounded: a console broken by an exception may never report its exit.
        await Promise.race([ui.exitCode, new Promise((r) => setTimeout(r, 2000).unref())]);
      } catch {
        // the daemon is stopped all the same
      }
    }
    if (sim && sim.exitCode === null && sim.signalCode === null) sim.kill('SIGTERM');
    if (exitCode === null) daemon.postMessage({ type: 'stop', signal: stop } satisfies StopDaemonThread);
    const inTime = await Promise.race([daemonExited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), STOP_WAIT_MS).unref())]);
    if (!inTime) {
      process.stderr.write(`ai-processor did not stop within ${STOP_WAIT_MS / 1000} s; stopping it\n`);
      await daemon.terminate();
      code = code || 1;
    }
    if (!reason && exitCode) {
      reason = `ai-processor stopped with code ${exitCode}:`;
      code = code || exitCode;
    }
    if (reason) {
      const errors = lastLogs.filter((l) => /"level":[56]\d/.test(l)); // error, fatal
      const failure = crash ? `${crash.stack ?? crash.message}\n` : '';
      process.stderr.write(`${reason}\n${daemonStderr}${failure}${errors.length ? errors.join('\n') + '\n' : ''}`);
    }
    removeDemoDir();
    exit(code);
  };

  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => void finish(0, sig));
  // A failure of the console's thread still stops the daemon cleanly (its files flushed).
  process.on('uncaughtException', (err) => void finish(1, 'quit', `ai-console: ${err.stack ?? err.message}`));

  void daemonExited.then(() => {
    if (stopping) return;
    const how = crash ? `failed (${crash.message})` : `stopped on its own (exit code ${exitCode})`;
    void finish(
      exitCode || 1,
      'quit',
      ui ? `ai-console: the daemon (ai-processor) ${how}; the console was closed.` : `ai-processor exited with code ${exitCode} before it was ready:`,
    );
  });

  daemon.on('message', (m: unknown) => {
    if (!isDaemonThreadReady(m) || ui || stopping) return;
    void startConsole(m.url).catch((err: unknown) => finish(1, 'quit', `ai-console: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`));
  });

  async function startConsole(url: string): Promise<void> {
    if (demo)
      sim = spawn(process.execPath, [daemonCli, 'simulate', '--url', url, '--agents', '12', '--rate', '8', '--claude-sessions', '3'], { stdio: 'ignore' });
    const { runConsole, exitProcess } = await import('../tui/run-console.js');
    exit = exitProcess;
    if (stopping) return;
    ui = await runConsole({ url, allowWrite: false, bell: false, once: false, tuneHeap: false });
    const code = await ui.exitCode;
    void finish(code, 'quit');
  }
}
