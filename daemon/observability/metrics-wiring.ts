// Feeds the Prometheus metrics from the daemon's events (one-way: store/service events → metrics)
// and renders them for GET /metrics (served by http/metrics-routes.ts).
import { EntropyTracker } from '../../shared/entropy.js';
import type { DaemonContext } from '../context.js';
import type { Metrics } from '../metrics.js';
import { boundedStatus, setEntropyGauges } from '../metrics.js';
import type { CoordinationStore } from '../store/memory-state.js';
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

/** Agents that heartbeated through this daemon's API: the ones expected to keep heartbeating. */
class Heartbeaters {
  private readonly ids = new Set<string>();

  constructor(private readonly store: CoordinationStore) {}

  add(agentId: string): void {
    this.ids.add(agentId);
  }

  /** Those still registered and not offline (an agent that left says so, or is removed). */
  count(): number {
    let n = 0;
    for (const id of this.ids) {
      const agent = this.store.get('agents', id);
      if (!agent) this.ids.delete(id);
      else if (boundedStatus('agents', agent.data.status) !== 'offline') n++;
    }
    return n;
  }
}

/** The metrics as Prometheus scrapes them. */
export interface MetricsText {
  contentType: string;
  render(): Promise<string>;
}

/** Counts the daemon's events into the metrics; returns what GET /metrics answers. */
export function installMetrics(ctx: DaemonContext): MetricsText {
  const { metrics: m, service, store } = ctx;
  const heartbeaters = new Heartbeaters(store);
  service.on('op', (e) => {
    if (e.operation === 'heartbeat' && e.outcome === 'ok' && e.agent_id) heartbeaters.add(e.agent_id);
    m.operationDuration.observe({ operation: e.operation, outcome: e.outcome }, e.seconds);
    if (e.operation === 'claim') m.claims.inc({ outcome: e.outcome === 'ok' ? 'won' : e.outcome === 'idempotent' ? 'idempotent' : 'conflict' });
    if (e.error && CONFLICT_TYPE[e.error]) m.conflicts.inc({ type: CONFLICT_TYPE[e.error] });
    // A Claude Code hook event is its session's sign of life, as a heartbeat is an agent's.
    if ((e.operation === 'heartbeat' || e.operation === HOOK_OPERATION) && e.outcome === 'ok') m.heartbeats.inc();
    if (e.operation === 'complete' && e.outcome === 'ok') m.completions.inc({ outcome: 'success' });
  });
  service.on('lease_expired', (e) => m.leaseExpiries.inc(e.work_ids.length));
  store.on('commit', (d) => m.revision.set(d.revision));
  store.on('fsync', (f) => {
    m.journalFsyncDuration.observe(f.seconds);
    m.journalBatchSize.observe(f.lines);
  });
  store.on('conflict', () => m.conflicts.inc({ type: 'merge' }));
  store.on('loss', (l) => {
    if (l.fields) m.fieldsLost.inc({ cause: l.cause }, l.fields.length);
    else m.recordsLost.inc({ cause: l.cause });
    ctx.logger.warn(
      { section: l.section, key: l.key, cause: l.cause, fields: l.fields, revision: l.revision },
      l.fields
        ? 'information lost: fields of a record vanished in an external edit'
        : 'information lost: a record was deleted by an external edit made on a stale copy',
    );
    ctx.events.emit('event', 'information_loss', { ...l });
  });
  store.on('problem', (p) => ctx.syncFailures.record(/write failed/.test(p.error) ? 'write_failed' : 'unparseable_file'));
  store.on('storage', (e) => {
    if (e.state === 'degraded') m.storageWriteFailures.inc({ reason: e.reason ?? 'write_failed' });
    m.storageDegraded.set(e.state === 'degraded' ? 1 : 0);
  });
  m.revision.set(store.revision);
  const render = async (): Promise<string> => {
    // Gauges worked out from the state when scraped, not per change.
    setEntropyGauges(m, ctx.entropy.snapshot());
    m.agentsLongestWait.set(longestWaitSeconds(store.tables.maps.agents.values(), Date.now()));
    m.agentsHeartbeating.set(heartbeaters.count());
    const over = overBudgetCounts(
      [...store.tables.maps.agents.values()].map((e) => e.data),
      new Date().toISOString(),
      ctx.config.budget_usd_per_team_day,
    );
    m.claudeCodeOverBudget.set({ scope: 'agent' }, over.agent);
    m.claudeCodeOverBudget.set({ scope: 'team_day' }, over.team_day);
    return m.registry.metrics();
  };
  return { contentType: m.registry.contentType, render };
}
