// Feeds the Prometheus metrics from the daemon's events (one-way: store/service events → metrics)
// and serves GET /metrics.
import { EntropyTracker } from '../../shared/entropy.js';
import type { DaemonContext } from '../context.js';
import type { Metrics } from '../metrics.js';
import { boundedStatus, setEntropyGauges } from '../metrics.js';
import type { CoordinationStore } from '../store/memory-state.js';
import type { LeaseExpiredEvent, OpEvent } from '../core/service.js';
import { longestWaitSeconds } from '../../shared/agent-status.js';
import { HOOK_OPERATION } from '../../shared/claude-code/hook-mapping.js';
import { overBudgetCounts } from '../../shared/claude-code/usage.js';

/** Must run before store.open(), so the import and the journal replay are counted too. */
export function observeState(store: CoordinationStore, metrics: Metrics): EntropyTracker {
  const entropy = new EntropyTracker();
  store.tables.onApply((section, _key, before, after) => {
    entropy.update(section, before?.data, after?.data);
    const gauge = section === 'work' ? metrics.workItems : section === 'agents' ? metrics.agents : null;
    if (!gauge) return;
    const kind = section === 'work' ? 'work' : 'agents';
    if (before) gauge.dec({ status: boundedStatus(kind, before.data.status) });
    if (after) gauge.inc({ status: boundedStatus(kind, after.data.status) });
  });
  return entropy;
}

const CONFLICT_TYPE: Record<string, string> = {
  work_already_claimed: 'claim',
  not_claim_holder: 'holder',
  stale_fencing_token: 'fencing',
  version_conflict: 'version',
};

export function installMetrics(ctx: DaemonContext): void {
  const { metrics: m, service, store, app } = ctx;
  service.on('op', (e: OpEvent) => {
    m.operationDuration.observe({ operation: e.operation, outcome: e.outcome }, e.seconds);
    if (e.operation === 'claim') m.claims.inc({ outcome: e.outcome === 'ok' ? 'won' : e.outcome === 'idempotent' ? 'idempotent' : 'conflict' });
    if (e.error && CONFLICT_TYPE[e.error]) m.conflicts.inc({ type: CONFLICT_TYPE[e.error] });
    // A Claude Code hook event is its session's sign of life, as a heartbeat is an agent's.
    if ((e.operation === 'heartbeat' || e.operation === HOOK_OPERATION) && e.outcome === 'ok') m.heartbeats.inc();
    if (e.operation === 'complete' && e.outcome === 'ok') m.completions.inc({ outcome: 'success' });
  });
  service.on('lease_expired', (e: LeaseExpiredEvent) => m.leaseExpiries.inc(e.work_ids.length));
  store.on('commit', (d: { revision: number }) => m.revision.set(d.revision));
  store.on('fsync', (f: { lines: number; seconds: number }) => {
    m.journalFsyncDuration.observe(f.seconds);
    m.journalBatchSize.observe(f.lines);
  });
  store.on('conflict', () => m.conflicts.inc({ type: 'merge' }));
  store.on('problem', (p: { error: string }) => m.syncFailures.inc({ reason: /write failed/.test(p.error) ? 'write_failed' : 'unparseable_file' }));
  m.revision.set(store.revision);
  app.get('/metrics', async (_req, reply) => {
    setEntropyGauges(m, ctx.entropy.snapshot());
    m.agentsLongestWait.set(longestWaitSeconds(store.tables.maps.agents.values(), Date.now()));
    const over = overBudgetCounts([...store.tables.maps.agents.values()].map((e) => e.data), new Date().toISOString(), ctx.config.budget_usd_per_team_day);
    m.claudeCodeOverBudget.set({ scope: 'agent' }, over.agent);
    m.claudeCodeOverBudget.set({ scope: 'team_day' }, over.team_day);
    reply.header('content-type', m.registry.contentType);
    return m.registry.metrics();
  });
}
