// Every metric alerts.yml and the Grafana dashboard use is exported by a running daemon's /metrics
// (not just registered in code: the real process, over HTTP, after some traffic).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type DaemonHandle } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';
import { metricNamesUsedByConfigs, missingFromExposition } from './helpers/metric-names.js';

describe('metrics used by alerts.yml and the dashboard are exported', () => {
  let daemon: DaemonHandle;
  let http: HttpClient;
  let exposition: string;

  beforeAll(async () => {
    daemon = await startDaemon();
    http = new HttpClient(daemon.url);
    await http.post('/api/agents', { agent_id: 'm_a1', team: 'metrics' });
    await http.post('/api/coordination/claim', { work_id: 'm_w1', agent_id: 'm_a1' });
    await http.post('/api/coordination/claim', { work_id: 'm_w1', agent_id: 'm_a2' }); // conflict
    await http.post('/api/coordination/complete', { work_id: 'm_w1', agent_id: 'm_a1' });
    // The work graph and path leases, for the dashboard's panels: one item ready, one blocked,
    // a claim-next that claims and one that finds nothing; a path lease and a refused one.
    expect(
      (
        await http.post('/api/work/batch', {
          items: [
            { work_id: 'm_g1', work_type: 'mg' },
            { work_id: 'm_g2', work_type: 'mg', depends_on: ['m_g1'] },
          ],
        })
      ).status,
    ).toBe(201);
    expect((await http.post('/api/coordination/claim-next', { agent_id: 'm_a1', work_types: ['mg'] })).status).toBe(200);
    expect((await http.post('/api/coordination/complete', { work_id: 'm_g1', agent_id: 'm_a1', status: 'failed' })).status).toBe(200);
    expect((await http.post('/api/coordination/claim-next', { agent_id: 'm_a1', work_types: ['mg'] })).status).toBe(204);
    expect((await http.post('/api/paths/claim', { agent_id: 'm_a1', paths: ['/srv/m/a.ts'] })).status).toBe(200);
    expect((await http.post('/api/paths/claim', { agent_id: 'm_a2', paths: ['/srv/m/a.ts'] })).status).toBe(409);
    const res = await http.get('/metrics');
    expect(res.status).toBe(200);
    expect(String(res.headers['content-type'])).toMatch(/^text\/plain/);
    exposition = String(res.body);
  });

  afterAll(async () => {
    http?.close();
    await daemon?.stop();
  });

  it('the configs use a non-trivial set of metrics (the extraction works)', () => {
    const names = metricNamesUsedByConfigs();
    expect(names.length).toBeGreaterThan(10);
    expect(names).toContain('coordination_operation_duration_seconds_bucket');
    expect(names).toContain('information_entropy_baseline_bits');
  });

  it('every one of them is in GET /metrics', () => {
    const names = metricNamesUsedByConfigs();
    expect(missingFromExposition(names, exposition)).toEqual([]);
  });

  it('the check can fail: a name the daemon does not export is reported', () => {
    expect(missingFromExposition(['coordination_operation_duration_seconds_count', 'no_such_metric_total'], exposition)).toEqual(['no_such_metric_total']);
  });

  it('the traffic shows up in the series the alerts read', () => {
    expect(exposition).toMatch(/^coordination_operation_duration_seconds_count\{[^}]*operation="claim"[^}]*\} [1-9]/m);
    expect(exposition).toMatch(/^coordination_claims_total\{outcome="conflict"\} 1$/m);
    expect(exposition).toMatch(/^information_entropy_total [0-9.e+-]+$/m);
    expect(exposition).toMatch(/^websocket_clients\{stream="telemetry"\} 0$/m);
  });

  it('the work graph and path lease panels have series to show', () => {
    expect(exposition).toMatch(/^coordination_work_blocked_items 1$/m); // m_g2, behind the failed m_g1
    expect(exposition).toMatch(/^coordination_work_ready_items \d+$/m);
    expect(exposition).toMatch(/^coordination_claim_next_total\{outcome="claimed"\} 1$/m);
    expect(exposition).toMatch(/^coordination_claim_next_total\{outcome="empty"\} 1$/m);
    expect(exposition).toMatch(/^coordination_ready_to_claimed_seconds_count [1-9]/m);
    expect(exposition).toMatch(/^coordination_operation_duration_seconds_count\{[^}]*operation="claim_next"[^}]*\} [1-9]/m);
    expect(exposition).toMatch(/^coordination_path_leases\{mode="exclusive"\} 1$/m);
    expect(exposition).toMatch(/^coordination_path_conflicts_total\{action="denied"\} 1$/m);
  });
});
