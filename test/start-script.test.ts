// `npm start` / `npm run demo` (the package.json scripts) as a user runs them: in a real terminal
// (tmux), with HOME and XDG_STATE_HOME in a temp dir so the default data dir is fresh, on a free
// port. The screen is read with capture-pane; the process's pid comes from the daemon's pid file in
// the data dir (the daemon runs in a worker thread of the console's process).
//   - the console appears with its panels in one process with the daemon, and `q` stops the
//     console AND the daemon cleanly (pid file removed), exit 0;
//   - SIGTERM / SIGHUP (kill, a closed terminal) shut the daemon down cleanly, exit 0, terminal restored;
//   - the daemon's JSON logs never land on the console's screen (an external edit it logs);
//   - a daemon that cannot start (port taken) ends the script non-zero with its message shown;
//   - the demo shows a live simulated fleet and removes its throw-away data dir on exit.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, tempDir } from './helpers/daemon.js';
import { requireTool } from './helpers/system-tools.js';
import { NODE_FLAGS } from '../shared/node-flags.js';
import { freePort } from '../io/free-port.js';

const HAS_TMUX = requireTool('tmux');
/** The command a package.json script runs, with this node: what `npm start` / `npm run demo` do. */
function scriptCommand(name: 'start' | 'demo'): string {
  const scripts = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  const cmd = scripts[name];
  expect(cmd).toMatch(/^node /);
  return `${JSON.stringify(process.execPath)} ${cmd.slice('node '.length)}`;
}

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
/** The screen and everything scrolled off it. */
const scrollback = (run: Run): string => tmux(run, 'capture-pane', '-p', '-S', '-1000', '-t', 'start');

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

/** Runs a script in a fresh tmux server; the pane then prints its exit code and the terminal mode. */
async function startScript(script: 'start' | 'demo' = 'start', port?: number): Promise<Run> {
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
    `cd ${q(ROOT)} && env HOME=${q(home)} XDG_STATE_HOME=${q(run.stateHome)} TMPDIR=${q(run.tmp)} AI_PROCESSOR_PORT=${script === 'demo' ? 0 : run.port} ` +
    `${scriptCommand(script)}; echo START_EXITED=$?; stty -a | grep -oE -- '-?icanon'; sleep 120`;
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
  it('opens the console with its panels on a fresh default data dir, one process with the daemon; q stops both cleanly, exit 0', async () => {
    const run = await startScript();
    const s = await waitForScreen(run, (x) => x.includes(PANELS) && /ai-console 127\.0\.0\.1:\d+ +connected/.test(x), 'the console');
    expect(s).toContain(`127.0.0.1:${run.port}`);
    expect(s).toContain('q:quit');
    // The default data dir under XDG_STATE_HOME, with the daemon's pid file: the pid of the script's
    // own process, run with the node flags the shipped launchers give it (shared/node-flags.ts).
    const pid = daemonPid(run);
    expect(running(pid)).toBe(true);
    expect(await accepts(run.port)).toBe(true);
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    expect(cmdline).toEqual(expect.arrayContaining([...NODE_FLAGS, 'dist/scripts/start.js']));

    tmux(run, 'send-keys', '-t', 'start', 'q');
    const after = await waitForScreen(run, (x) => /^-?icanon$/m.test(x), 'the script to exit');
    expect(after).toContain('START_EXITED=0');
    expect(after).toMatch(/^icanon$/m);
    expect(running(pid)).toBe(false);
    expect(await accepts(run.port)).toBe(false);
    // A clean stop: the daemon removed its pid file (a killed thread or process leaves it behind).
    expect(readdirSync(path.join(dataDirOf(run), '.ai-processor'))).not.toContain('daemon.pid');
  });

  for (const signal of ['SIGTERM', 'SIGHUP'] as const) {
    it(`${signal} closes the console and shuts the daemon down cleanly, exit 0, terminal restored`, async () => {
      const run = await startScript();
      await waitForScreen(run, (x) => x.includes(PANELS) && x.includes('connected'), 'the console');
      const pid = daemonPid(run);
      process.kill(pid, signal);
      const after = await waitForScreen(run, (x) => /^-?icanon$/m.test(x), 'the script to exit');
      expect(after).toContain('START_EXITED=0');
      expect(after).toMatch(/^icanon$/m);
      expect(after).not.toContain('q:quit');
      expect(running(pid)).toBe(false);
      expect(readdirSync(path.join(dataDirOf(run), '.ai-processor'))).not.toContain('daemon.pid');
    });
  }

  it('closing the terminal (its tmux session killed) stops the daemon cleanly', async () => {
    const run = await startScript();
    await waitForScreen(run, (x) => x.includes(PANELS) && x.includes('connected'), 'the console');
    const pid = daemonPid(run);
    // The pane goes away: SIGHUP, and every later write to the terminal fails.
    tmux(run, 'kill-session', '-t', 'start');
    const pidFile = path.join(dataDirOf(run), '.ai-processor/daemon.pid');
    for (const end = Date.now() + 30_000; running(pid) && Date.now() < end;) await new Promise((r) => setTimeout(r, 100));
    expect(running(pid)).toBe(false);
    // A clean stop removes the pid file; a crash on the dead terminal would leave it.
    expect(existsSync(pidFile)).toBe(false);
  });

  it("keeps the daemon's logs off the console's screen (an external edit it logs while the console draws)", async () => {
    const run = await startScript();
    await waitForScreen(run, (x) => x.includes(PANELS) && x.includes('connected'), 'the console');
    tmux(run, 'send-keys', '-t', 'start', '2');
    await waitForScreen(run, (x) => /Claims \/ work \(0\)/.test(x), 'the empty claims panel');
    // A legacy tool replaces work_claims.json: the daemon picks the edit up and logs it (info).
    const file = path.join(dataDirOf(run), 'work_claims.json');
    copyFileSync(path.join(ROOT, 'test/fixtures/legacy/work_claims.json'), `${file}.tmp`);
    renameSync(`${file}.tmp`, file);
    const claims = (JSON.parse(readFileSync(path.join(ROOT, 'test/fixtures/legacy/work_claims.json'), 'utf8')) as unknown[]).length;
    await waitForScreen(run, (x) => x.includes(`Claims / work (${claims})`), 'the picked-up claims');
    tmux(run, 'send-keys', '-t', 'start', 'q');
    await waitForScreen(run, (x) => /^-?icanon$/m.test(x), 'the script to exit');
    const all = scrollback(run);
    expect(all).toContain('START_EXITED=0');
    expect(all).not.toContain('"msg"');
  });

  it("exits non-zero with the daemon's message when it cannot start (port taken)", async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    try {
      const run = await startScript('start', (taken.address() as net.AddressInfo).port);
      const after = await waitForScreen(run, (x) => x.includes('START_EXITED='), 'the script to exit');
      expect(after).toMatch(/ai-processor exited with code [1-9]\d* before it was ready/);
      expect(after).toMatch(/START_EXITED=[1-9]/);
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });

  it('npm run demo: a live simulated fleet; q stops everything and removes the demo data dir', async () => {
    const run = await startScript('demo');
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
