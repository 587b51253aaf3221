// `npm start` / `npm run demo` (dist/scripts/start.js) as a user runs them: in a real terminal (tmux),
// with HOME and XDG_STATE_HOME in a temp dir so the default data dir is fresh, on a free port. The
// screen is read with capture-pane; the daemon's pid comes from its pid file in the data dir.
//   - the console appears with its panels, and `q` stops the console AND the daemon, exit 0;
//   - a daemon that dies under the console closes the console (which would otherwise keep
//     reconnecting with its keys dead: the daemon used to share the terminal and switch raw mode
//     off when it exited) and exits non-zero with the terminal in canonical mode;
//   - a daemon that cannot start (port taken) ends the script non-zero with its message shown;
//   - the demo shows a live simulated fleet and removes its throw-away data dir on exit.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, tempDir } from './helpers/daemon.js';
import { requireTool } from './helpers/system-tools.js';
import { NODE_FLAGS } from '../shared/node-flags.js';

const HAS_TMUX = requireTool('tmux');
const START = path.join(ROOT, 'dist/scripts/start.js');

interface Run {
  socket: string;
  home: string;
  stateHome: string;
  tmp: string;
  port: number;
}

const runs: Run[] = [];

/** The test's environment minus everything that would point the daemon or console elsewhere. */
function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm-256color' };
  for (const k of Object.keys(env)) if (k.startsWith('AI_PROCESSOR_') || k === 'STATE_DIRECTORY' || k === 'NO_COLOR' || k === 'NOTIFY_SOCKET') delete env[k];
  return env;
}

function tmux(run: Run, ...args: string[]): string {
  return execFileSync('tmux', ['-L', run.socket, ...args], { encoding: 'utf8', env: baseEnv() });
}

const screen = (run: Run): string => tmux(run, 'capture-pane', '-p', '-t', 'start');

async function waitForScreen(run: Run, pred: (s: string) => boolean, what: string, ms = 20_000): Promise<string> {
  const end = Date.now() + ms;
  let last: string;
  for (;;) {
    last = screen(run);
    if (pred(last)) return last;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; screen:\n${last}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

const running = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Runs start.js in a fresh tmux server; the pane then prints its exit code and the terminal mode. */
async function startScript(args: string[] = [], port?: number): Promise<Run> {
  const home = tempDir('aip-start-home-');
  const run: Run = {
    socket: `aip-start-${process.pid}-${runs.length}-${Date.now().toString(36)}`,
    home,
    stateHome: path.join(home, 'state'),
    tmp: path.join(home, 'tmp'),
    port: port ?? (await freePort()),
  };
  runs.push(run);
  mkdirSync(run.tmp, { recursive: true });
  const q = JSON.stringify;
  const cmd =
    `cd ${q(ROOT)} && env HOME=${q(home)} XDG_STATE_HOME=${q(run.stateHome)} TMPDIR=${q(run.tmp)} AI_PROCESSOR_PORT=${args.includes('--demo') ? 0 : run.port} ` +
    `${q(process.execPath)} ${q(START)} ${args.join(' ')}; echo START_EXITED=$?; stty -a | grep -oE -- '-?icanon'; sleep 120`;
  tmux(run, 'new-session', '-d', '-s', 'start', '-x', '100', '-y', '30', cmd);
  return run;
}

const dataDirOf = (run: Run) => path.join(run.stateHome, 'ai-processor');
const daemonPid = (run: Run): number => Number(readFileSync(path.join(dataDirOf(run), '.ai-processor/daemon.pid'), 'utf8').trim());

afterEach(() => {
  for (const run of runs.splice(0)) {
    let pid: number | null = null;
    try {
      pid = daemonPid(run);
    } catch {
      // no daemon (or the demo's, elsewhere)
    }
    try {
      const socketPath = tmux(run, 'display-message', '-p', '#{socket_path}').trim();
      tmux(run, 'kill-server'); // SIGHUP to the pane: start.js stops its children
      if (socketPath) rmSync(socketPath, { force: true });
    } catch {
      // already gone
    }
    if (pid && running(pid)) process.kill(pid, 'SIGKILL');
    rmSync(run.home, { recursive: true, force: true });
  }
});

const PANELS = '1 Agents  2 Claims  3 Latency  4 Entropy  5 Traces  6 Health';

describe.skipIf(!HAS_TMUX)('npm start in a real terminal', () => {
  it('opens the console with its panels on a fresh default data dir; q stops console and daemon, exit 0', async () => {
    const run = await startScript();
    const s = await waitForScreen(run, (x) => x.includes(PANELS) && /ai-console 127\.0\.0\.1:\d+ +connected/.test(x), 'the console');
    expect(s).toContain(`127.0.0.1:${run.port}`);
    expect(s).toContain('q:quit');
    // The default data dir under XDG_STATE_HOME, with the daemon's pid file.
    const pid = daemonPid(run);
    expect(running(pid)).toBe(true);
    expect(await accepts(run.port)).toBe(true);
    // Run with the node flags the shipped launchers give it (shared/node-flags.ts).
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toEqual(expect.arrayContaining(NODE_FLAGS));

    tmux(run, 'send-keys', '-t', 'start', 'q');
    const after = await waitForScreen(run, (x) => /^-?icanon$/m.test(x), 'the script to exit');
    expect(after).toContain('START_EXITED=0');
    expect(after).toMatch(/^icanon$/m);
    expect(running(pid)).toBe(false);
    expect(await accepts(run.port)).toBe(false);
    expect(readdirSync(dataDirOf(run))).toContain('.ai-processor');
  });

  it('closes the console and exits non-zero when the daemon dies under it', async () => {
    const run = await startScript();
    await waitForScreen(run, (x) => x.includes(PANELS) && x.includes('connected'), 'the console');
    process.kill(daemonPid(run), 'SIGKILL');
    const after = await waitForScreen(run, (x) => /^-?icanon$/m.test(x), 'the script to exit');
    expect(after).toContain('the daemon (ai-processor) was killed by SIGKILL; the console was closed.');
    expect(after).toMatch(/START_EXITED=[1-9]/);
    expect(after).toMatch(/^icanon$/m);
    expect(after).not.toContain('q:quit');
  });

  it("exits non-zero with the daemon's message when it cannot start (port taken)", async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    try {
      const run = await startScript([], (taken.address() as net.AddressInfo).port);
      const after = await waitForScreen(run, (x) => x.includes('START_EXITED='), 'the script to exit');
      expect(after).toMatch(/ai-processor exited with code [1-9]\d* before it was ready/);
      expect(after).toMatch(/START_EXITED=[1-9]/);
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });

  it('npm run demo: a live simulated fleet; q stops everything and removes the demo data dir', async () => {
    const run = await startScript(['--demo']);
    const first = await waitForScreen(run, (x) => x.includes(PANELS) && /sim_agent_\d+/.test(x), 'simulated agents');
    const revision = (s: string) => Number(/rev (\d+)/.exec(s)?.[1] ?? NaN);
    const rev1 = revision(first);
    await waitForScreen(run, (x) => revision(x) > rev1, 'the revision to move');
    tmux(run, 'send-keys', '-t', 'start', '2');
    await waitForScreen(
      run,
      (x) => /Claims \/ work \(\d+\)/.test(x) && /sim_agent_\d+ +(claimed|in_progress|completed|failed)/.test(x),
      'claims held by simulated agents',
    );
    const demoDirs = readdirSync(run.tmp).filter((f) => f.startsWith('ai-processor-demo-'));
    expect(demoDirs).toHaveLength(1);
    const pid = Number(readFileSync(path.join(run.tmp, demoDirs[0], '.ai-processor/daemon.pid'), 'utf8').trim());

    tmux(run, 'send-keys', '-t', 'start', 'q');
    const after = await waitForScreen(run, (x) => /^-?icanon$/m.test(x), 'the demo to exit');
    expect(after).toContain('START_EXITED=0');
    expect(running(pid)).toBe(false);
    expect(existsSync(path.join(run.tmp, demoDirs[0]))).toBe(false);
  });
});
