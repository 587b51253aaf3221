// The legacy helper's reference figures (shared/reference/README.md, "How it locks, and what that
// costs"), measured the same way against our drop-in bin/coordination_helper.sh on a real daemon:
//   - 20 sequential `coordination_helper.sh claim <type> <desc>` runs, wall clock (legacy: 9.6 s,
//     about 2 claims/s);
//   - 8 agents each claiming 5 distinct new items, the 8 concurrently (legacy: 35 of 40 refused as
//     CONFLICT, and exit 0 even then).
// The same two flows through the plain agent CLI (`ai-processor claim`) and through HTTP directly
// show how much of the wrapper's cost is the per-call process start-up. A refused claim is one that
// did not end with the item held by the caller: a non-zero exit, a missing success line, or (HTTP)
// a status other than 200; afterwards the daemon's state is checked to hold exactly the won claims.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Section } from './report.js';
import { HttpClient } from './http.js';
import { cleanEnv, CLI, ROOT, spawnDaemon } from './proc.js';
import { percentile } from './report.js';

const SEQUENTIAL = 20;
const AGENTS = 8;
const PER_AGENT = 5;
const WRAPPER = path.join(ROOT, 'bin/coordination_helper.sh');

/** The legacy helper as measured on the project's 2-core machine (2026-11-24, jq 1.6). */
export const LEGACY_REFERENCE = { sequentialSeconds: 9.6, claimsPerS: 2, concurrentRefused: 35, concurrentTotal: 40 } as const;

interface Attempt {
  ok: boolean;
  /** The agent that made the attempt and the item it meant to hold (undefined when unknown). */
  agent: string;
  workId?: string;
  ms: number;
  exitCode: number | null;
  detail: string;
}

/** One way of claiming a new item as `agent`, numbered `n` within the run. */
type Claimer = (agent: string, n: number) => Promise<Attempt>;

function run(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout: 60_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0;
      resolve({ code, stdout, stderr, ms: Number(process.hrtime.bigint() - t0) / 1e6 });
    });
  });
}

/** `coordination_helper.sh claim <type> <description>` with AGENT_ID set, as an agent runs it. */
function wrapperClaimer(url: string): Claimer {
  return async (agent, n) => {
    const r = await run(
      WRAPPER,
      ['claim', 'bench_legacy', `legacy wrapper claim ${n} by ${agent}`],
      cleanEnv({ AI_PROCESSOR_URL: url, AGENT_ID: agent, AGENT_TEAM: 'bench', COORDINATION_DIR: undefined }),
    );
    const workId = /claiming work: (\S+)/.exec(r.stdout)?.[1];
    const ok = r.code === 0 && r.stdout.includes('✅ SUCCESS: Claimed work item');
    return { ok, agent, workId, ms: r.ms, exitCode: r.code, detail: (r.stderr || r.stdout).trim().split('\n').pop() ?? '' };
  };
}

/** `ai-processor claim <work_id> --agent A --type T --description D` (the plain agent CLI). */
function cliClaimer(url: string, prefix: string): Claimer {
  return async (agent, n) => {
    const workId = `${prefix}_${agent}_${n}`;
    const r = await run(
      process.execPath,
      [CLI, 'claim', workId, '--agent', agent, '--type', 'bench_cli', '--description', `cli claim ${n}`, '--url', url],
      cleanEnv({ AGENT_ID: undefined }),
    );
    return { ok: r.code === 0 && r.stdout.includes(`claimed ${workId}`), agent, workId, ms: r.ms, exitCode: r.code, detail: (r.stderr || r.stdout).trim() };
  };
}

/** POST /api/coordination/claim on a keep-alive connection per agent. */
function httpClaimer(url: string, prefix: string): { claim: Claimer; close(): void } {
  const clients = new Map<string, HttpClient>();
  return {
    claim: async (agent, n) => {
      let c = clients.get(agent);
      if (!c) clients.set(agent, (c = new HttpClient(url)));
      const workId = `${prefix}_${agent}_${n}`;
      const t0 = process.hrtime.bigint();
      const res = await c.post('/api/coordination/claim', { work_id: workId, agent_id: agent, work_type: 'bench_http', description: `http claim ${n}` });
      return {
        ok: res.status === 200,
        agent,
        workId,
        ms: Number(process.hrtime.bigint() - t0) / 1e6,
        exitCode: res.status,
        detail: res.status === 200 ? '' : JSON.stringify(res.body),
      };
    },
    close: () => clients.forEach((c) => c.close()),
  };
}

interface FlowResult {
  attempts: Attempt[];
  seconds: number;
}

async function sequential(claim: Claimer, agent: string): Promise<FlowResult> {
  const attempts: Attempt[] = [];
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < SEQUENTIAL; i++) attempts.push(await claim(agent, i));
  return { attempts, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
}

async function concurrent(claim: Claimer, prefix: string): Promise<FlowResult> {
  const t0 = process.hrtime.bigint();
  const perAgent = await Promise.all(
    Array.from({ length: AGENTS }, async (_, a) => {
      const out: Attempt[] = [];
      for (let i = 0; i < PER_AGENT; i++) out.push(await claim(`${prefix}_agent_${a}`, i));
      return out;
    }),
  );
  return { attempts: perAgent.flat(), seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
}

/** Every attempt reported as won is held by its agent in the daemon's state, and nothing else of theirs is. */
async function verify(http: HttpClient, flow: string, attempts: Attempt[]): Promise<void> {
  const res = await http.get('/api/coordination/status');
  if (res.status !== 200) throw new Error(`${flow}: status ${res.status}`);
  const entries: Record<string, { data: { agent_id?: string | null } }> = res.body.state?.work ?? {};
  const work = Object.entries(entries).map(([id, e]) => ({ work_item_id: id, agent_id: e.data.agent_id ?? null }));
  const holder = new Map(work.map((w) => [w.work_item_id, w.agent_id]));
  for (const a of attempts) {
    if (!a.ok) continue;
    if (!a.workId) throw new Error(`${flow}: a won claim did not say which item it took`);
    if (holder.get(a.workId) !== a.agent) throw new Error(`${flow}: ${a.workId} reported won by ${a.agent} but held by ${holder.get(a.workId) ?? 'nobody'}`);
  }
  const won = new Set(attempts.filter((a) => a.ok).map((a) => a.workId));
  const agents = new Set(attempts.map((a) => a.agent));
  const extra = work.filter((w) => w.agent_id && agents.has(w.agent_id) && !won.has(w.work_item_id));
  if (extra.length) throw new Error(`${flow}: ${extra.length} items held by the bench agents but reported refused (e.g. ${extra[0].work_item_id})`);
}

const median = (xs: number[]) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );

/** Wall clock of a process that does nothing but start (`node -e 0`, `ai-processor --version`). */
async function startupMs(file: string, args: string[], runs = 7): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) ms.push((await run(file, args, cleanEnv())).ms);
  return median(ms);
}

export const legacySection: Section = async (figures, log) => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'aip-bench-legacy-'));
  const d = await spawnDaemon({ dataDir, args: ['--lease-ms', '3600000'] });
  const http = new HttpClient(d.url);
  const h = httpClaimer(d.url, 'http');
  // A failed stop is reported after the finally block, so it never hides the error that ended the section.
  let stopped: number | null;
  try {
    const flows: Array<{ name: string; claim: Claimer; prefix: string }> = [
      { name: 'legacy_wrapper', claim: wrapperClaimer(d.url), prefix: 'wrap' },
      { name: 'cli', claim: cliClaimer(d.url, 'cli'), prefix: 'cli' },
      { name: 'http', claim: h.claim, prefix: 'http' },
    ];
    // Warm-up: the page cache for node and the modules, the daemon's JIT.
    for (const f of flows) for (let i = 0; i < 2; i++) await f.claim(`${f.prefix}_warmup`, 1000 + i);

    figures.push({ name: 'legacy_helper_reference_claims_per_s', value: LEGACY_REFERENCE.claimsPerS, unit: 'ops/s', better: 'higher' });
    figures.push({
      name: 'legacy_helper_reference_concurrent_refused',
      value: LEGACY_REFERENCE.concurrentRefused,
      unit: `of ${LEGACY_REFERENCE.concurrentTotal}`,
      better: 'lower',
    });
    for (const f of flows) {
      const seq = await sequential(f.claim, `${f.prefix}_sequential`);
      const seqRefused = seq.attempts.filter((a) => !a.ok);
      await verify(http, `${f.name} sequential`, seq.attempts);
      const con = await concurrent(f.claim, f.prefix);
      const conRefused = con.attempts.filter((a) => !a.ok);
      await verify(http, `${f.name} concurrent`, con.attempts);
      const perS = SEQUENTIAL / seq.seconds;
      const callMs = median(seq.attempts.map((a) => a.ms));
      figures.push({
        name: `${f.name}_sequential_claims_per_s`,
        value: perS,
        unit: 'ops/s',
        ...(f.name === 'legacy_wrapper' ? { target: LEGACY_REFERENCE.claimsPerS } : {}),
        better: 'higher',
      });
      figures.push({ name: `${f.name}_sequential_claim_ms_p50`, value: callMs, unit: 'ms', better: 'lower' });
      figures.push({ name: `${f.name}_sequential_refused`, value: seqRefused.length, unit: `of ${SEQUENTIAL}`, target: 0, better: 'lower' });
      figures.push({ name: `${f.name}_concurrent_refused`, value: conRefused.length, unit: `of ${AGENTS * PER_AGENT}`, target: 0, better: 'lower' });
      figures.push({ name: `${f.name}_concurrent_claims_per_s`, value: con.attempts.length / con.seconds, unit: 'ops/s', better: 'higher' });
      const ref =
        f.name === 'legacy_wrapper'
          ? ` (legacy helper: ${LEGACY_REFERENCE.sequentialSeconds} s = ${LEGACY_REFERENCE.claimsPerS} claims/s; ${LEGACY_REFERENCE.concurrentRefused} of ${LEGACY_REFERENCE.concurrentTotal} refused, exit 0)`
          : '';
      log(
        `${f.name}: ${SEQUENTIAL} sequential claims in ${seq.seconds.toFixed(2)} s = ${perS.toFixed(1)} claims/s (p50 ${callMs.toFixed(1)} ms per call), ${seqRefused.length} refused; ${AGENTS}x${PER_AGENT} concurrent: ${conRefused.length} of ${AGENTS * PER_AGENT} refused in ${con.seconds.toFixed(2)} s${ref}`,
      );
      for (const a of [...seqRefused, ...conRefused].slice(0, 3)) log(`  refused (${f.name}, ${a.agent}, exit ${a.exitCode}): ${a.detail.slice(0, 200)}`);
    }

    // Where the wrapper's time goes: a bare node start and the CLI's own start-up (no request).
    const nodeMs = await startupMs(process.execPath, ['-e', '0']);
    const cliMs = await startupMs(process.execPath, [CLI, '--version']);
    const wrapperHelpMs = await startupMs(WRAPPER, ['help']);
    figures.push({ name: 'node_startup_ms', value: nodeMs, unit: 'ms', better: 'lower' });
    figures.push({ name: 'cli_startup_ms', value: cliMs, unit: 'ms', better: 'lower' });
    figures.push({ name: 'legacy_wrapper_startup_ms', value: wrapperHelpMs, unit: 'ms', better: 'lower' });
    log(
      `start-up (median of 7): node -e 0 ${nodeMs.toFixed(1)} ms, ai-processor --version ${cliMs.toFixed(1)} ms, coordination_helper.sh help ${wrapperHelpMs.toFixed(1)} ms; load average ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')} on ${os.cpus().length} cores`,
    );
  } finally {
    h.close();
    http.close();
    stopped = await d.stop();
    if (stopped === 0) rmSync(dataDir, { recursive: true, force: true });
  }
  if (stopped !== 0) throw new Error(`daemon did not stop cleanly: ${d.stderr.join('')}`);
};

/** Records of the external file in the big-edit section: about 30 MB as jq writes it. */
const BIG_EDIT_RECORDS = 80_000;
/** Claims measured before the file is put in place (the quiet baseline). */
const BIG_EDIT_BASELINE = 50;

/**
 * A script puts a large work_claims.json in place (tens of MB, under the size limit) while an agent
 * claims one item after another over HTTP: how long the longest claim waits while the daemon reads,
 * parses and imports the file (a claim waits at least as long as the event loop's longest stall),
 * against the same agent's claims on a quiet daemon, and how long the pick-up takes.
 */
export const legacyBigEditSection: Section = async (figures, log) => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'aip-bench-bigedit-'));
  const d = await spawnDaemon({ dataDir, args: ['--lease-ms', '3600000'] });
  const http = new HttpClient(d.url);
  let stopped: number | null;
  try {
    const file = path.join(dataDir, 'work_claims.json');
    const claim = async (id: string): Promise<number> => {
      const t0 = process.hrtime.bigint();
      const res = await http.post('/api/coordination/claim', { work_id: id, agent_id: 'bench_agent', work_type: 'bench_big_edit' });
      if (res.status !== 200) throw new Error(`claim ${id}: ${res.status} ${JSON.stringify(res.body)}`);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    await claim('seed');
    while (!existsSync(file) || !readFileSync(file, 'utf8').includes('"seed"')) await new Promise((r) => setTimeout(r, 50));
    const records: object[] = JSON.parse(readFileSync(file, 'utf8'));
    for (let i = 0; i < BIG_EDIT_RECORDS; i++) {
      records.push({
        work_item_id: `ext_big_${i}`,
        agent_id: `script_agent_${i % 40}`,
        claimed_at: '2026-12-05T10:00:00Z',
        work_type: 'bulk_import',
        description: `imported by a script, record ${i}: ${'lorem ipsum '.repeat(20)}`,
        priority: ['low', 'medium', 'high'][i % 3],
        team: 'import',
        status: 'active',
      });
    }
    const tmp = path.join(dataDir, '.import.tmp');
    writeFileSync(tmp, JSON.stringify(records, null, 2) + '\n');
    const bytes = statSync(tmp).size;
    const quiet: number[] = [];
    for (let i = 0; i < BIG_EDIT_BASELINE; i++) quiet.push(await claim(`quiet_${i}`));
    const pickedUp = () => d.logs.some((l) => l.includes('picked up external edit') && (JSON.parse(l) as { changes: number }).changes >= BIG_EDIT_RECORDS);
    const during: number[] = [];
    const t0 = process.hrtime.bigint();
    renameSync(tmp, file);
    for (let i = 0; !pickedUp(); i++) {
      if (Number(process.hrtime.bigint() - t0) > 300e9) throw new Error('the big external edit was not picked up in 300 s');
      during.push(await claim(`during_${i}`));
    }
    const pickupS = Number(process.hrtime.bigint() - t0) / 1e9;
    const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
    const q = sorted(quiet);
    const w = sorted(during);
    figures.push({ name: 'legacy_big_edit_file_mb', value: bytes / 1e6, unit: 'MB', better: 'lower' });
    figures.push({ name: 'legacy_big_edit_pickup_s', value: pickupS, unit: 's', better: 'lower' });
    figures.push({ name: 'legacy_big_edit_claims_during', value: during.length, unit: 'claims', better: 'higher' });
    figures.push({ name: 'legacy_big_edit_claim_ms_max', value: w[w.length - 1] ?? 0, unit: 'ms', better: 'lower' });
    figures.push({ name: 'legacy_big_edit_claim_ms_p50', value: percentile(w, 50), unit: 'ms', better: 'lower' });
    figures.push({ name: 'legacy_quiet_claim_ms_max', value: q[q.length - 1], unit: 'ms', better: 'lower' });
    log(
      `big external edit: ${(bytes / 1e6).toFixed(1)} MB, ${BIG_EDIT_RECORDS} records picked up in ${pickupS.toFixed(2)} s; ${during.length} claims meanwhile, max ${(w[w.length - 1] ?? 0).toFixed(0)} ms, p50 ${percentile(w, 50).toFixed(1)} ms (quiet: max ${q[q.length - 1].toFixed(1)} ms, p50 ${percentile(q, 50).toFixed(1)} ms); load average ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
    );
  } finally {
    http.close();
    stopped = await d.stop();
    if (stopped === 0) rmSync(dataDir, { recursive: true, force: true });
  }
  if (stopped !== 0) throw new Error(`daemon did not stop cleanly: ${d.stderr.join('')}`);
};
