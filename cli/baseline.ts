// `ai-processor baseline --out FILE` and `ai-processor validate --baseline FILE`: information
// conservation checks against a running daemon.
//   baseline: asks the daemon to capture a baseline (POST /api/entropy/baseline: state snapshot,
//             per-component entropy, counts, record keys; the daemon keeps it too), adds a quick
//             performance run of read-only requests, and writes it all to FILE.
//   validate: compares the daemon now with FILE, record by record: exit 1 when a baseline record is
//             missing (named; a journaled deletion is named with its revision) or one of its fields
//             vanished without a journaled change, 0 otherwise. The entropy ratio, changed records and
//             latencies are reported, not judged: normal work (a claim, a completion) moves the ratio.
// Both print a readable report, or JSON with --json; progress goes to stderr. Exit codes as every
// client command: 0 ok, 1 not conserved, 2 usage (unreadable baseline file), 3 daemon unreachable.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { canonicalJson } from '../shared/canonical.js';
import { ApiClient, DaemonUnreachableError } from '../client/api.js';
import { compareToBaseline, CONSERVED_MAX, CONSERVED_MIN, ENTROPY_COMPONENTS, type BaselineComparison } from '../shared/entropy.js';
import type { CoordinationState, Section } from '../shared/types.js';
import { isBaseline, type DaemonBaseline, type EntropyNow } from '../shared/baseline-format.js';
import { writeFileAtomic } from '../io/fsutil.js';
import { EXIT, call, clientOptions, type ClientFlags } from './client-io.js';
import { num } from '../shared/cli-args.js';
import { textOf } from '../shared/text.js';
import { resolveToken } from '../client/config.js';
import WebSocket from 'ws';
import { wsText } from '../client/ws-text.js';
import { STREAM_PATH, toWsUrl, type DeltaMessage, type ServerMessage } from '../shared/protocol.js';
import { fingerprintState, judgeRecords, type RecordJudgement } from '../shared/record-check.js';

/** Read-only requests of the performance quick run. */
export const QUICK_RUN_PATHS = ['/health', '/api/stats', '/api/agents', '/api/work?limit=100', '/api/telemetry/spans?limit=100', '/api/coordination/status'];

export interface EndpointPerf {
  count: number;
  errors: number;
  mean_ms: number;
  p50_ms: number;
  p95_ms: number;
  max_ms: number;
}

export interface Performance {
  requests_per_endpoint: number;
  taken_at: string;
  endpoints: Record<string, EndpointPerf>;
}

export interface BaselineFile extends DaemonBaseline {
  daemon_url: string;
  performance?: Performance;
}

type Flags = ClientFlags & { out?: string; baseline?: string; requests?: number; state?: boolean };

const SECTIONS: Section[] = ['work', 'agents', 'log'];

// ---- progress on stderr -----------------------------------------------------------------------

class Progress {
  private tty = process.stderr.isTTY === true;
  private lastLine = 0;
  step(msg: string): void {
    if (this.tty) process.stderr.write(`\r\x1b[K${msg}`);
    else process.stderr.write(msg + '\n');
  }
  /** For long loops: on a terminal every call, otherwise every quarter. */
  tick(prefix: string, done: number, total: number): void {
    if (this.tty) return this.step(`${prefix} ${done}/${total}`);
    const quarter = Math.floor((done * 4) / total);
    if (quarter > this.lastLine || done === total) {
      this.lastLine = quarter;
      process.stderr.write(`${prefix} ${done}/${total}\n`);
    }
  }
  reset(): void {
    this.lastLine = 0;
  }
  done(): void {
    if (this.tty) process.stderr.write('\r\x1b[K');
  }
}

// ---- performance quick run ----------------------------------------------------------------------

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

const r3 = (x: number): number => Math.round(x * 1000) / 1000;

export async function quickRun(flags: ClientFlags, perEndpoint: number, progress: Progress): Promise<Performance> {
  const client = new ApiClient({ url: flags.url, token: flags.token });
  const endpoints: Record<string, EndpointPerf> = {};
  const total = QUICK_RUN_PATHS.length * perEndpoint;
  let done = 0;
  progress.reset();
  for (const p of QUICK_RUN_PATHS) {
    const times: number[] = [];
    let errors = 0;
    for (let i = 0; i < perEndpoint; i++) {
      const t0 = performance.now();
      try {
        const res = await client.get(p);
        if (res.status >= 400) errors++;
      } catch (err) {
        if (err instanceof DaemonUnreachableError) throw err;
        errors++;
      }
      times.push(performance.now() - t0);
      progress.tick('performance quick run', ++done, total);
    }
    times.sort((a, b) => a - b);
    endpoints[p] = {
      count: times.length,
      errors,
      mean_ms: r3(times.reduce((a, b) => a + b, 0) / Math.max(1, times.length)),
      p50_ms: r3(percentile(times, 0.5)),
      p95_ms: r3(percentile(times, 0.95)),
      max_ms: r3(times[times.length - 1] ?? 0),
    };
  }
  return { requests_per_endpoint: perEndpoint, taken_at: new Date().toISOString(), endpoints };
}

// ---- reports ------------------------------------------------------------------------------------

const bits = (x: number): string => x.toFixed(4);
const ratioText = (r: number): string => (Number.isFinite(r) ? r.toFixed(6) : String(r));

function entropyLines(e: DaemonBaseline['entropy']): string[] {
  const lines = [`  entropy (bits)   ${ENTROPY_COMPONENTS.map((c) => `${c} ${bits(e.components[c] ?? 0)}`).join('  ')}  total ${bits(e.total)}`];
  for (const c of ENTROPY_COMPONENTS) {
    const f = e.fields?.[c];
    if (f)
      lines.push(
        `    ${c.padEnd(13)} ${Object.entries(f)
          .map(([k, v]) => `${k} ${v.toFixed(2)}`)
          .join('  ')}`,
      );
  }
  return lines;
}

function perfLines(perf: Performance | undefined, before?: Performance): string[] {
  if (!perf) return [];
  const lines = [`  performance      ${perf.requests_per_endpoint} requests per endpoint (read-only)`];
  for (const [p, e] of Object.entries(perf.endpoints)) {
    const b = before?.endpoints[p];
    const cmp = b ? `   (baseline p50 ${b.p50_ms.toFixed(2)} p95 ${b.p95_ms.toFixed(2)})` : '';
    lines.push(`    ${p.padEnd(32)} p50 ${e.p50_ms.toFixed(2)} ms  p95 ${e.p95_ms.toFixed(2)} ms${e.errors ? `  errors ${e.errors}` : ''}${cmp}`);
  }
  return lines;
}

function readBaselineFile(file: string): BaselineFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    process.stderr.write(`error: cannot read baseline ${file}: ${(err as Error).message}\n`);
    process.exit(EXIT.usage);
  }
  if (!isBaseline(parsed)) {
    process.stderr.write(
      `error: ${file} is not a baseline (expected entropy.total and keys.work/agents/log; make one with \`ai-processor baseline --out FILE\`)\n`,
    );
    process.exit(EXIT.usage);
  }
  return parsed as BaselineFile;
}

function failWith(res: { status: number; body: Record<string, unknown> }): never {
  process.stderr.write(`${textOf(res.body.error ?? 'error')}: ${textOf(res.body.message ?? JSON.stringify(res.body))}\n`);
  process.exit(res.status >= 500 ? EXIT.unavailable : EXIT.refused);
}

// ---- baseline -----------------------------------------------------------------------------------

async function runBaseline(flags: Flags): Promise<void> {
  const progress = new Progress();
  if (!flags.out) {
    process.stderr.write('error: --out FILE is required\n');
    process.exit(EXIT.usage);
  }
  progress.step('asking the daemon to capture a baseline...');
  const res = await call(flags, 'POST', '/api/entropy/baseline', { include_state: flags.state !== false });
  if (res.status >= 300) failWith(res);
  const baseline = res.body as unknown as DaemonBaseline;
  const perRequests = flags.requests ?? 20;
  const performance = perRequests > 0 ? await quickRun(flags, perRequests, progress) : undefined;
  const out: BaselineFile = { ...baseline, daemon_url: new ApiClient({ url: flags.url }).url, ...(performance ? { performance } : {}) };
  progress.step(`writing ${flags.out}...`);
  await writeFileAtomic(path.resolve(flags.out), JSON.stringify(out, null, 1) + '\n');
  progress.done();
  if (flags.json) {
    const { keys: _k, state: _s, records: _r, ...summary } = out;
    process.stdout.write(JSON.stringify({ out: path.resolve(flags.out), ...summary }) + '\n');
    return;
  }
  const lines = [
    `baseline captured at revision ${out.revision} (${out.created_at}) -> ${flags.out}`,
    `  daemon           ${out.daemon_url} (${out.data_dir})`,
    `  state checksum   ${out.checksum}${out.state ? '' : '  (state snapshot omitted)'}`,
    `  records          work ${out.counts.work}  agents ${out.counts.agents}  log ${out.counts.log}  spans ${out.counts.spans}`,
    ...entropyLines(out.entropy),
    ...perfLines(out.performance),
    `validate later with: ai-processor validate --baseline ${flags.out}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

// ---- validate -----------------------------------------------------------------------------------

export interface ValidationResult {
  ok: boolean;
  baseline: { file: string; created_at: string; revision: number; checksum: string };
  now: { revision: number; checksum: string };
  ratio: number;
  /** The entropy ratio within `range` (informational: normal work moves it). */
  conserved: boolean;
  range: [number, number];
  /** The verdict's ground: every baseline record checked against the state and the journal. */
  records: RecordJudgement | null;
  components: BaselineComparison['components'];
  entropy: { baseline: number; now: number };
  counts: { baseline: BaselineFile['counts']; now: EntropyNow['counts'] };
  missing: Record<Section, string[]>;
  missing_count: number;
  /** Records present in both whose data differs (informational; only when the baseline has a state). */
  changed: { count: number; keys: Array<{ section: Section; key: string }> } | null;
  performance?: Performance;
  problems: string[];
}

function changedRecords(before: CoordinationState, now: CoordinationState): { count: number; keys: Array<{ section: Section; key: string }> } {
  const keys: Array<{ section: Section; key: string }> = [];
  let count = 0;
  for (const s of SECTIONS) {
    for (const [key, entry] of Object.entries(before[s] ?? {})) {
      const cur = now[s]?.[key];
      if (cur && canonicalJson(cur.data) !== canonicalJson(entry.data)) {
        count++;
        if (keys.length < 100) keys.push({ section: s, key });
      }
    }
  }
  return { count, keys };
}

/**
 * The journaled revisions after the baseline's, up to `upTo`, from the coordination stream's replay:
 * null when the daemon cannot replay them or they do not continue the baseline (another data dir, a
 * journal compacted since), so that nothing is taken as journaled that was not.
 */
async function journalSince(flags: ClientFlags, b: BaselineFile, upTo: number, nowChecksum: string): Promise<DeltaMessage[] | null> {
  if (upTo === b.revision) return nowChecksum === b.checksum ? [] : null;
  if (upTo < b.revision) return null;
  // Same history: the daemon holds this very baseline (it captured it), or its journal has the
  // baseline's revision with the baseline's checksum (replayed from one revision earlier).
  const held = await call(flags, 'GET', '/api/entropy/baseline');
  const holds = held.status === 200 && held.body.created_at === b.created_at && held.body.revision === b.revision && held.body.checksum === b.checksum;
  if (!holds && b.revision < 1) return null;
  const from = holds ? b.revision : b.revision - 1;
  const url = toWsUrl(new ApiClient({ url: flags.url }).url, STREAM_PATH) + `?since=${from}`;
  const token = resolveToken(flags.token);
  return new Promise((resolve) => {
    const deltas: DeltaMessage[] = [];
    const ws = new WebSocket(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
    const done = (v: DeltaMessage[] | null): void => {
      clearTimeout(timer);
      ws.removeAllListeners('message');
      ws.on('error', () => {});
      ws.close();
      resolve(v);
    };
    const timer = setTimeout(() => done(null), 60_000);
    ws.on('error', () => done(null));
    ws.on('message', (raw) => {
      const m = JSON.parse(wsText(raw)) as ServerMessage;
      if (m.type === 'snapshot') return done(null); // no replay possible
      if (m.type === 'delta') {
        const expected = deltas.length ? deltas[deltas.length - 1].revision + 1 : from + 1;
        if (m.revision !== expected || (m.revision === b.revision && m.checksum !== b.checksum)) return done(null);
        deltas.push(m);
        if (m.revision >= upTo) return done(deltas.filter((d) => d.revision > b.revision && d.revision <= upTo));
      }
      if (m.type === 'replayed') done(null); // ended before the state we judge: not continuous
    });
  });
}

function describeMissing(section: Section, key: string, b: BaselineFile): string {
  const rec = b.state?.[section]?.[key]?.data;
  if (section === 'log' && rec) return `log #${key} (${textOf(rec.work_item_id ?? '?')} by ${textOf(rec.agent_id ?? '?')})`;
  return `${section} ${key}`;
}

async function runValidate(flags: Flags): Promise<void> {
  const progress = new Progress();
  if (!flags.baseline) {
    process.stderr.write('error: --baseline FILE is required\n');
    process.exit(EXIT.usage);
  }
  const b = readBaselineFile(flags.baseline);
  progress.step("reading the daemon's entropy...");
  const res = await call(flags, 'GET', '/api/entropy?keys=1');
  if (res.status >= 300) failWith(res);
  const now = res.body as unknown as EntropyNow;
  const cmp = compareToBaseline(b, { entropy: now.entropy, keys: now.keys! });
  let changed: ValidationResult['changed'] = null;
  let records: RecordJudgement | null = null;
  const fingerprints = b.records ?? (b.state ? fingerprintState(b.state) : null);
  if (fingerprints || b.state) {
    progress.step('comparing records with the baseline...');
    const st = await call(flags, 'GET', '/api/coordination/status');
    if (st.status >= 300) failWith(st);
    const status = st.body as unknown as { revision: number; checksum: string; state: CoordinationState };
    if (b.state) changed = status.checksum === b.checksum ? { count: 0, keys: [] } : changedRecords(b.state, status.state);
    if (fingerprints) {
      progress.step('reading the journal since the baseline...');
      records = judgeRecords(fingerprints, status.state, await journalSince(flags, b, status.revision, status.checksum));
    }
  }
  const perRequests = flags.requests ?? (b.performance ? b.performance.requests_per_endpoint : 0);
  const performance = perRequests > 0 ? await quickRun(flags, perRequests, progress) : undefined;
  progress.done();

  // Missing records: named, with the journaled deletion when there is one.
  const deletedAt = new Map((records?.deleted ?? []).map((d) => [d.section + ' ' + d.key, d]));
  const whyMissing = (s: Section, k: string): string => {
    const d = deletedAt.get(s + ' ' + k);
    return d
      ? `deleted at revision ${d.revision}${d.cause ? ` by ${d.cause}` : ''}, recoverable from the journal`
      : records?.journal === 'used'
        ? 'vanished without a journaled change'
        : 'no journal since the baseline to tell why';
  };
  const problems: string[] = [];
  if (cmp.missing_count > 0) {
    const names = SECTIONS.flatMap((s) => cmp.missing[s].map((k) => `${describeMissing(s, k, b)} (${whyMissing(s, k)})`));
    problems.push(
      `${cmp.missing_count} baseline record${cmp.missing_count === 1 ? '' : 's'} missing: ${names.slice(0, 20).join(', ')}${names.length > 20 ? `, ... (${names.length - 20} more)` : ''}`,
    );
  }
  if (records && records.fields_vanished.length > 0) {
    const names = records.fields_vanished.map((f) => `${f.section} ${f.key}: ${f.fields.join(', ')}`);
    problems.push(
      `fields vanished without a journaled change in ${names.length} record${names.length === 1 ? '' : 's'}: ${names.slice(0, 20).join('; ')}${names.length > 20 ? '; ...' : ''}`,
    );
  }
  const result: ValidationResult = {
    ok: problems.length === 0,
    baseline: { file: path.resolve(flags.baseline), created_at: b.created_at, revision: b.revision, checksum: b.checksum },
    now: { revision: now.revision, checksum: now.checksum },
    ratio: cmp.ratio,
    conserved: cmp.conserved,
    range: [CONSERVED_MIN, CONSERVED_MAX],
    records,
    components: cmp.components,
    entropy: { baseline: b.entropy.total, now: now.entropy.total },
    counts: { baseline: b.counts, now: now.counts },
    missing: cmp.missing,
    missing_count: cmp.missing_count,
    changed,
    ...(performance ? { performance } : {}),
    problems,
  };

  if (flags.json) process.stdout.write(JSON.stringify(result) + '\n');
  else {
    const c = (k: keyof BaselineFile['counts']) => `${k} ${now.counts[k]} (baseline ${b.counts[k]})`;
    const lines = [
      `validating against ${flags.baseline} (baseline revision ${b.revision}, ${b.created_at}; now revision ${now.revision})`,
      `  records          ${c('work')}  ${c('agents')}  ${c('log')}  ${c('spans')}`,
      ...(records
        ? [
            `  checked          ${records.checked} baseline records: ${records.intact} intact, ${records.changed} changed; journal since the baseline ${records.journal === 'used' ? 'read' : 'unavailable (nothing counts as journaled)'}`,
            ...records.fields_removed
              .slice(0, 20)
              .map((f) => `    fields removed by revision ${f.revision}${f.cause ? ` (${f.cause})` : ''}: ${f.section} ${f.key}: ${f.fields!.join(', ')}`),
            ...records.fields_vanished.slice(0, 20).map((f) => `    FIELDS VANISHED ${f.section} ${f.key}: ${f.fields.join(', ')}`),
          ]
        : [`  checked          record keys only (this baseline has no record fingerprints)`]),
      `  missing          ${cmp.missing_count === 0 ? 'none' : `${cmp.missing_count} baseline record${cmp.missing_count === 1 ? '' : 's'}`}`,
    ];
    for (const s of SECTIONS) for (const k of cmp.missing[s]) lines.push(`    MISSING ${describeMissing(s, k, b)}: ${whyMissing(s, k)}`);
    if (changed)
      lines.push(
        `  changed          ${
          changed.count === 0
            ? now.checksum === b.checksum
              ? 'none (state checksum identical)'
              : 'none'
            : `${changed.count} record(s): ${changed.keys
                .slice(0, 10)
                .map((x) => `${x.section} ${x.key}`)
                .join(', ')}${changed.count > 10 ? ', ...' : ''}`
        }`,
      );
    lines.push(
      `  entropy ratio    ${ratioText(cmp.ratio)}  (${bits(now.entropy.total)} / ${bits(b.entropy.total)} bits; ${cmp.conserved ? 'within' : 'outside'} ${CONSERVED_MIN}..${CONSERVED_MAX})  informational`,
      `    per component  ${ENTROPY_COMPONENTS.map((k) => `${k} ${ratioText(cmp.components[k])}`).join('  ')}`,
      `    (normal work moves the ratio: a claim or a completion changes the value distributions. Within the band it says a`,
      `    transformation such as a migration kept the distributions; the verdict is the record check above.)`,
    );
    lines.push(...perfLines(performance, b.performance));
    lines.push(result.ok ? 'RESULT: information conserved' : `RESULT: NOT conserved: ${problems.join('; ')}`);
    process.stdout.write(lines.join('\n') + '\n');
  }
  process.exit(result.ok ? EXIT.ok : EXIT.refused);
}

export function registerBaselineCommands(program: Command): void {
  clientOptions(program.command('baseline'))
    .description('capture an information baseline from the running daemon (entropy, counts, record keys, state, quick performance run) and write it to a file')
    .requiredOption('--out <file>', 'where to write the baseline (JSON)')
    .option('--requests <n>', 'requests per endpoint in the performance quick run (0 = skip; default 20)', num('--requests'))
    .option('--no-state', 'leave the state snapshot out of the file')
    .action(async (o: Flags) => runBaseline(o));

  clientOptions(program.command('validate'))
    .description(
      'compare the running daemon with a baseline file record by record: exit 1 if a baseline record is missing or a field vanished without a journaled change (the entropy ratio is reported, not judged)',
    )
    .requiredOption('--baseline <file>', 'a file written by `ai-processor baseline --out`')
    .option('--requests <n>', 'requests per endpoint in the performance quick run (default: as in the baseline; 0 = skip)', num('--requests'))
    .action(async (o: Flags) => runValidate(o));
}
