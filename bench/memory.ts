// Issue 16's memory budget: 200 MB for the daemon and the console together. Three scenes, each a real
// daemon with the console attached in a real terminal (tmux), RSS of both sampled every 250 ms:
//   - 10k and 50k records: 1,000 agents and 10,000 / 50,000 claims (the console bench's data dir) under 200 changes/s
//     for MEMORY_WINDOW_S; figures: daemon, console and total RSS at the end, the total's peak, and
//     its growth from the first half's peak to the second half's (flat after warm-up = ~0);
//   - the demo fleet: `ai-processor simulate` (12 agents, its default rate) for DEMO_S on an empty
//     daemon; figures: total RSS at the end and its growth over the second half.
// AIP_BENCH_MEMORY_WINDOW_S / AIP_BENCH_MEMORY_DEMO_S lengthen the scenes (e.g. 1800 for the issue's
// "after 30 minutes"); the defaults keep `npm run bench` short.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Section } from './report.js';
import { hasTmux, loadGenerator, seedConsoleDataDir, Tmux } from './console.js';
import { CLI, ROOT, residentOf, rssOf, spawnDaemon, type DaemonProcess } from './proc.js';
import { NODE_FLAGS } from '../shared/node-flags.js';
import type { Figure } from './report.js';

const MEMORY_WINDOW_S = Number(process.env.AIP_BENCH_MEMORY_WINDOW_S ?? 30);
const DEMO_S = Number(process.env.AIP_BENCH_MEMORY_DEMO_S ?? 60);
const CHANGES_PER_S = 200;
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

export const memorySection: Section = async (figures: Figure[], log) => {
  if (!hasTmux()) throw new Error('the memory benchmark needs tmux on PATH (apt-get install -y tmux)');

  // The two record counts; its target is for 10k (50k is measured, for the trend).
  for (const scene of [
    { tag: '10k', records: 10_000, target: 200 },
    { tag: '50k', records: 50_000, target: undefined },
  ]) {
    const dataDir = seedConsoleDataDir(scene.records);
    const daemon = await spawnDaemon({ dataDir, args: ['--lease-ms', '3600000'] });
    try {
      const s = await withConsole(daemon, scene.tag, async () => {
        const load = loadGenerator(daemon.url, CHANGES_PER_S, scene.records);
        await sleep(MEMORY_WINDOW_S * 1000);
        const gen = await load.stop();
        log(`${scene.tag} records: ${(gen.ok / gen.seconds).toFixed(0)} changes/s for ${gen.seconds.toFixed(0)} s`);
      });
      const t = totals(s);
      log(
        `${scene.tag} records: daemon ${(last(s.daemon) / MB).toFixed(1)} MB, console ${(last(s.console) / MB).toFixed(1)} MB, together ${(last(t) / MB).toFixed(1)} MB (peak ${(max(t) / MB).toFixed(1)}, growth ${(growth(t) / MB).toFixed(1)})`,
      );
      const name = (what: string) => `memory_${scene.tag}_${what}`;
      figures.push({ name: name('daemon_rss_mb'), value: last(s.daemon) / MB, unit: 'MB', better: 'lower' });
      figures.push({ name: name('console_rss_mb'), value: last(s.console) / MB, unit: 'MB', better: 'lower' });
      figures.push({ name: name('total_rss_mb'), value: last(t) / MB, unit: 'MB', target: scene.target, better: 'lower' });
      figures.push({ name: name('total_rss_peak_mb'), value: max(t) / MB, unit: 'MB', target: scene.target, better: 'lower' });
      figures.push({ name: name('total_growth_mb'), value: growth(t) / MB, unit: 'MB', better: 'lower' });
      figures.push({ name: name('pair_resident_mb'), value: s.pair / MB, unit: 'MB', better: 'lower' });
    } finally {
      await daemon.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }

  if (DEMO_S <= 0) return;
  const demoDir = mkdtempSync(path.join(os.tmpdir(), 'aip-bench-demo-'));
  const demo = await spawnDaemon({ dataDir: demoDir });
  try {
    const s = await withConsole(demo, 'demo', async () => {
      const sim = spawn(process.execPath, [CLI, 'simulate', '--url', demo.url, '--agents', '12', '--duration', String(DEMO_S), '--json'], {
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      let out = '';
      sim.stdout.on('data', (c) => (out += c));
      const code = await new Promise<number | null>((r) => sim.on('exit', r));
      if (code !== 0) throw new Error(`simulate exited with ${code}`);
      const summary = JSON.parse(out) as { ops: number };
      log(`demo fleet: ${summary.ops} operations in ${DEMO_S} s`);
    });
    const t = totals(s);
    log(
      `demo fleet: daemon ${(last(s.daemon) / MB).toFixed(1)} MB, console ${(last(s.console) / MB).toFixed(1)} MB, together ${(last(t) / MB).toFixed(1)} MB (growth ${(growth(t) / MB).toFixed(1)})`,
    );
    figures.push({ name: 'memory_demo_total_rss_mb', value: last(t) / MB, unit: 'MB', target: 150, better: 'lower' });
    figures.push({ name: 'memory_demo_total_growth_mb', value: growth(t) / MB, unit: 'MB', better: 'lower' });
    figures.push({ name: 'memory_demo_pair_resident_mb', value: s.pair / MB, unit: 'MB', better: 'lower' });
  } finally {
    await demo.stop();
    rmSync(demoDir, { recursive: true, force: true });
  }
};
