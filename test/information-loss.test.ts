// The InformationLoss invariant against a real daemon and real scripts: records or fields that vanish
// without a deliberate change move information_{records,fields}_lost_total; normal work (the
// simulated fleet) and deliberate deletions never do, however far the entropy drifts.
import { afterEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { copyFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { copyReference, runCli, startDaemon, ROOT, type DaemonHandle } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';
import { detectLosses } from '../daemon/store/losses.js';
import { textHash } from '../daemon/store/ingest.js';
import type { JsonObject } from '../shared/types.js';

const run = promisify(execFile);
const JQ = path.join(ROOT, 'test/fixtures/scripts/jq-rewrite.sh');
let d: DaemonHandle | null = null;
afterEach(async () => {
  await d?.stop();
  d = null;
});

async function lost(c: HttpClient): Promise<{ records: number; fields: number }> {
  const text = String((await c.get('/metrics')).body);
  const value = (name: string): number => {
    const m = new RegExp(`^${name}\\{cause="external_edit"\\} (\\S+)$`, 'm').exec(text);
    if (!m) throw new Error(`${name} not exposed`);
    return Number(m[1]);
  };
  return { records: value('information_records_lost_total'), fields: value('information_fields_lost_total') };
}

const work = async (c: HttpClient): Promise<Record<string, { data: Record<string, unknown> }>> => (await c.get('/api/coordination/status')).body.state.work;
const claimsFile = (dir: string): string => path.join(dir, 'work_claims.json');
const onDisk = (dir: string): Array<Record<string, unknown>> => JSON.parse(readFileSync(claimsFile(dir), 'utf8'));

describe('information loss counters', () => {
  it('the simulated fleet moves the entropy far from its baseline but never counts a loss', async () => {
    d = await startDaemon({ dataDir: copyReference('legacy'), args: ['--lease-ms', '2000'] });
    const c = new HttpClient(d.url);
    expect((await c.post('/api/entropy/baseline', {})).status).toBe(201);
    const sim = await runCli([
      'simulate',
      '--url',
      d.url,
      '--agents',
      '8',
      '--rate',
      '40',
      '--duration',
      '8',
      '--seed',
      '5',
      '--silence-rate',
      '0.1',
      '--json',
    ]);
    expect(sim.code, sim.stderr).toBe(0);
    const summary = JSON.parse(sim.stdout) as { claims: number; completed: number };
    expect(summary.claims).toBeGreaterThan(10);
    expect(summary.completed).toBeGreaterThan(0);
    const now = (await c.get('/api/entropy')).body as { ratio: number };
    // The old alert compared this ratio with 0.99..1.01: normal work leaves that band.
    expect(Math.abs(now.ratio - 1)).toBeGreaterThan(0.01);
    expect(await lost(c)).toEqual({ records: 0, fields: 0 });
    c.close();
  });

  it('a deliberate deletion from the current file is not a loss; a record rewritten without a field is', async () => {
    const dir = copyReference('legacy');
    d = await startDaemon({ dataDir: dir });
    const c = new HttpClient(d.url);
    const ids = onDisk(dir).map((r) => String(r.work_item_id));
    const [gone, trimmed] = [ids[1], ids[2]];
    expect((await work(c))[trimmed].data.description).toEqual(expect.any(String));
    expect(await lost(c)).toEqual({ records: 0, fields: 0 });

    await run('bash', [JQ, claimsFile(dir), `map(select(.work_item_id != "${gone}"))`]);
    await expect.poll(async () => Object.hasOwn(await work(c), gone), { timeout: 15_000, interval: 100 }).toBe(false);

    await run('bash', [JQ, claimsFile(dir), `map(if .work_item_id == "${trimmed}" then del(.description) else . end)`]);
    await expect.poll(async () => (await lost(c)).fields, { timeout: 15_000, interval: 100 }).toBe(1);
    expect(Object.hasOwn((await work(c))[trimmed].data, 'description')).toBe(false);
    // Events are counted in order: the deletion before it counted nothing.
    expect((await lost(c)).records).toBe(0);
    await expect.poll(() => d!.logs.join('\n'), { timeout: 5_000, interval: 100 }).toMatch(/information lost: fields of a record vanished/);
    c.close();
  });

  it('a deletion made on a stale copy either keeps the record or counts it lost, never silently', async () => {
    const dir = copyReference('legacy');
    d = await startDaemon({ dataDir: dir, args: ['--lease-ms', '3600000'] });
    const c = new HttpClient(d.url);
    const victim = onDisk(dir).map((r) => String(r.work_item_id))[3];
    expect((await c.post('/api/coordination/claim', { work_id: 'changed_meanwhile', agent_id: 'api_agent' })).status).toBe(200);
    await expect.poll(() => onDisk(dir).some((r) => r.work_item_id === 'changed_meanwhile'), { timeout: 15_000, interval: 100 }).toBe(true);
    const copy = path.join(dir, 'copy-taken-earlier.json');
    copyFileSync(claimsFile(dir), copy);
    // After the copy was taken, the daemon changes a record and writes the file.
    expect((await c.post('/api/coordination/progress', { work_id: 'changed_meanwhile', agent_id: 'api_agent', progress: 30 })).status).toBe(200);
    await expect.poll(() => onDisk(dir).find((r) => r.work_item_id === 'changed_meanwhile')?.progress, { timeout: 15_000, interval: 100 }).toBe(30);
    // The script writes its old copy back, without the victim, plus a new record of its own.
    const filter = `map(select(.work_item_id != "${victim}")) + [{"work_item_id": "sentinel", "status": "pending", "work_type": "shell"}]`;
    await run('bash', [JQ, claimsFile(dir), filter, copy]);
    await expect.poll(async () => Object.hasOwn(await work(c), 'sentinel'), { timeout: 15_000, interval: 100 }).toBe(true);
    const state = await work(c);
    expect(state.changed_meanwhile.data.progress).toBe(30); // the acknowledged change survived
    const counted = (await lost(c)).records;
    expect(Object.hasOwn(state, victim) || counted === 1).toBe(true);
    if (!Object.hasOwn(state, victim)) expect(d.logs.join('\n')).toMatch(/information lost: a record was deleted/);
    c.close();
  });
});

describe('detectLosses (pure)', () => {
  const held: Record<string, JsonObject> = {
    a: { work_item_id: 'a', status: 'pending', description: 'A' },
    b: { work_item_id: 'b', status: 'pending', description: 'B' },
  };
  const item = (v: JsonObject) => ({ value: v, text: JSON.stringify(v) });
  const current = (k: string) => held[k];

  it('counts fields an applied edit takes away, not values it changes or records it adds', () => {
    const losses = detectLosses({
      section: 'work',
      items: [item({ work_item_id: 'a', status: 'done' }), item({ work_item_id: 'b', status: 'x', description: 'B2' }), item({ work_item_id: 'n' })],
      changes: [
        { section: 'work', key: 'a', op: 'put', data: { work_item_id: 'a', status: 'done' } },
        { section: 'work', key: 'b', op: 'put', data: { work_item_id: 'b', status: 'x', description: 'B2' } },
        { section: 'work', key: 'n', op: 'put', data: { work_item_id: 'n' } },
      ],
      current,
    });
    expect(losses).toEqual([{ section: 'work', key: 'a', cause: 'external_edit', fields: ['description'] }]);
  });

  it('a deletion is a loss only when the copy held an older version of one of our records', () => {
    const rest = [item(held.a)];
    const del = [{ section: 'work' as const, key: 'b', op: 'del' as const }];
    expect(detectLosses({ section: 'work', items: rest, changes: del, current, isStale: () => false })).toEqual([]);
    const staleText = rest[0].text;
    const isStale = (key: string, hash: string) => key === 'a' && hash === textHash(staleText);
    expect(detectLosses({ section: 'work', items: rest, changes: del, current, isStale })).toEqual([{ section: 'work', key: 'b', cause: 'external_edit' }]);
  });
});
