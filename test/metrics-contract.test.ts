// The metric names are a contract between daemon/metrics.ts, alerts.yml and the Grafana dashboard.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AGENT_STATUSES, WORK_STATUSES, boundedStatus, createMetrics, setEntropyGauges, setStatusGauge } from '../daemon/metrics.js';
import {
  DASHBOARD_FILE,
  REPO_ROOT,
  dashboardExpressions,
  extractRuleExpressions,
  metricNamesInPromQL,
  metricNamesUsedByConfigs,
  missingFromExposition,
  substituteGrafanaVariables,
} from './helpers/metric-names.js';
import { requireTool } from './helpers/system-tools.js';

const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Record<string, unknown>;

describe('metric name extraction', () => {
  it('finds metric names and skips functions, keywords, labels, durations and numbers', () => {
    expect(metricNamesInPromQL('histogram_quantile(0.95, sum by (job, le) (rate(a_seconds_bucket{x="y", le!="1"}[5m]))) > 1e-3').sort()).toEqual([
      'a_seconds_bucket',
    ]);
    expect(
      metricNamesInPromQL('(sum(b) > 0) and on (job, instance) (sum without (c) (rate(d_total[10m] offset 1h)) == bool 0) or absent(up{job="z"})').sort(),
    ).toEqual(['b', 'd_total', 'up']);
    expect(metricNamesInPromQL('x / ignoring(le) group_left(foo) y{a=~"$instance"} unless count(z)').sort()).toEqual(['x', 'y', 'z']);
    expect(metricNamesInPromQL('sum(rate(q[$__rate_interval])) * -Inf').sort()).toEqual(['q']);
  });

  it('reads every rule expression of alerts.yml and every dashboard query', () => {
    const text = readFileSync(new URL('alerts.yml', REPO_ROOT), 'utf8');
    const rules = extractRuleExpressions(text);
    expect(rules.length).toBe((text.match(/^\s*- (alert|record):/gm) ?? []).length);
    expect(rules.every((r) => r.expr.length > 0 && !r.expr.startsWith('|'))).toBe(true);
    const queries = dashboardExpressions(dashboard);
    expect(queries.length).toBeGreaterThan(20);
    expect(queries.some((q) => q.panel === '$instance' && q.expr === 'up{job="ai-processor"}')).toBe(true);
    // Block scalars are read too, so the layout can change without the check going blind.
    expect(extractRuleExpressions('groups:\n- name: g\n  rules:\n  - alert: A\n    expr: |\n      sum(x)\n        > 1\n    for: 1m\n')).toEqual([
      { kind: 'alert', name: 'A', expr: 'sum(x)\n> 1' },
    ]);
  });
});

describe('createMetrics() registers every name the configs use', () => {
  it('alerts.yml and the dashboard use only registered metrics (plus `up`)', async () => {
    const names = metricNamesUsedByConfigs();
    expect(names).toEqual(
      expect.arrayContaining([
        'coordination_operation_duration_seconds_bucket',
        'information_entropy_total',
        'state_sync_failures_total',
        'coordination_heartbeats_total',
        'process_resident_memory_bytes',
        'websocket_clients',
      ]),
    );
    expect(names).not.toContain('up');
    const exposition = await createMetrics().registry.metrics();
    expect(missingFromExposition(names, exposition)).toEqual([]);
  });

  it('the check can fail: unknown names and wrong suffixes are reported', async () => {
    const exposition = await createMetrics().registry.metrics();
    expect(
      missingFromExposition(['no_such_metric', 'coordination_claims_total_bucket', 'coordination_revision_count', 'journal_batch_size_bucket'], exposition),
    ).toEqual(['no_such_metric', 'coordination_claims_total_bucket', 'coordination_revision_count']);
  });

  it('registers the contract names with their types and labels', async () => {
    const m = createMetrics();
    const json = await m.registry.getMetricsAsJSON();
    const byName = new Map(json.map((x) => [x.name, x]));
    const expected: Array<[string, string, string[]]> = [
      ['coordination_operation_duration_seconds', 'histogram', []],
      ['coordination_claims_total', 'counter', ['outcome']],
      ['coordination_conflicts_total', 'counter', ['type']],
      ['coordination_lease_expiries_total', 'counter', []],
      ['coordination_completions_total', 'counter', ['outcome']],
      ['coordination_heartbeats_total', 'counter', []],
      ['state_sync_failures_total', 'counter', ['reason']],
      ['coordination_agents', 'gauge', ['status']],
      ['coordination_agents_longest_wait_seconds', 'gauge', []],
      ['coordination_agents_heartbeating', 'gauge', []],
      ['coordination_work_items', 'gauge', ['status']],
      ['coordination_revision', 'gauge', []],
      ['websocket_clients', 'gauge', ['stream']],
      ['information_entropy_bits', 'gauge', ['component']],
      ['information_entropy_total', 'gauge', []],
      ['journal_fsync_duration_seconds', 'histogram', []],
      ['journal_batch_size', 'histogram', []],
      ['service_up', 'gauge', []],
      ['service_probe_duration_seconds', 'gauge', []],
      ['analyzer_requests_total', 'counter', ['outcome']],
      // Labelled by team: the teams are the fleet's own, pre-created for the teams the store holds at start.
      ['claude_code_cost_usd_total', 'counter', []],
      ['claude_code_tokens_total', 'counter', []],
      ['claude_code_over_budget', 'gauge', ['scope']],
      ['otlp_data_points_total', 'counter', ['outcome']],
      ['analyzer_duration_seconds', 'histogram', []],
      ['process_resident_memory_bytes', 'gauge', []],
      ['coordination_work_ready_items', 'gauge', []],
      ['coordination_work_blocked_items', 'gauge', []],
      ['coordination_claim_next_total', 'counter', ['outcome']],
      ['coordination_ready_to_claimed_seconds', 'histogram', []],
    ];
    for (const [name, type, labels] of expected) {
      expect(byName.get(name)?.type, name).toBe(type);
      // Pre-created label values show the label names before anything happened.
      for (const l of labels)
        expect(
          byName.get(name)!.values.some((v) => l in v.labels),
          `${name}{${l}}`,
        ).toBe(true);
    }
    // Bounded label values exist at 0 from the start, so increase()/rate() see the first event.
    const outcomes = byName
      .get('coordination_claims_total')!
      .values.map((v) => v.labels.outcome)
      .sort();
    expect(outcomes).toEqual(['conflict', 'idempotent', 'won']);
    expect(
      byName
        .get('coordination_claim_next_total')!
        .values.map((v) => v.labels.outcome)
        .sort(),
    ).toEqual(['claimed', 'disconnected', 'empty', 'timeout']);
    const reasons = byName
      .get('state_sync_failures_total')!
      .values.map((v) => v.labels.reason)
      .sort();
    expect(reasons).toEqual(['checksum', 'gap', 'slow_client', 'unparseable_file', 'write_failed']);
  });

  it('uses the contract buckets for operation latency', async () => {
    const m = createMetrics();
    m.operationDuration.observe({ operation: 'claim', outcome: 'won' }, 0.003);
    const text = await m.registry.metrics();
    const les = [...text.matchAll(/^coordination_operation_duration_seconds_bucket\{[^}]*le="([^"]+)"/gm)].map((x) => x[1]);
    expect(les).toEqual(['0.0005', '0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '+Inf']);
    expect(text).toMatch(/coordination_operation_duration_seconds_bucket\{le="0.005",operation="claim",outcome="won"\} 1/);
    expect(text).toMatch(/coordination_operation_duration_seconds_bucket\{le="0.0025",operation="claim",outcome="won"\} 0/);
  });

  it('is a factory: two instances in one process are independent', async () => {
    const a = createMetrics();
    const b = createMetrics();
    a.claims.inc({ outcome: 'won' });
    a.revision.set(42);
    expect((await a.claims.get()).values.find((v) => v.labels.outcome === 'won')?.value).toBe(1);
    expect((await b.claims.get()).values.find((v) => v.labels.outcome === 'won')?.value).toBe(0);
    expect(await b.registry.metrics()).toMatch(/^coordination_revision 0$/m);
  });

  // Without promtool: skipped visibly (a failure under REQUIRE_SYSTEM_TOOLS=1), never a silent pass.
  it.skipIf(!requireTool('promtool'))('lints clean with promtool check metrics, apart from the known contract names', async () => {
    const r = spawnSync('promtool', ['check', 'metrics'], { input: await createMetrics().registry.metrics(), encoding: 'utf8' });
    const problems = `${r.stdout}${r.stderr}`.split('\n').filter(Boolean);
    // Contract names fixed by the design (a gauge called *_total, a unit "bits" promtool does not know)
    // and prom-client's own default metrics.
    const accepted = [
      /^information_entropy_total non-counter metrics should not have "_total" suffix$/,
      /^information_entropy_(baseline_)?bits use base unit "bytes" instead of "bits"$/,
      /^nodejs_active_\w+_total non-counter metrics should not have "_total" suffix$/,
    ];
    expect(problems.filter((p) => !accepted.some((a) => a.test(p)))).toEqual([]);
  });
});

describe('status gauges', () => {
  it('boundedStatus maps free text onto the bounded sets', () => {
    expect(boundedStatus('work', 'active')).toBe('claimed'); // legacy claim status
    expect(boundedStatus('work', 'In_Progress')).toBe('in_progress');
    expect(boundedStatus('work', 'completed')).toBe('completed');
    expect(boundedStatus('work', 'compilation_error_detected')).toBe('other');
    expect(boundedStatus('work', undefined)).toBe('other');
    expect(boundedStatus('work', 'constructor')).toBe('other'); // no prototype lookups
    expect(boundedStatus('agents', 'active')).toBe('active');
    expect(boundedStatus('agents', 'claimed')).toBe('other');
    for (const s of ['x', 'busy', 'stale', 'offline', 'idle']) expect(AGENT_STATUSES).toContain(boundedStatus('agents', s));
    for (const s of ['x', 'pending', 'released', 'failed']) expect(WORK_STATUSES).toContain(boundedStatus('work', s));
  });

  it('setStatusGauge writes every bounded label, zeros included', async () => {
    const m = createMetrics();
    setStatusGauge(m.workItems, 'work', ['active', 'active', 'completed', 'implementation']);
    let values = Object.fromEntries((await m.workItems.get()).values.map((v) => [v.labels.status, v.value]));
    expect(values).toEqual({ pending: 0, claimed: 2, in_progress: 0, completed: 1, failed: 0, released: 0, other: 1 });
    setStatusGauge(m.workItems, 'work', ['completed']);
    values = Object.fromEntries((await m.workItems.get()).values.map((v) => [v.labels.status, v.value]));
    expect(values.claimed).toBe(0); // an emptied status drops to 0, not its last value
  });

  it('setEntropyGauges copies a report', async () => {
    const m = createMetrics();
    setEntropyGauges(m, { components: { coordination: 10.07, agents: 4.3, telemetry: 1.2 }, total: 15.57 }, 15.5);
    const text = await m.registry.metrics();
    expect(text).toMatch(/^information_entropy_bits\{component="coordination"\} 10.07$/m);
    expect(text).toMatch(/^information_entropy_total 15.57$/m);
    expect(text).toMatch(/^information_entropy_baseline_bits 15.5$/m);
  });
});

describe('Grafana dashboard', () => {
  const queries = dashboardExpressions(dashboard);

  it('refers to the provisioned datasource', () => {
    const provisioned = readFileSync(new URL('grafana/provisioning/datasources/prometheus.yml', REPO_ROOT), 'utf8');
    const uid = /^\s+uid:\s*(\S+)/m.exec(provisioned)?.[1];
    expect(uid).toBe('prometheus');
    const uids = new Set<string>();
    JSON.stringify(dashboard, (k, v: unknown) => {
      if (k === 'datasource' && v && typeof v === 'object' && (v as { type?: string }).type === 'prometheus') uids.add((v as { uid: string }).uid);
      return v;
    });
    expect([...uids]).toEqual([uid]);
    const provider = readFileSync(new URL('grafana/provisioning/dashboards/ai-processor.yml', REPO_ROOT), 'utf8');
    expect(provider).toMatch(/type: file/);
    expect(provider).toMatch(/path: \S+/);
  });

  it('has the panels operators expect', () => {
    const used = (metric: string) => queries.some((q) => metricNamesInPromQL(q.expr).includes(metric));
    for (const m of [
      'coordination_operation_duration_seconds_bucket',
      'coordination_claims_total',
      'coordination_conflicts_total',
      'coordination_agents',
      'coordination_work_items',
      'information_entropy_bits',
      'information_entropy_total',
      'state_sync_failures_total',
      'coordination_lease_expiries_total',
      'process_resident_memory_bytes',
      'websocket_clients',
      'coordination_agents_longest_wait_seconds',
      'claude_code_cost_usd_total',
      'claude_code_tokens_total',
    ])
      expect(used(m), m).toBe(true);
    // Claude Code: who waits for a human, and what the sessions cost, per team (tokens also per type).
    expect(queries.some((q) => /coordination_agents\{[^}]*status="needs_input"/.test(q.expr))).toBe(true);
    expect(queries.some((q) => /sum by \(team\) \((rate|increase)\(claude_code_cost_usd_total\{/.test(q.expr))).toBe(true);
    expect(queries.some((q) => /sum by \(team, type\) \(rate\(claude_code_tokens_total\{/.test(q.expr))).toBe(true);
    for (const q of ['0.5', '0.95', '0.99']) {
      expect(
        queries.some((x) => x.expr.startsWith(`histogram_quantile(${q}, sum by (le) (rate(coordination_operation_duration_seconds_bucket`)),
        q,
      ).toBe(true);
    }
  });

  it('shows the work graph and the path leases', () => {
    const panelOf = (re: RegExp) => queries.find((q) => re.test(q.expr))?.panel;
    // Ready and blocked items, claim-next by outcome, the wait from ready to claimed.
    expect(panelOf(/^sum\(coordination_work_ready_items\{/)).toBe('Ready items');
    expect(panelOf(/^sum\(coordination_work_blocked_items\{/)).toBe('Blocked items');
    expect(panelOf(/^sum by \(outcome\) \(rate\(coordination_claim_next_total\{/)).toBe('claim-next / s by outcome');
    for (const q of ['0.5', '0.95'])
      expect(
        queries.some((x) => x.expr.startsWith(`histogram_quantile(${q}, sum by (le) (rate(coordination_ready_to_claimed_seconds_bucket{`)),
        q,
      ).toBe(true);
    expect(panelOf(/coordination_operation_duration_seconds_bucket\{[^}]*operation="claim_next"/)).toBe('claim-next latency p50 / p95');
    // Path leases held by mode, conflicts denied and warned.
    expect(panelOf(/^sum by \(mode\) \(coordination_path_leases\{/)).toBe('Path leases held by mode');
    expect(panelOf(/^sum by \(action\) \(rate\(coordination_path_conflicts_total\{/)).toBe('Path lease conflicts / s');
  });

  it('every panel queries something, and groups only by labels its metrics have', () => {
    const d = dashboard as { panels: Array<{ type: string; title: string; targets?: Array<{ expr?: string }> }> };
    for (const p of d.panels.filter((x) => x.type !== 'row')) {
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets ?? []) expect(metricNamesInPromQL(t.expr ?? '').length, `${p.title}: ${t.expr}`).toBeGreaterThan(0);
    }
    const { registry } = createMetrics();
    const labelsOf = (name: string): string[] | null => {
      const metric = registry.getSingleMetric(name) ?? registry.getSingleMetric(name.replace(/_(bucket|sum|count)$/, ''));
      return metric ? ((metric as unknown as { labelNames?: string[] }).labelNames ?? []) : null;
    };
    // Labels Prometheus adds to every series it scrapes, and a histogram's bucket bound.
    const always = new Set(['job', 'instance', 'le']);
    let grouped = 0;
    for (const q of queries) {
      const metrics = metricNamesInPromQL(q.expr).map(labelsOf);
      if (metrics.some((l) => l === null)) continue; // Prometheus' own (up): checked by name above
      for (const m of q.expr.matchAll(/\bby \(([^)]*)\)/g))
        for (const label of m[1].split(',').map((x) => x.trim())) {
          grouped++;
          expect(
            always.has(label) || metrics.some((l) => l!.includes(label)),
            `${q.panel}: "${label}" is no label of ${metricNamesInPromQL(q.expr).join(', ')}`,
          ).toBe(true);
        }
    }
    expect(grouped).toBeGreaterThan(20);
  });

  it.skipIf(!requireTool('promtool'))('every dashboard expression parses (promtool check rules on a generated rule file)', () => {
    // promtool 2.42 (Debian bookworm) has no `promql` subcommand, so each expression becomes a
    // recording rule and `check rules` parses them all.
    const dir = mkdtempSync(join(tmpdir(), 'dashboard-promql-'));
    try {
      const file = join(dir, 'dashboard.rules.yml');
      const rules = queries
        .map((q, i) => `      - record: dashboard_expr_${i}\n        expr: ${JSON.stringify(substituteGrafanaVariables(q.expr))}\n`)
        .join('');
      writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules}`);
      const ok = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
      expect(ok.status, ok.stdout + ok.stderr).toBe(0);
      expect(ok.stdout).toContain(`SUCCESS: ${queries.length} rules found`);
      // ... and the same pipeline rejects a broken expression.
      writeFileSync(
        file,
        `groups:\n  - name: dashboard\n    rules:\n      - record: broken\n        expr: ${JSON.stringify('sum(rate(x[$__rate_interval])')}\n`,
      );
      expect(spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' }).status).not.toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
