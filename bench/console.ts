// Issue 5's console figures: ai-console in a real terminal (tmux, 120x40) against a daemon holding
// 1,000 agents and 10,000 claims, while a load generator makes 200 changes/s (progress updates and
// heartbeats over HTTP) for 10 s on the agents panel and 10 s on the claims panel. Measured: the
// console's first frame (spawn -> the agents panel's rows on screen; median of 3 starts), its RSS
// (max over both windows) and its CPU (% of one core per window, from /proc/<pid>/stat).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Section } from './report.js';
import { HttpClient } from './http.js';
import { cpuSecondsOf, ROOT, rssOf, spawnDaemon } from './proc.js';
import { NODE_FLAGS } from '../shared/node-flags.js';
import type { Figure } from './report.js';

const AGENTS = 1000;
const CLAIMS = 10_000;
const CHANGES_PER_S = 200;
const WINDOW_S = 10;
const COLS = 120;
const ROWS = 40;
const CONSOLE_CLI = path.join(ROOT, 'dist/tui/cli.js');
const TEAMS = ['backend', 'frontend', 'infra', 'qa', 'data', 'platform'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const agentId = (i: number): string => `bench_agent_${String(i).padStart(4, '0')}`;

/** A legacy data dir: AGENTS agents, `claims` work items each held by one of them (10 per agent by default). */
export function seedConsoleDataDir(claims = CLAIMS): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aip-bench-console-'));
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const items = Array.from({ length: claims }, (_, i) => ({
    work_item_id: `work_seed_${i}`,
    agent_id: agentId(i % AGENTS),
    claimed_at: now,
    estimated_duration: '30m',
    work_type: `type_${i % 17}`,
    priority: ['low', 'medium', 'high', 'critical'][i % 4],
    description: `Seeded work item ${i} for the console benchmark`,
    status: i % 3 === 0 ? 'in_progress' : 'claimed',
    team: TEAMS[i % TEAMS.length],
    progress: i % 3 === 0 ? (i * 7) % 100 : 0,
  }));
  writeFileSync(path.join(dir, 'work_claims.json'), JSON.stringify(items, null, 2) + '\n');
  const agents = Array.from({ length: AGENTS }, (_, i) => ({
    agent_id: agentId(i),
    team: TEAMS[i % TEAMS.length],
    status: 'active',
    capacity: 100,
    current_workload: 10,
    specialization: 'general_development',
    last_heartbeat: now,
  }));
  writeFileSync(path.join(dir, 'agent_status.json'), JSON.stringify(agents, null, 2) + '\n');
  writeFileSync(path.join(dir, 'coordination_log.json'), '[]\n');
  return dir;
}

export class Tmux {
  constructor(readonly socket: string) {}
  run(...args: string[]): string {
    return execFileSync('tmux', ['-L', this.socket, ...args], { encoding: 'utf8', env: { ...process.env, TERM: 'xterm-256color' } });
  }
  capture(target: string): string {
    return this.run('capture-pane', '-p', '-t', target);
  }
  kill(): void {
    try {
      // tmux 3.3 leaves its socket file behind on kill-server: remove it too.
      const socketPath = this.run('display-message', '-p', '#{socket_path}').trim();
      this.run('kill-server');
      if (socketPath) rmSync(socketPath, { force: true });
    } catch {
      // no server left
    }
  }
}

export function hasTmux(): boolean {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Makes `perSecond` changes a second until stopped: 3 of 4 are progress updates on seeded claims (by
 * their holder), 1 of 4 a heartbeat. Requests are paced, not awaited in lockstep, over a few
 * keep-alive connections; the count of accepted ones gives the rate really achieved.
 */
export function loadGenerator(url: string, perSecond: number, items = CLAIMS): { stop: () => Promise<{ sent: number; ok: number; seconds: number }> } {
  const clients = Array.from({ length: 4 }, () => new HttpClient(url));
  const inFlight = new Set<Promise<unknown>>();
  let sent = 0;
  let ok = 0;
  let stopped = false;
  const started = process.hrtime.bigint();
  const tickMs = 20;
  const perTick = (perSecond * tickMs) / 1000;
  let owed = 0;
  const timer = setInterval(() => {
    owed += perTick;
    while (owed >= 1 && !stopped) {
      owed--;
      const n = sent++;
      const c = clients[n % clients.length];
      const item = (n * 7919) % items; // spread over all items
      const req =
        n % 4 === 3
          ? c.post(`/api/agents/${agentId(item % AGENTS)}/heartbeat`, { status: 'active', current_workload: 10 })
          : c.post('/api/coordination/progress', { work_id: `work_seed_${item}`, agent_id: agentId(item % AGENTS), progress: (n % 99) + 1 });
      const p = req
        .then(
          (r) => {
            if (r.status === 200) ok++;
          },
          () => {},
        )
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
  }, tickMs);
  return {
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      await Promise.all([...inFlight]);
      clients.forEach((c) => c.close());
      return { sent, ok, seconds };
    },
  };
}

export const consoleSection: Section = async (figures: Figure[], log) => {
  if (!hasTmux()) throw new Error('the console benchmark needs tmux on PATH (apt-get install -y tmux)');
  const dataDir = seedConsoleDataDir();
  const daemon = await spawnDaemon({ dataDir, args: ['--lease-ms', '3600000'] });
  const tmux = new Tmux(`aip-bench-console-${process.pid}`);
  try {
    const http = new HttpClient(daemon.url);
    const counts = (await http.get('/api/coordination/status')).body.counts;
    if (counts.agents !== AGENTS || counts.work !== CLAIMS) throw new Error(`seeded daemon holds ${JSON.stringify(counts)}`);

    // A running daemon has served snapshots before: warm its snapshot path, and let it finish the
    // work of its own start-up (importing the legacy files), so the figure is the console's.
    await sleep(1500);
    const spawnConsole = (session: string): void => {
      tmux.run(
        'new-session',
        '-d',
        '-s',
        session,
        '-x',
        String(COLS),
        '-y',
        String(ROWS),
        `exec env -u NO_COLOR -u AI_PROCESSOR_TOKEN ${JSON.stringify(process.execPath)} ${NODE_FLAGS.join(' ')} ${JSON.stringify(CONSOLE_CLI)} --url ${daemon.url}`,
      ); // as its bin runs it
    };
    /** From spawning the console to the agents panel's rows on the screen (tmux polled every 10 ms). */
    const firstFrame = async (session: string): Promise<number> => {
      const t0 = process.hrtime.bigint();
      spawnConsole(session);
      for (const end = Date.now() + 30_000; Date.now() < end; await sleep(10)) {
        const screen = tmux.capture(session);
        if (screen.includes(`Agents (${AGENTS})`) && screen.includes(agentId(0))) return Number(process.hrtime.bigint() - t0) / 1e6;
      }
      throw new Error(`no agents panel within 30 s:\n${tmux.capture(session)}`);
    };
    // Median of three starts: one start is at the mercy of whatever else the machine does.
    const starts: number[] = [];
    for (let i = 0; i < 3; i++) {
      starts.push(await firstFrame(`start${i}`));
      tmux.run('kill-session', '-t', `start${i}`);
      await sleep(300);
    }
    const firstFrameMs = [...starts].sort((a, b) => a - b)[1];
    log(`first frame after ${starts.map((ms) => ms.toFixed(0)).join(', ')} ms (median ${firstFrameMs.toFixed(0)})`);
    await firstFrame('console');
    const pid = Number(tmux.run('display-message', '-p', '-t', 'console', '#{pane_pid}').trim());
    await sleep(1000); // let the start-up settle (stats, spans) before the window opens

    // The windows: 200 changes/s, 10 s on the agents panel (what the console opens on), then 10 s on
    // the claims panel (all 10,000 records, the heaviest list). RSS sampled every 100 ms over both;
    // CPU from /proc at both ends of each window.
    let rssMax = rssOf(pid);
    const sampler = setInterval(() => {
      rssMax = Math.max(rssMax, rssOf(pid));
    }, 100);
    const load = loadGenerator(daemon.url, CHANGES_PER_S);
    const cpuWindow = async (): Promise<number> => {
      const cpu0 = cpuSecondsOf(pid);
      const w0 = process.hrtime.bigint();
      await sleep(WINDOW_S * 1000);
      return ((cpuSecondsOf(pid) - cpu0) / (Number(process.hrtime.bigint() - w0) / 1e9)) * 100;
    };
    const cpuPct = await cpuWindow();
    tmux.run('send-keys', '-t', 'console', '2');
    await sleep(500);
    const claimsScreen = tmux.capture('console');
    if (!claimsScreen.includes(`Claims / work (${CLAIMS})`)) throw new Error(`the claims panel did not open:\n${claimsScreen}`);
    const cpuClaimsPct = await cpuWindow();
    clearInterval(sampler);
    rssMax = Math.max(rssMax, rssOf(pid));
    const gen = await load.stop();

    // Sanity: the console kept up, i.e. it shows the daemon's final revision shortly after the load.
    const finalRev = (await http.get('/api/coordination/status')).body.revision as number;
    let shownRev = -1;
    for (const end = Date.now() + 5000; Date.now() < end && shownRev < finalRev; await sleep(50)) {
      shownRev = Number(/ rev (\d+) /.exec(tmux.capture('console'))?.[1] ?? -1);
    }
    http.close();
    if (shownRev < finalRev) log(`warning: the console shows revision ${shownRev}, the daemon is at ${finalRev}`);
    if (gen.ok < gen.sent) log(`warning: ${gen.sent - gen.ok} of ${gen.sent} load requests failed`);

    log(
      `load ${(gen.ok / gen.seconds).toFixed(0)} changes/s; console rss max ${(rssMax / 1048576).toFixed(1)} MB, cpu ${cpuPct.toFixed(1)}% of a core (agents panel), ${cpuClaimsPct.toFixed(1)}% (claims panel); caught up to rev ${shownRev}/${finalRev}`,
    );
    figures.push({ name: 'console_first_frame_ms', value: firstFrameMs, unit: 'ms', target: 1000, better: 'lower' });
    figures.push({ name: 'console_rss_mb', value: rssMax / 1048576, unit: 'MB', target: 120, better: 'lower' });
    figures.push({ name: 'console_cpu_pct', value: cpuPct, unit: '%', target: 30, better: 'lower' });
    figures.push({ name: 'console_cpu_pct_claims_panel', value: cpuClaimsPct, unit: '%', target: 30, better: 'lower' });
    figures.push({ name: 'console_load_changes_per_s', value: gen.ok / gen.seconds, unit: 'ops/s', better: 'higher' });
  } finally {
    tmux.kill();
    await daemon.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
};
