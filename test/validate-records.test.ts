// `validate` judges records, not entropy: normal work (a claim, a completion) moves the entropy
// ratio out of 0.99..1.01 and validate still passes; a field removed by a journaled change is named
// with its revision; a baseline held against another daemon whose records lost a field or a record
// (as a bad migration would) fails and names them.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { copyReference, runCli, startDaemon, tempDir, ROOT, type DaemonHandle } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';

const run = promisify(execFile);
const JQ = path.join(ROOT, 'test/fixtures/scripts/jq-rewrite.sh');
const daemons: DaemonHandle[] = [];
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.stop();
});

async function baseline(url: string): Promise<string> {
  const out = path.join(tempDir('aip-validate-'), 'baseline.json');
  const r = await runCli(['baseline', '--url', url, '--out', out, '--requests', '0']);
  expect(r.code, r.stderr).toBe(0);
  return out;
}

describe('validate judges records', () => {
  it('passes after normal work that moves the entropy ratio, and names a field removed through the journal', async () => {
    const dataDir = copyReference('original');
    const d = await startDaemon({ dataDir, args: ['--lease-ms', '3600000'] });
    daemons.push(d);
    const c = new HttpClient(d.url);
    const out = await baseline(d.url);
    expect((await c.post('/api/coordination/claim', { work_id: 'new_work', agent_id: 'new_agent', work_type: 'fresh_type', team: 'fresh_team' })).status).toBe(
      200,
    );
    expect((await c.post('/api/coordination/complete', { work_id: 'new_work', agent_id: 'new_agent', result: 'done' })).status).toBe(200);

    const r = await runCli(['validate', '--url', d.url, '--baseline', out, '--requests', '0', '--json']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.conserved).toBe(false); // the ratio left the band...
    expect(j).toMatchObject({ ok: true, missing_count: 0, records: { journal: 'used', vanished: [], deleted: [], fields_vanished: [] } }); // ...nothing was lost
    expect(j.records.checked).toBe(j.records.intact + j.records.changed);

    // An external edit removes a field: a journaled change, named with its revision and cause.
    const target = (JSON.parse(readFileSync(path.join(dataDir, 'work_claims.json'), 'utf8')) as Array<{ work_item_id: string }>)[2].work_item_id;
    await run('bash', [JQ, path.join(dataDir, 'work_claims.json'), `map(if .work_item_id == "${target}" then del(.description) else . end)`]);
    await expect.poll(async () => Object.hasOwn((await c.get(`/api/work/${target}`)).body.work, 'description'), { timeout: 15_000, interval: 100 }).toBe(false);
    const t = await runCli(['validate', '--url', d.url, '--baseline', out, '--requests', '0']);
    expect(t.code, t.stdout + t.stderr).toBe(0);
    expect(t.stdout).toMatch(new RegExp(`fields removed by revision \\d+ \\(external_edit\\): work ${target}: description`));
    expect(t.stdout).toMatch(/entropy ratio .* informational/);
    expect(t.stdout).toMatch(/RESULT: information conserved/);
    c.close();
  });

  it('fails against a daemon whose records lost a field and a record outside any journal (a bad migration)', async () => {
    const sourceDir = copyReference('original');
    const a = await startDaemon({ dataDir: sourceDir });
    daemons.push(a);
    const out = await baseline(a.url);
    await a.stop();
    daemons.splice(0);
    // The "migrated" copy: one record without its description, another gone.
    const dataDir = copyReference('original');
    const file = path.join(dataDir, 'work_claims.json');
    const claims = JSON.parse(readFileSync(file, 'utf8')) as Array<Record<string, unknown>>;
    const trimmed = String(claims[1].work_item_id);
    const gone = String(claims[4].work_item_id);
    delete claims[1].description;
    claims.splice(4, 1);
    writeFileSync(file, JSON.stringify(claims, null, 2) + '\n');
    const b = await startDaemon({ dataDir });
    daemons.push(b);
    const r = await runCli(['validate', '--url', b.url, '--baseline', out, '--requests', '0']);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toContain(`MISSING work ${gone}`);
    expect(r.stdout).toContain(`FIELDS VANISHED work ${trimmed}: description`);
    expect(r.stdout).toMatch(/journal since the baseline unavailable/);
    const j = JSON.parse((await runCli(['validate', '--url', b.url, '--baseline', out, '--requests', '0', '--json'])).stdout);
    expect(j).toMatchObject({
      ok: false,
      records: {
        journal: 'unavailable',
        vanished: [{ section: 'work', key: gone }],
        fields_vanished: [{ section: 'work', key: trimmed, fields: ['description'] }],
      },
    });
  });
});
