// Issue 16's memory budget: 200 MB for the daemon and the console together. Three scenes, each run in
// the two ways the pair runs on one machine, RSS sampled every 250 ms:
//   - `npm start`: one process, the console on the main thread and the daemon in a worker thread
//     (scripts/start.ts), in a real terminal (tmux); figures `memory_<scene>_npm_start_*`;
//   - a daemon process (as the systemd unit runs it) with `ai-console` attached in a real terminal:
//     two processes; figures `memory_<scene>_daemon_*`, `_console_*`, `_total_*` (the RSS sum, which
//     counts the pages both map, the node binary's, twice) and `_pair_resident_mb` (those pages once).
// The scenes:
//   - 10k and 50k records: 1,000 agents and 10,000 / 50,000 claims (the console bench's data dir) under 200 changes/s
//     for MEMORY_WINDOW_S; figures: daemon, console and total RSS at the end, the total's peak, and
//     its growth from the first half's peak to the second half's (flat after warm-up = ~0);
//   - the demo fleet: `ai-processor simulate` (12 agents, its default rate) for DEMO_S on an empty
//     daemon; figures: total RSS at the end and its growth over the second half.
// AIP_BENCH_MEMORY_WINDOW_S / AIP_BENCH_MEMORY_DEMO_S lengthen the scenes (e.g. 1800 for the issue's
// "after 30 minutes"); the defaults keep `npm run bench` short. AIP_BENCH_MEMORY_SCENES (e.g. `demo`)
// and AIP_BENCH_MEMORY_SETUPS (`npm-start`, `two-processes`) pick some, comma-separated.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Section } from './report.js';
import { hasTmux, loadGenerator, seedConsoleDataDir, Tmux } from './console.js';
import { CLI, ROOT, residentOf, rssOf, spawnDaemon, type DaemonProcess } from './proc.js';
import { NODE_FLAGS } from '../shared/node-flags.js';
import type { Figure } from './report.js';
import { freePort } from '../io/free-port.js';

const MEMORY_WINDOW_S = Number(process.env.AIP_BENCH_MEMORY_WINDOW_S ?? 30);
const DEMO_S = Number(process.env.AIP_BENCH_MEMORY_DEMO_S ?? 60);
const CHANGES_PER_S = 200;
const picked = (name: string) => (process.env[name] ?? '').split(',').filter(Boolean);
const SCENES = picked('AIP_BENCH_MEMORY_SCENES');
const SETUPS = picked('AIP_BENCH_MEMORY_SETUPS');
const CONSOLE_CLI = path.join(ROOT, 'dist/tui/cli.js');
const MB = 1048576;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Samples {
  daemon: number[];
  console: number[];
  /**
   * At the end: both processes' resident memory with the pages they share (the node binary and its
   * libraries, mapped by both) counted once: each one's private pages plus the larger shared part.
   * RSS counts those pages in each process; this is what the pair takes from the machine's RAM.
   */
  pair: number;
}

/** Runs `during` with the console attached to `daemon`, sampling both RSS every 250 ms. */
async function withConsole(daemon: DaemonProcess, tag: string, during: () => Promise<void>): Promise<Samples> {
  const tmux = new Tmux(`aip-bench-memory-${tag}-${process.pid}`);
  try {
    tmux.run(
      'new-session',
      '-d',
      '-s',
      'console',
      '-x',
      '120',
      '-y',
      '40',
      `exec env -u NO_COLOR -u AI_PROCESSOR_TOKEN ${JSON.stringify(process.execPath)} ${NODE_FLAGS.join(' ')} ${JSON.stringify(CONSOLE_CLI)} --url ${daemon.url}`,
    );
    for (const end = Date.now() + 30_000; !/ rev \d+ /.test(tmux.capture('console')); await sleep(50)) {
      if (Date.now() > end) throw new Error(`the console did not connect:\n${tmux.capture('console')}`);
    }
    const consolePid = Number(tmux.run('display-message', '-p', '-t', 'console', '#{pane_pid}').trim());
    const daemonPid = daemon.proc.pid!;
    const samples: Samples = { daemon: [], console: [], pair: NaN };
    const sample = (): void => {
      samples.daemon.push(rssOf(daemonPid));
      samples.console.push(rssOf(consolePid));
    };
    sample();
    const timer = setInterval(sample, 250);
    try {
      await during();
    } finally {
      clearInterval(timer);
    }
    sample();
    const [d, c] = [residentOf(daemonPid), residentOf(consolePid)];
    samples.pair = d.private + c.private + Math.max(d.shared, c.shared);
    return samples;
  } finally {
    tmux.kill();
  }
}

const totals = (s: Samples): number[] => s.daemon.map((d, i) => d + s.console[i]);
const max = (xs: number[]): number => xs.reduce((a, b) => Math.max(a, b), 0);
/** Peak of the second half minus peak of the first: what the pair still grows after warm-up. */
const growth = (xs: number[]): number => max(xs.slice(Math.floor(xs.length / 2))) - max(xs.slice(0, Math.floor(xs.length / 2)));
const last = (xs: number[]): number => xs[xs.length - 1];

/** The command of package.json's `start` script, with this node: what `npm start` runs. */
function npmStartCommand(): string {
  const cmd = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.start;
  return `${JSON.stringify(process.execPath)} ${cmd.replace(/^node /, '')}`;
}

/**
 * Runs `npm start` on `dataDir` in a real terminal (the daemon in a worker thread of the console's
 * process) and `during` against its daemon, sampling the process's RSS every 250 ms; then closes the
 * terminal (SIGHUP: a clean stop) and waits for the process to end.
 */
async function withNpmStart(dataDir: string, tag: string, env: Record<string, string>, during: (url: string) => Promise<void>): Promise<number[]> {
  const tmux = new Tmux(`aip-bench-memory-start-${tag}-${process.pid}`);
  const port = await freePort();
  const vars = { ...env, STATE_DIRECTORY: dataDir, AI_PROCESSOR_PORT: String(port) };
  const assignments = Object.entries(vars).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  let pid = 0;
  try {
    tmux.run(
      'new-session',
      '-d',
      '-s',
      'start',
      '-x',
      '120',
      '-y',
      '40',
      `cd ${JSON.stringify(ROOT)} && exec env -u NO_COLOR -u AI_PROCESSOR_TOKEN -u AI_PROCESSOR_URL -u OTEL_EXPORTER_OTLP_ENDPOINT ${assignments.join(' ')} ${npmStartCommand()}`,
    );
    for (const end = Date.now() + 60_000; !/ rev \d+ /.test(tmux.capture('start')); await sleep(50)) {
      if (Date.now() > end) throw new Error(`npm start did not show the console:\n${tmux.capture('start')}`);
    }
    pid = Number(tmux.run('display-message', '-p', '-t', 'start', '#{pane_pid}').trim());
    const rss: number[] = [rssOf(pid)];
    const timer = setInterval(() => rss.push(rssOf(pid)), 250);
    try {
      await during(`http://127.0.0.1:${port}`);
    } finally {
      clearInterval(timer);
    }
    rss.push(rssOf(pid));
    return rss;
  } finally {
    tmux.kill();
    for (const end = Date.now() + 30_000; pid && existsSync(`/proc/${pid}`) && Date.now() < end;) await sleep(100);
  }
}

/** 200 changes/s against a seeded data dir for MEMORY_WINDOW_S. */
const underLoad = (records: number, tag: string, log: (s: string) => void) => async (url: string) => {
  const load = loadGenerator(url, CHANGES_PER_S, records);
  await sleep(MEMORY_WINDOW_S * 1000);
  const gen = await load.stop();
  log(`${tag}: ${(gen.ok / gen.seconds).toFixed(0)} changes/s for ${gen.seconds.toFixed(0)} s`);
};

/** The demo fleet (`ai-processor simulate`, 12 agents) for DEMO_S. */
const demoFleet = (tag: string, log: (s: string) => void) => async (url: string) => {
  const sim = spawn(process.execPath, [CLI, 'simulate', '--url', url, '--agents', '12', '--duration', String(DEMO_S), '--json'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let out = '';
  sim.stdout.on('data', (c) => (out += c));
  const code = await new Promise<number | null>((r) => sim.on('exit', r));
  if (code !== 0) throw new Error(`simulate exited with ${code}`);
  const summary = JSON.parse(out) as { ops: number };
  log(`${tag}: ${summary.ops} operations in ${DEMO_S} s`);
};

const mb = (bytes: number) => (bytes / MB).toFixed(1);

export const memorySection: Section = async (figures: Figure[], log) => {
  if (!hasTmux()) throw new Error('the memory benchmark needs tmux on PATH (apt-get install -y tmux)');

  const scenes = [
    // The two record counts; its target is for 10k (50k is measured, for the trend).
    { tag: '10k', records: 10_000, target: 200 as number | undefined },
    { tag: '50k', records: 50_000, target: undefined },
    ...(DEMO_S > 0 ? [{ tag: 'demo', records: 0, target: 150 }] : []),
  ];
  for (const scene of scenes.filter((s) => !SCENES.length || SCENES.includes(s.tag))) {
    const name = (what: string) => `memory_${scene.tag}_${what}`;
    const seeded = () => (scene.records ? seedConsoleDataDir(scene.records) : mkdtempSync(path.join(os.tmpdir(), 'aip-bench-demo-')));
    const run = scene.records ? underLoad(scene.records, scene.tag, log) : demoFleet(scene.tag, log);
    // Long leases for the seeded claims: the load generator's changes, not expiries, move the state.
    const env: Record<string, string> = scene.records ? { AI_PROCESSOR_LEASE_MS: '3600000' } : {};

    const setups = {
      // npm start: one process.
      'npm-start': async (dataDir: string) => {
        const rss = await withNpmStart(dataDir, scene.tag, env, run);
        log(`${scene.tag}, npm start (one process): ${mb(last(rss))} MB (peak ${mb(max(rss))}, growth ${mb(growth(rss))})`);
        figures.push({ name: name('npm_start_rss_mb'), value: last(rss) / MB, unit: 'MB', target: scene.target, better: 'lower' });
        figures.push({ name: name('npm_start_rss_peak_mb'), value: max(rss) / MB, unit: 'MB', target: scene.target, better: 'lower' });
        figures.push({ name: name('npm_start_growth_mb'), value: growth(rss) / MB, unit: 'MB', better: 'lower' });
      },
      // A daemon process (as the systemd unit runs it) and ai-console: two processes.
      'two-processes': async (dataDir: string) => {
        const daemon = await spawnDaemon({ dataDir, env });
        try {
          const s = await withConsole(daemon, scene.tag, () => run(daemon.url));
          const t = totals(s);
          log(
            `${scene.tag}, two processes: daemon ${mb(last(s.daemon))} MB, console ${mb(last(s.console))} MB, together ${mb(last(t))} MB (peak ${mb(max(t))}, growth ${mb(growth(t))}; pair resident ${mb(s.pair)} MB)`,
          );
          figures.push({ name: name('daemon_rss_mb'), value: last(s.daemon) / MB, unit: 'MB', better: 'lower' });
          figures.push({ name: name('console_rss_mb'), value: last(s.console) / MB, unit: 'MB', better: 'lower' });
          figures.push({ name: name('total_rss_mb'), value: last(t) / MB, unit: 'MB', target: scene.target, better: 'lower' });
          figures.push({ name: name('total_rss_peak_mb'), value: max(t) / MB, unit: 'MB', target: scene.target, better: 'lower' });
          figures.push({ name: name('total_growth_mb'), value: growth(t) / MB, unit: 'MB', better: 'lower' });
          figures.push({ name: name('pair_resident_mb'), value: s.pair / MB, unit: 'MB', target: scene.target, better: 'lower' });
        } finally {
          await daemon.stop();
        }
      },
    };
    for (const [setup, measure] of Object.entries(setups)) {
      if (SETUPS.length && !SETUPS.includes(setup)) continue;
      const dataDir = seeded();
      try {
        await measure(dataDir);
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    }
  }
};
