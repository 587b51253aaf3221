// Information conservation end to end, with the real CLI against the real daemon on a copy of the
// reference data: `baseline` captures (daemon-side, stored, reflected in /api/stats, /metrics and the
// status), `validate` on the unchanged state passes (exit 0), and after one record is deleted from
// work_claims.json by an external edit it fails (exit 1) and names the record.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyReference, runCli, startDaemon, tempDir, type DaemonHandle } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';

describe('ai-processor baseline / validate', () => {
  let dataDir: string;
  let daemon: DaemonHandle;
  let http: HttpClient;
  let out: string;
  let removedId: string;

  beforeAll(async () => {
    dataDir = copyReference('original');
    daemon = await startDaemon({ dataDir });
    http = new HttpClient(daemon.url);
    out = path.join(tempDir('aip-baseline-'), 'baseline.json');
  });

  afterAll(async () => {
    http?.close();
    await daemon?.stop();
  });

  it('without a baseline, the daemon reports none', async () => {
    const stats = await http.get('/api/stats');
    expect(stats.body.entropy).toMatchObject({ baseline: null, ratio: null });
    const metrics = String((await http.get('/metrics')).body);
    expect(metrics).toMatch(/^information_entropy_baseline_bits 0$/m);
    expect((await http.get('/api/entropy/baseline')).status).toBe(404);
  });

  it('baseline --out captures it daemon-side and writes the file', async () => {
    const r = await runCli(['baseline', '--url', daemon.url, '--out', out, '--requests', '3']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(/baseline captured at revision \d+/);
    expect(r.stdout).toMatch(/records\s+work 19\s+agents 22\s+log 0\s+spans 22/);
    expect(r.stderr).toMatch(/performance quick run \d+\/18/); // progress on stderr

    const file = JSON.parse(readFileSync(out, 'utf8'));
    expect(file.counts).toEqual({ work: 19, agents: 22, log: 0, spans: 22 });
    expect(file.keys.work).toHaveLength(19);
    expect(file.keys.agents).toHaveLength(22);
    expect(Object.keys(file.state.work)).toHaveLength(19); // the state snapshot
    // The seed's figures on this snapshot: work_type 4.04, status 1.43, team 2.97; agents team 3.08.
    expect(file.entropy.fields.coordination.work_type).toBeCloseTo(4.04, 2);
    expect(file.entropy.fields.coordination.status).toBeCloseTo(1.43, 2);
    expect(file.entropy.fields.coordination.team).toBeCloseTo(2.97, 2);
    expect(file.entropy.fields.agents.team).toBeCloseTo(3.08, 2);
    expect(file.entropy.components.telemetry).toBeGreaterThan(0); // the 22 valid legacy spans
    expect(Object.keys(file.performance.endpoints)).toContain('/api/coordination/status');
    expect(file.performance.endpoints['/health'].count).toBe(3);

    // The daemon keeps it and shows it.
    const stored = JSON.parse(readFileSync(path.join(dataDir, '.ai-processor/baseline.json'), 'utf8'));
    expect(stored.entropy.total).toBe(file.entropy.total);
    expect(existsSync(path.join(dataDir, '.ai-processor/baseline-state.json'))).toBe(true);
    const stats = await http.get('/api/stats');
    expect(stats.body.entropy.baseline).toMatchObject({ total: file.entropy.total, created_at: file.created_at });
    expect(stats.body.entropy.ratio).toBe(1);
    const metrics = String((await http.get('/metrics')).body);
    const gauge = Number(/^information_entropy_baseline_bits (\S+)$/m.exec(metrics)![1]);
    expect(gauge).toBeCloseTo(file.entropy.total, 9);
    const status = await http.get('/api/coordination/status');
    expect(status.body.entropy).toMatchObject({ baseline_total: file.entropy.total, ratio: 1, conserved: true });
    const entropy = await http.get('/api/entropy');
    expect(entropy.body).toMatchObject({ ratio: 1, conserved: true, missing_count: 0, counts: { work: 19, agents: 22, log: 0, spans: 22 } });
  });

  it('--json prints the summary', async () => {
    const r = await runCli(['baseline', '--url', daemon.url, '--out', out, '--requests', '0', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ out, counts: { work: 19, agents: 22 } });
    expect(summary.keys).toBeUndefined();
  });

  it('validate on the unchanged state passes (exit 0)', async () => {
    const r = await runCli(['validate', '--url', daemon.url, '--baseline', out, '--requests', '2']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/entropy ratio\s+1\.000000/);
    expect(r.stdout).toMatch(/missing\s+none/);
    expect(r.stdout).toMatch(/state checksum identical/);
    expect(r.stdout).toMatch(/RESULT: information conserved/);
    const j = await runCli(['validate', '--url', daemon.url, '--baseline', out, '--json']);
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toMatchObject({ ok: true, ratio: 1, conserved: true, missing_count: 0, changed: { count: 0 } });
  });

  it('an unreadable baseline file is a usage error (exit 2)', async () => {
    const bad = path.join(tempDir('aip-baseline-bad-'), 'bad.json');
    writeFileSync(bad, '{"not": "a baseline"}');
    const r = await runCli(['validate', '--url', daemon.url, '--baseline', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not a baseline/);
  });

  it('after an external edit deletes a record, validate fails (exit 1) and names it', async () => {
    // The edit is made while the daemon is stopped; on start it is ingested like any external edit.
    await daemon.stop();
    const file = path.join(dataDir, 'work_claims.json');
    const claims = JSON.parse(readFileSync(file, 'utf8')) as Array<{ work_item_id: string }>;
    removedId = claims[5].work_item_id;
    claims.splice(5, 1);
    writeFileSync(file, JSON.stringify(claims, null, 2) + '\n');
    daemon = await startDaemon({ dataDir });
    http.close();
    http = new HttpClient(daemon.url);
    expect((await http.get(`/api/work/${removedId}`)).status).toBe(404);

    const r = await runCli(['validate', '--url', daemon.url, '--baseline', out, '--requests', '0']);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toContain(`MISSING work ${removedId}`);
    // The journal since the baseline (across the restart) tells how: an external edit, recoverable.
    expect(r.stdout).toMatch(new RegExp(`MISSING work ${removedId}: deleted at revision \\d+ by external_edit, recoverable from the journal`));
    expect(r.stdout).toMatch(/RESULT: NOT conserved: .*1 baseline record missing: work [^\n]*/);
    const j = await runCli(['validate', '--url', daemon.url, '--baseline', out, '--json', '--requests', '0']);
    expect(j.code).toBe(1);
    const result = JSON.parse(j.stdout);
    expect(result).toMatchObject({ ok: false, missing_count: 1, missing: { work: [removedId], agents: [], log: [] } });
    expect(result.counts.now.work).toBe(18);
    // The daemon, which kept the baseline across the restart, sees the loss too.
    const entropy = await http.get('/api/entropy');
    expect(entropy.body).toMatchObject({ conserved: false, missing_count: 1, missing: { work: [removedId] } });
  });
});
