// A large legacy file written by another program (tens of megabytes of claims, under the size
// limit) while agents claim over HTTP: the file is parsed a slice at a time (daemon/store/
// piecewise-json.ts), so every claim keeps being answered meanwhile, and every record of the file
// arrives in the state, as written.
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startDaemon, type DaemonHandle } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';

let d: DaemonHandle | null = null;
afterEach(async () => {
  await d?.stop();
  d = null;
});

/** Records in the generated file: about 25 MB as jq writes it. */
const RECORDS = 60_000;

function record(i: number): Record<string, unknown> {
  return {
    work_item_id: `ext_big_${i}`,
    agent_id: `script_agent_${i % 40}`,
    claimed_at: '2026-12-05T10:00:00Z',
    work_type: 'bulk_import',
    description: `imported by a script, record ${i}: ${'lorem ipsum '.repeat(20)}`,
    priority: ['low', 'medium', 'high'][i % 3],
    team: 'import',
    status: 'active',
    unicode: 'é ✓ \u{1F600}',
    numbers: [i, i / 7, -i, 1e21 + i],
  };
}

describe('a large external legacy file', () => {
  it('is picked up while claims over HTTP keep being answered, and every record arrives', async () => {
    d = await startDaemon({ args: ['--lease-ms', '3600000'] });
    const c = new HttpClient(d.url);
    expect((await c.post('/api/coordination/claim', { work_id: 'seed', agent_id: 'api_agent' })).status).toBe(200);
    const file = path.join(d.dataDir, 'work_claims.json');
    await expect.poll(() => readFileSync(file, 'utf8').includes('"seed"'), { timeout: 15_000, interval: 100 }).toBe(true);

    // The file as the script writes it: what it read, plus its records, put in place by a rename.
    const records = [...(JSON.parse(readFileSync(file, 'utf8')) as object[]), ...Array.from({ length: RECORDS }, (_, i) => record(i))];
    const text = JSON.stringify(records, null, 2) + '\n';
    expect(text.length).toBeGreaterThan(20 * 1024 * 1024);
    const tmp = path.join(d.dataDir, '.import.tmp');
    writeFileSync(tmp, text);

    // Claims one after another, from before the file is put in place until its records are in.
    const statuses: number[] = [];
    const live: string[] = [];
    let picked = false;
    let duringPickUp = 0;
    let renamed = false;
    const claims = (async () => {
      for (let i = 0; !picked; i++) {
        const id = `live_${i}`;
        const res = await c.post('/api/coordination/claim', { work_id: id, agent_id: 'api_agent' });
        statuses.push(res.status);
        live.push(id);
        if (renamed && !picked) duringPickUp++;
      }
    })();
    await expect.poll(() => statuses.length, { timeout: 30_000, interval: 20 }).toBeGreaterThan(2);
    renameSync(tmp, file);
    renamed = true;
    const pickedUp = () => d!.logs.some((l) => l.includes('picked up external edit') && (JSON.parse(l) as { changes: number }).changes >= RECORDS);
    await expect.poll(pickedUp, { timeout: 180_000, interval: 100 }).toBe(true);
    picked = true;
    await claims;

    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(duringPickUp).toBeGreaterThan(0);
    const state = (await c.get('/api/coordination/status')).body.state.work as Record<string, { data: Record<string, unknown> }>;
    const missing = Array.from({ length: RECORDS }, (_, i) => `ext_big_${i}`).filter((id) => !state[id]);
    expect(missing).toEqual([]);
    // As written to the file (JSON has no -0: the record's -0 is read back as 0).
    for (const i of [0, 1, 12_345, RECORDS - 1]) expect(state[`ext_big_${i}`].data).toEqual(JSON.parse(JSON.stringify(record(i))));
    expect(live.filter((id) => !state[id])).toEqual([]);
    expect(state.seed).toBeDefined();
  }, 300_000);
});
