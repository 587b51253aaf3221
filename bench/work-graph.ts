// Issue 20's figures: claim-next with 32 clients at 1k and 50k ready items (p50, p99, claims/s),
// beside claim by id on the same backlog size. The backlog is seeded with the measured claims on
// top, so that `n` items are still ready when the run ends (claim-next takes them out as it goes).
import type { Section } from './report.js';
import { runLoad, seedDataDir } from './claims.js';
import { HttpClient } from './http.js';
import { spawnDaemon } from './proc.js';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import { percentile, type Figure } from './report.js';

const CLIENTS = 32;
const WARM_PER_CLIENT = 50;
const MEASURED_PER_CLIENT = 150;

interface Run {
  perSecond: number;
  p50: number;
  p99: number;
}

async function run(ready: number, mode: 'next' | 'id'): Promise<Run> {
  const extra = CLIENTS * (WARM_PER_CLIENT + MEASURED_PER_CLIENT);
  const d = await spawnDaemon({ dataDir: seedDataDir(ready + extra), args: ['--lease-ms', '3600000'] });
  try {
    // claim by id takes seeded items from the end of the backlog, each client its own.
    let next = ready + extra;
    const body = (c: number) => (mode === 'next' ? { agent_id: `bench_agent_${c}` } : { work_id: `work_seed_${--next}`, agent_id: `bench_agent_${c}` });
    const path = mode === 'next' ? '/api/coordination/claim-next' : '/api/coordination/claim';
    const warm = await runLoad(d.url, CLIENTS, WARM_PER_CLIENT, path, body);
    const r = await runLoad(d.url, CLIENTS, MEASURED_PER_CLIENT, path, body);
    if (warm.failures + r.failures > 0) throw new Error(`${warm.failures + r.failures} ${mode} claims failed`);
    return { perSecond: r.ops / r.seconds, p50: percentile(r.latenciesMs, 50), p99: percentile(r.latenciesMs, 99) };
  } finally {
    await d.stop();
  }
}

/** The complete call (HTTP, durable) of an item that 1,000 waiting items depend on, after a warm-up round. */
async function unblock(): Promise<number> {
  const d = await spawnDaemon({ dataDir: mkdtempSync(nodePath.join(os.tmpdir(), 'aip-bench-wg-')), args: ['--lease-ms', '3600000'] });
  const c = new HttpClient(d.url);
  try {
    let ms = NaN;
    for (const round of ['warm', 'measured']) {
      const root = `ub_${round}_root`;
      const items = [
        { work_id: root, work_type: 'ub' },
        ...Array.from({ length: 1000 }, (_, i) => ({ work_id: `ub_${round}_${i}`, work_type: 'ub', depends_on: [root] })),
      ];
      if ((await c.post('/api/work/batch', { items })).status !== 201) throw new Error('batch refused');
      if ((await c.post('/api/coordination/claim', { work_id: root, agent_id: 'ub' })).status !== 200) throw new Error('claim refused');
      const t0 = performance.now();
      if ((await c.post('/api/coordination/complete', { work_id: root, agent_id: 'ub' })).status !== 200) throw new Error('complete refused');
      ms = performance.now() - t0;
      const ready = (await c.get('/api/work-graph')).body.ready;
      if (round === 'measured' && ready < 1000) throw new Error(`only ${ready} ready after the unblock`);
    }
    return ms;
  } finally {
    c.close();
    await d.stop();
  }
}

export const workGraphSection: Section = async (figures: Figure[], log) => {
  const results: Record<string, Run> = {};
  for (const ready of [1000, 50_000]) {
    for (const mode of ['next', 'id'] as const) {
      const r = await run(ready, mode);
      const key = `${mode === 'next' ? 'claim_next' : 'claim_by_id'}_${ready / 1000}k`;
      results[key] = r;
      figures.push({ name: `${key}_per_s`, value: r.perSecond, unit: 'ops/s', better: 'higher' });
      figures.push({ name: `${key}_p50_ms`, value: r.p50, unit: 'ms', better: 'lower' });
      figures.push({ name: `${key}_p99_ms`, value: r.p99, unit: 'ms', better: 'lower' });
      log(`${key}: ${r.perSecond.toFixed(0)}/s p50 ${r.p50.toFixed(2)} ms p99 ${r.p99.toFixed(2)} ms`);
    }
  }
  const unblockMs = await unblock();
  figures.push({ name: 'complete_unblocking_1000_ms', value: unblockMs, unit: 'ms', better: 'lower' });
  log(`complete that unblocks 1,000 dependents: ${unblockMs.toFixed(1)} ms`);
  figures.push({ name: 'claim_next_p50_50k_over_1k', value: results.claim_next_50k.p50 / results.claim_next_1k.p50, unit: 'x', target: 1.5, better: 'lower' });
  figures.push({
    name: 'claim_next_over_claim_by_id_50k',
    value: results.claim_next_50k.perSecond / results.claim_by_id_50k.perSecond,
    unit: 'x',
    target: 1,
    better: 'higher',
  });
};
