// The legacy files are a coalesced view: under sustained load a large file is rewritten at most a
// fifth of the time, so its rendering and its disk writes do not crowd out the claims (and their
// journal fsyncs). Regression: a change arriving during a rewrite used to schedule the next one
// with the old, short pause, so a large file was rewritten back to back for as long as load lasted.
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { seedDataDir } from '../bench/claims.js';
import { startDaemon, type DaemonHandle } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';

const RECORDS = 20_000;
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
    let d: DaemonHandle | null = await startDaemon({ dataDir, args: ['--lease-ms', '3600000'], env: { AI_PROCESSOR_VIEW_FLUSH_MS: '20' } });
    const clients = Array.from({ length: 8 }, () => new HttpClient(d!.url));
    let claimed = 0;
    let created = 0; // ids past the seeded ones: the claim creates the item
    const until = Date.now() + 6000;
    await Promise.all(
      clients.map(async (c, ci) => {
        for (let i = 0; Date.now() < until; i++) {
          const n = i * clients.length + ci;
          const res = await c.post('/api/coordination/claim', { work_id: `work_seed_${n}`, agent_id: `bench_agent_${ci}` });
          expect(res.status).toBe(200);
          claimed++;
          if (n >= RECORDS) created++;
        }
      }),
    );
    clients.forEach((c) => c.close());
    expect(await d.stop()).toBe(0);
    d = null;

    const writes = legacyWrites(dataDir, 'work_claims.json');
    expect(writes.length).toBeGreaterThanOrEqual(3);
    // The last write may be the one on shutdown, which is not paced: the pairs before it are.
    for (let i = 0; i + 2 < writes.length; i++) {
      const idle = writes[i + 1].start - (writes[i].start + writes[i].ms);
      // The pause is 5x the whole flush (which includes this write); 4x leaves room for clock rounding.
      expect(idle, `pause after write ${i} of ${writes[i].ms} ms`).toBeGreaterThanOrEqual(4 * writes[i].ms - 2);
    }
    // Paced, never lossy: the file written on shutdown has every acknowledged claim.
    const work = JSON.parse(readFileSync(path.join(dataDir, 'work_claims.json'), 'utf8')) as Array<{ status: string }>;
    expect(work).toHaveLength(RECORDS + created);
    expect(work.filter((w) => w.status === 'claimed')).toHaveLength(claimed);
  }, 60_000);
});
