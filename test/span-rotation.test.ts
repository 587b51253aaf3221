// telemetry_spans.jsonl is bounded: a real daemon with a small configured size rotates it by rename
// (.1.jsonl, .2.jsonl, the oldest replaced), never rewriting a byte, keeps the live part under the
// legacy name, and by default writes no span of the daemon's own steps there.
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { legacySpanValues, parseLegacySpans } from '../shared/legacy-spans.js';
import { copyReference, REFERENCE, runCli, startDaemon, tempDir, type DaemonHandle } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';
import { SpanFile, rotatedName } from '../daemon/observability/span-file.js';
import { textOf } from '../shared/text.js';

const ORIGINAL = readFileSync(path.join(REFERENCE, 'original/telemetry_spans.jsonl'));
const MAX = 16_000;
let d: DaemonHandle | null = null;
afterEach(async () => {
  await d?.stop();
  d = null;
});

const spansOf = (file: string) => (existsSync(file) ? legacySpanValues(parseLegacySpans(readFileSync(file, 'utf8'))) : []);
const ops = (file: string) => spansOf(file).map((s) => textOf(s.operation_name));

async function claims(c: HttpClient, prefix: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++)
    expect((await c.post('/api/coordination/claim', { work_id: `${prefix}_${i}`, agent_id: 'rot_agent', work_type: 'rotation' })).status).toBe(200);
}

/**
 * Claims, then waits until the last claim's span is in the live file: spans queued while a loaded
 * daemon lags would otherwise reach the file as one batch that rotates more than once.
 */
async function claimsWritten(c: HttpClient, live: string, prefix: string, n: number): Promise<void> {
  await claims(c, prefix, n);
  const last = `${prefix}_${n - 1}`;
  const written = () => spansOf(live).some((s) => (s.span_attributes as Record<string, unknown> | undefined)?.['s2s.work_item_id'] === last);
  await expect.poll(written, { timeout: 15_000, interval: 100 }).toBe(true);
}

describe('span file rotation', () => {
  it('rotates by size into .1/.2 by rename, keeps two, and the entropy counts survive a restart', async () => {
    const dataDir = copyReference('original');
    const live = path.join(dataDir, 'telemetry_spans.jsonl');
    const rotated = (n: number) => path.join(dataDir, `telemetry_spans.${n}.jsonl`);
    const env = { AI_PROCESSOR_TELEMETRY_FILE_MAX_BYTES: String(MAX), AI_PROCESSOR_TELEMETRY_FILE_KEEP: '2' };
    d = await startDaemon({ dataDir, env, args: ['--lease-ms', '3600000'] });
    const c = new HttpClient(d.url);
    // The original file (20393 bytes) is already past the limit: the first write rotates it whole.
    await claims(c, 'a', 3);
    await expect.poll(() => existsSync(rotated(1)), { timeout: 15_000, interval: 100 }).toBe(true);
    expect(readFileSync(rotated(1)).equals(ORIGINAL)).toBe(true);
    await expect.poll(() => ops(live).filter((o) => o === 's2s.work.claim').length, { timeout: 15_000, interval: 100 }).toBe(3);

    // Enough spans for the live file to pass the limit twice more: .1 moves to .2, then .2 is replaced.
    const firstRotated = readFileSync(rotated(1));
    let n = 0;
    while (!existsSync(rotated(2))) {
      await claimsWritten(c, live, `b${n++}`, 5);
      if (n > 200) throw new Error('no second rotation');
    }
    await expect.poll(() => existsSync(rotated(2)) && readFileSync(rotated(2)).equals(firstRotated), { timeout: 15_000, interval: 100 }).toBe(true);
    const secondRotated = readFileSync(rotated(1));
    while (readFileSync(rotated(2)).equals(firstRotated)) {
      await claimsWritten(c, live, `c${n++}`, 5);
      if (n > 400) throw new Error('no third rotation');
    }
    await expect.poll(() => readFileSync(rotated(2)).equals(secondRotated), { timeout: 15_000, interval: 100 }).toBe(true);
    expect(existsSync(rotated(3))).toBe(false); // keep = 2
    for (const f of [live, rotated(1), rotated(2)]) {
      expect(statSync(f).size).toBeLessThanOrEqual(MAX);
      expect(ops(f).some((o) => o === 's2s.journal.fsync' || o === 's2s.legacy.write')).toBe(false);
    }
    const stats = (await c.get('/api/stats')).body as { telemetry: { file: { rotations: number } } };
    expect(stats.telemetry.file.rotations).toBeGreaterThanOrEqual(3);

    // Every span seen stays counted (the rotated-away ones too), across a restart.
    await expect
      .poll(async () => ((await c.get('/api/entropy')).body as { counts: { spans: number } }).counts.spans, { timeout: 5_000, interval: 200 })
      .toBeGreaterThan(22 + 3 * n);
    const before = (await c.get('/api/entropy')).body as { counts: { spans: number }; entropy: { components: { telemetry: number } } };
    c.close();
    await d.stop();
    d = await startDaemon({ dataDir, env });
    const c2 = new HttpClient(d.url);
    const after = (await c2.get('/api/entropy')).body as typeof before;
    expect(after.counts.spans).toBe(before.counts.spans);
    expect(after.entropy.components.telemetry).toBeCloseTo(before.entropy.components.telemetry, 9);
    c2.close();
  });

  it('rotates by age: a span written after the live file is older than the limit starts a new one', async () => {
    const dataDir = tempDir();
    d = await startDaemon({ dataDir, env: { AI_PROCESSOR_TELEMETRY_FILE_MAX_AGE_MS: '1500' } });
    const c = new HttpClient(d.url);
    const live = path.join(dataDir, 'telemetry_spans.jsonl');
    const first = await c.post('/api/coordination/claim', { work_id: 'age_1', agent_id: 'rot_agent' });
    expect(first.status).toBe(200);
    await expect.poll(() => readFileSync(live, 'utf8').includes(String(first.headers['x-span-id'])), { timeout: 15_000, interval: 100 }).toBe(true);
    await new Promise((r) => setTimeout(r, 2000)); // the age limit itself is what is tested
    const second = await c.post('/api/coordination/claim', { work_id: 'age_2', agent_id: 'rot_agent' });
    expect(second.status).toBe(200);
    const rotated = path.join(dataDir, 'telemetry_spans.1.jsonl');
    await expect
      .poll(() => existsSync(live) && readFileSync(live, 'utf8').includes(String(second.headers['x-span-id'])), { timeout: 15_000, interval: 100 })
      .toBe(true);
    expect(readFileSync(rotated, 'utf8')).toContain(String(first.headers['x-span-id']));
    expect(readFileSync(live, 'utf8')).not.toContain(String(first.headers['x-span-id']));
    c.close();
  });

  it("writes the daemon's own steps only when asked, and never counts them as fleet telemetry", async () => {
    const dataDir = tempDir();
    d = await startDaemon({ dataDir, env: { AI_PROCESSOR_TELEMETRY_INTERNAL_SPANS: 'true' } });
    const c = new HttpClient(d.url);
    await claims(c, 'i', 4);
    const file = path.join(dataDir, 'telemetry_spans.jsonl');
    await expect.poll(() => ops(file).filter((o) => o === 's2s.work.claim').length, { timeout: 15_000, interval: 100 }).toBe(4);
    await expect.poll(() => ops(file).includes('s2s.journal.fsync'), { timeout: 15_000, interval: 100 }).toBe(true);
    const fleet = ops(file).filter((o) => !['s2s.journal.fsync', 's2s.legacy.write', 's2s.legacy.merge'].includes(o)).length;
    const e = (await c.get('/api/entropy')).body as { counts: { spans: number }; entropy: { fields: { telemetry: Record<string, number> } } };
    expect(e.counts.spans).toBe(fleet);
    expect(e.entropy.fields.telemetry.operation).toBe(0); // four claims: one operation, no spread
    c.close();
  });

  it('refuses a keep of 0 and a non-boolean switch, and starts nothing', async () => {
    const dataDir = tempDir();
    const keep = await runCli(['start', '--data-dir', dataDir, '--port', '0'], { AI_PROCESSOR_TELEMETRY_FILE_KEEP: '0' });
    expect(keep.code).toBe(2);
    expect(keep.stderr).toMatch(/telemetry_file_keep must be an integer >= 1/);
    const flag = await runCli(['start', '--data-dir', dataDir, '--port', '0'], { AI_PROCESSOR_TELEMETRY_INTERNAL_SPANS: 'maybe' });
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/telemetry_internal_spans must be true or false/);
    expect(existsSync(path.join(dataDir, 'telemetry_spans.jsonl'))).toBe(false);
  });
});

describe('SpanFile rotation by itself', () => {
  it('cuts one large batch at line ends so no file passes the limit, and loses or repeats no line', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'telemetry_spans.jsonl');
    const logger = { info: () => {}, warn: () => {} };
    const f = new SpanFile({ file, indexFile: path.join(dir, 'index.json'), logger, maxBytes: 1000, keep: 10, flushMs: 60_000 });
    await f.open(0);
    const lines = Array.from({ length: 40 }, (_, i) =>
      JSON.stringify({ operation_name: 's2s.work.claim', status: 'ok', n: i, pad: 'x'.repeat(60 + (i % 7) * 10) }),
    );
    for (const l of lines) expect(f.append(l, 's2s.work.claim', 'ok')).toBe(true);
    await f.flush(); // one write of every line
    await f.close();
    const files = [...Array.from({ length: 10 }, (_, i) => rotatedName(file, 10 - i)), file].filter((p) => existsSync(p));
    expect(files.length).toBeGreaterThan(3);
    for (const p of files) expect(statSync(p).size).toBeLessThanOrEqual(1000);
    const all = files.flatMap((p) => readFileSync(p, 'utf8').split('\n').filter(Boolean));
    expect(all).toEqual(lines);
    expect(f.stats).toMatchObject({ appended: 40, rotations: files.length - 1 });
  });
});
