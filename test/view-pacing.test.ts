// The legacy files are a coalesced view: under sustained load a large file is rewritten at most a
// fifth of the time, so its rendering and its disk writes do not crowd out the claims (and their
// journal fsyncs). Regression: a change arriving during a rewrite used to schedule the next one
// with the old, short pause, so a large file was rewritten back to back for as long as load lasted.
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { seedDataDir } from '../bench/claims.js';
import { startDaemon, type DaemonHandle } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';

const RECORDS = 8_000;
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

interface WriteSpan {
  start: number;
  ms: number;
}

function legacyWrites(dataDir: string, file: string): WriteSpan[] {
  const out: WriteSpan[] = [];
  for (const line of readFileSync(path.join(dataDir, 'telemetry_spans.jsonl'), 'utf8').split('\n')) {
    if (!line.includes('"s2s.legacy.write"')) continue;
    const s = JSON.parse(line) as { start_time: string; duration_ms: number; span_attributes: Record<string, unknown> };
    if (s.span_attributes['s2s.file'] === file) out.push({ start: Date.parse(s.start_time), ms: s.duration_ms });
  }
  return out;
}

describe('legacy view pacing', () => {
  it('a large file is rewritten with pauses of at least four times each rewrite under sustained load, and ends complete', async () => {
    const dataDir = seedDataDir(RECORDS);
    dirs.push(dataDir);
    // A short configured pause, so what spaces the rewrites is their own duration.
    let d: DaemonHandle | null = await startDaemon({
      dataDir,
      args: ['--lease-ms', '3600000'],
      env: { AI_PROCESSOR_VIEW_FLUSH_MS: '20', AI_PROCESSOR_TELEMETRY_INTERNAL_SPANS: 'true' },
    });
    const clients = Array.from({ length: 8 }, () => new HttpClient(d!.url));
    let changes = 0;
    // Load goes on until the file has been replaced at least four times:
    // three paced pairs to check, however slow a loaded machine makes the rewrites.
    const file = path.join(dataDir, 'work_claims.json');
    const stamp = () => {
      const st = statSync(file);
      return `${st.ino}:${st.mtimeMs}`;
    };
    let last = stamp();
    let replaced = 0;
    const deadline = Date.now() + 150_000;
    const enough = () => replaced >= 4 || Date.now() > deadline;
    const watcher = setInterval(() => {
      const now = stamp();
      if (now !== last) replaced++;
      last = now;
    }, 5);
    await Promise.all(
      clients.map(async (c, ci) => {
        // Claim and release the seeded items in turn: the file keeps its size, every call changes it.
        for (let i = 0; !enough(); i++) {
          const work_id = `work_seed_${(i * clients.length + ci) % RECORDS}`;
          const agent_id = `bench_agent_${ci}`;
          expect((await c.post('/api/coordination/claim', { work_id, agent_id })).status).toBe(200);
          expect((await c.post('/api/coordination/release', { work_id, agent_id })).status).toBe(200);
          changes += 2;
        }
      }),
    );
    clearInterval(watcher);
    const api = (await clients[0].get('/api/work?limit=999999')).body.work as Array<{ work_item_id: string; status: string }>;
    clients.forEach((c) => c.close());
    expect(changes).toBeGreaterThan(0);
    expect(replaced).toBeGreaterThanOrEqual(4);
    expect(await d.stop()).toBe(0);
    d = null;

    const writes = legacyWrites(dataDir, 'work_claims.json');
    expect(writes.length).toBeGreaterThanOrEqual(4);
    // The last write may be the one on shutdown, which is not paced: the pairs before it are.
    for (let i = 0; i + 2 < writes.length; i++) {
      const idle = writes[i + 1].start - (writes[i].start + writes[i].ms);
      // The pause is 5x the whole flush (which includes this write); 4x leaves room for clock rounding.
      expect(idle, `pause after write ${i} of ${writes[i].ms} ms`).toBeGreaterThanOrEqual(4 * writes[i].ms - 2);
    }
    // Paced, never lossy: the file written on shutdown has every acknowledged change.
    const work = JSON.parse(readFileSync(file, 'utf8')) as Array<{ work_item_id: string; status: string }>;
    expect(work).toHaveLength(RECORDS);
    expect(new Map(work.map((w) => [w.work_item_id, w.status]))).toEqual(new Map(api.map((w) => [w.work_item_id, w.status])));
    expect(work.filter((w) => w.status === 'claimed')).toHaveLength(0);
  }, 240_000);
});
