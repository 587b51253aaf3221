// Pointing the daemon at a legacy agent_coordination/ directory loses nothing: every record, field
// and duplicate is served, and the files come back byte for byte where nothing changed.
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { splitJsonArray } from '../shared/legacy-json.js';
import { copyReference, REFERENCE, startDaemon } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';

const FILES = ['work_claims.json', 'agent_status.json', 'coordination_log.json'] as const;
const SECTION = { 'work_claims.json': 'work', 'agent_status.json': 'agents', 'coordination_log.json': 'log' } as const;
const LONG_LEASE = ['--lease-ms', '3600000'];
// Which of FILES each reference folder has (original/ predates coordination_log.json).
const PRESENT: Record<'legacy' | 'original', ReadonlyArray<(typeof FILES)[number]>> = {
  legacy: FILES,
  original: ['work_claims.json', 'agent_status.json'],
};

const read = (dir: string, f: string) => readFileSync(path.join(dir, f), 'utf8');

describe.each(['legacy', 'original'] as const)('legacy import of reference/%s', (which) => {
  it('serves every record and field, and writes nothing back when nothing changed', async () => {
    const dir = copyReference(which);
    const d = await startDaemon({ dataDir: dir, args: LONG_LEASE });
    const status = (await new HttpClient(d.url).get('/api/coordination/status')).body;
    for (const f of FILES) {
      // The fixture holds exactly the files listed for it; a missing one fails here instead of being skipped.
      expect(existsSync(path.join(REFERENCE, which, f))).toBe(PRESENT[which].includes(f));
      const served = Object.values(status.state[SECTION[f]] as Record<string, { data: object }>).map((e) => e.data);
      if (!PRESENT[which].includes(f)) {
        expect(served).toEqual([]);
        continue;
      }
      const records = JSON.parse(read(path.join(REFERENCE, which), f)) as object[];
      expect(served).toHaveLength(records.length);
      // Same records, same fields, same order, duplicates included.
      expect(served).toEqual(records);
    }
    expect(await d.stop()).toBe(0);
    for (const f of [...PRESENT[which], 'telemetry_spans.jsonl']) {
      expect(read(dir, f)).toBe(read(path.join(REFERENCE, which), f));
    }
  });

  it('after changes, untouched records keep their exact bytes and the changes survive a restart', async () => {
    const dir = copyReference(which);
    let d = await startDaemon({ dataDir: dir, args: LONG_LEASE });
    const c = new HttpClient(d.url);
    const originalClaims = splitJsonArray(read(path.join(REFERENCE, which), 'work_claims.json'));
    if (!originalClaims.ok) throw new Error(originalClaims.error);
    const pending = originalClaims.items.find((i) => i.value.status === 'pending' || i.value.agent_id === null);
    expect((await c.post('/api/coordination/claim', { work_id: 'roundtrip_new', agent_id: 'roundtrip_agent', work_type: 'test' })).status).toBe(200);
    if (pending) expect((await c.post('/api/coordination/claim', { work_id: pending.value.work_item_id, agent_id: 'roundtrip_agent' })).status).toBe(200);
    expect((await c.post('/api/coordination/complete', { work_id: 'roundtrip_new', agent_id: 'roundtrip_agent', velocity_points: 3 })).status).toBe(200);
    const before = (await c.get('/api/coordination/status')).body;
    c.close();
    expect(await d.stop()).toBe(0);

    const now = splitJsonArray(read(dir, 'work_claims.json'));
    if (!now.ok) throw new Error(now.error);
    const byId = new Map(now.items.map((i) => [i.value.work_item_id, i.text]));
    for (const item of originalClaims.items) {
      if (item === pending) continue;
      expect(byId.get(item.value.work_item_id)).toBe(item.text); // byte for byte
    }
    expect(JSON.parse(byId.get('roundtrip_new')!).status).toBe('completed');
    // agent_status.json: jq's "100.0" survives in every record we did not touch.
    const agentsNow = read(dir, 'agent_status.json');
    const agentsRef = read(path.join(REFERENCE, which), 'agent_status.json');
    expect(agentsNow.startsWith(agentsRef.slice(0, agentsRef.lastIndexOf('}')))).toBe(true);

    d = await startDaemon({ dataDir: dir, args: LONG_LEASE });
    const after = (await new HttpClient(d.url).get('/api/coordination/status')).body;
    expect(after.revision).toBe(before.revision);
    expect(after.checksum).toBe(before.checksum);
    expect(after.state).toEqual(before.state);
    expect(await d.stop()).toBe(0);
  });
});
