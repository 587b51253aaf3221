// Bench section `paths`: the PreToolUse decision of an edit (POST /api/hooks/claude-code) with 100
// and with 10,000 path leases held by other agents (issue 19: p99 <= 5 ms at 10,000, and no growth
// with the number of leases). One session edits, one request at a time: half its edits are on files
// others hold (denied), half on a file it holds already (allowed, nothing added). Before measuring,
// one unmeasured edit in each directory the held files are in: the first edit in a directory looks
// its repository up on disk once (a one-time cost per directory, not part of the decision), and the
// held files of 10,000 leases span 700 directories, those of 100 only 100 (it warms the JIT too).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Section } from './report.js';
import { LoadConnection } from './load-client.js';
import { cpuSecondsOf, spawnDaemon } from './proc.js';
import { percentile } from './report.js';

const EDITS = Number(process.env.BENCH_PATHS_EDITS ?? 2000);
const SIZES = (process.env.BENCH_PATHS_LEASES ?? '100,10000').split(',').map(Number);
const ORIGIN = 'https://bench.example/team/paths.git';
const REPO_ID = 'bench.example/team/paths';
const PER_CLAIM = 250;

const filePath = (i: number) => `d${i % 100}/sub${i % 7}/f${i}.ts`;
/** Files 0..699 cover every directory filePath uses (100 x 7). */
const DIRECTORIES = 700;

export const pathsSection: Section = async (figures, log) => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'aip-bench-paths-'));
  const repo = path.join(root, 'paths');
  mkdirSync(repo);
  execFileSync('git', ['init', '-q'], { cwd: repo });
  execFileSync('git', ['remote', 'add', 'origin', ORIGIN], { cwd: repo });
  for (const size of SIZES) {
    const daemon = await spawnDaemon({ dataDir: mkdtempSync(path.join(os.tmpdir(), 'aip-bench-paths-data-')) });
    const latencies: number[] = [];
    let wrong = 0;
    let cpu: number;
    try {
      const c = new LoadConnection(daemon.url);
      await c.connect();
      for (let from = 0; from < size; from += PER_CLAIM) {
        const paths = Array.from({ length: Math.min(PER_CLAIM, size - from) }, (_, k) => filePath(from + k));
        const res = await c.post('/api/paths/claim', { agent_id: `holder_${from / PER_CLAIM}`, paths, repo: ORIGIN });
        if (res.status !== 200) throw new Error(`filling leases failed: ${res.status} ${res.body.toString()}`);
      }
      const session = 'bench-paths-0000-4000-8000-000000000000';
      const edit = (file: string) => ({
        session_id: session,
        cwd: repo,
        hook_event_name: 'PreToolUse',
        tool_name: 'Edit',
        tool_input: { file_path: path.join(repo, file), old_string: 'a', new_string: 'b' },
      });
      const own = 'mine/own.ts';
      if ((await c.post('/api/hooks/claude-code', edit(own))).status !== 200) throw new Error('first edit failed');
      for (let f = 0; f < Math.min(size, DIRECTORIES); f++) await c.post('/api/hooks/claude-code', edit(filePath(f)));
      log(`${size} leases (${REPO_ID}): ${EDITS} edits`);
      const cpuFrom = cpuSecondsOf(daemon.proc.pid!);
      for (let i = 0; i < EDITS; i++) {
        const held = i % 2 === 0;
        const t0 = performance.now();
        const res = await c.post('/api/hooks/claude-code', edit(held ? filePath((i * 7919) % size) : own));
        latencies.push(performance.now() - t0);
        const denied = res.body.includes('"deny"');
        if (res.status !== 200 || denied !== held) wrong++;
      }
      cpu = cpuSecondsOf(daemon.proc.pid!) - cpuFrom;
      c.close();
    } finally {
      await daemon.stop();
    }
    latencies.sort((a, b) => a - b);
    const round = (n: number) => Math.round(n * 1000) / 1000;
    figures.push(
      { name: `paths_pretooluse_p50_ms_${size}_leases`, value: round(percentile(latencies, 50)), unit: 'ms', better: 'lower' },
      { name: `paths_pretooluse_p99_ms_${size}_leases`, value: round(percentile(latencies, 99)), unit: 'ms', target: 5, better: 'lower' },
      { name: `paths_pretooluse_wrong_${size}_leases`, value: wrong, unit: 'answers', target: 0, better: 'lower' },
      // All the daemon's CPU while the edits ran (its timers and file rewrites too), per edit.
      { name: `paths_daemon_cpu_us_per_edit_${size}_leases`, value: Math.round((cpu * 1e6) / EDITS), unit: 'µs', better: 'lower' },
    );
  }
};
