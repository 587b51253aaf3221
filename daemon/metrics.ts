// Prometheus metrics of the daemon. The metric names are a contract: alerts.yml and
// grafana/dashboards/ai-processor.json use them, and test/metrics-contract.test.ts holds them equal.
// A factory, not module globals, so several daemons (tests) can live in one process, each with its
// own registry.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { EntropyReport } from '../shared/entropy.js';
import { LOSS_CAUSES } from './store/losses.js';
import { SYNC_FAILURE_REASONS } from '../shared/protocol.js';
import { FRAME_REJECTIONS } from './stream/inbound.js';
import { StuckPairs } from './observability/stuck-pairs.js';

export const AGENT_STATUSES = ['active', 'idle', 'busy', 'needs_input', 'offline', 'stale', 'other'] as const;
export const WORK_STATUSES = ['pending', 'claimed', 'in_progress', 'completed', 'failed', 'released', 'other'] as const;
export type AgentStatusLabel = (typeof AGENT_STATUSES)[number];
export type WorkStatusLabel = (typeof WORK_STATUSES)[number];

// Free-text synonyms seen in (or plausible for) legacy files. Anything else is 'other', so a label's
// cardinality never grows with whatever text a shell script wrote.
const AGENT_SYNONYMS: Record<string, AgentStatusLabel> = {
  active: 'active',
  online: 'active',
  ready: 'active',
  idle: 'idle',
  waiting: 'idle',
  busy: 'busy',
  working: 'busy',
  needs_input: 'needs_input',
  offline: 'offline',
  inactive: 'offline',
  stopped: 'offline',
  terminated: 'offline',
  stale: 'stale',
  unresponsive: 'stale',
};
const WORK_SYNONYMS: Record<string, WorkStatusLabel> = {
  pending: 'pending',
  open: 'pending',
  new: 'pending',
  queued: 'pending',
  claimed: 'claimed',
  active: 'claimed', // legacy `claim` writes "active" for a fresh claim
  in_progress: 'in_progress',
  'in-progress': 'in_progress',
  progress: 'in_progress',
  working: 'in_progress',
  completed: 'completed',
  complete: 'completed',
  done: 'completed',
  success: 'completed',
  failed: 'failed',
  failure: 'failed',
  error: 'failed',
  released: 'released',
  expired: 'released',
};

/** Maps a free-text status onto the bounded label set of its gauge. */
export function boundedStatus(kind: 'agents', s: unknown): AgentStatusLabel;
export function boundedStatus(kind: 'work', s: unknown): WorkStatusLabel;
export function boundedStatus(kind: 'agents' | 'work', s: unknown): AgentStatusLabel | WorkStatusLabel;
export function boundedStatus(kind: 'agents' | 'work', s: unknown): AgentStatusLabel | WorkStatusLabel {
  const key = typeof s === 'string' ? s.trim().toLowerCase() : '';
  const map: Record<string, AgentStatusLabel | WorkStatusLabel> = kind === 'agents' ? AGENT_SYNONYMS : WORK_SYNONYMS;
  return Object.hasOwn(map, key) ? map[key] : 'other';
}

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const pathRefusals = new StuckPairs();

  const m = {
    registry,
    operationDuration: new Histogram({
      name: 'coordination_operation_duration_seconds',
      help: 'Latency of coordination operations (claim, progress, complete, ...), from request to durable answer',
      labelNames: ['operation', 'outcome'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    }),
    claims: new Counter({
      name: 'coordination_claims_total',
      help: 'Claim attempts by outcome',
      labelNames: ['outcome'] as const,
      registers,
    }),
    conflicts: new Counter({
      name: 'coordination_conflicts_total',
      help: 'Refused changes by conflict type',
      labelNames: ['type'] as const,
      registers,
    }),
    leaseExpiries: new Counter({ name: 'coordination_lease_expiries_total', help: 'Claims released because their holder missed its lease', registers }),
    completions: new Counter({
      name: 'coordination_completions_total',
      help: 'Completed work items by outcome',
      labelNames: ['outcome'] as const,
      registers,
    }),
    heartbeats: new Counter({ name: 'coordination_heartbeats_total', help: 'Agent heartbeats accepted', registers }),
    syncFailures: new Counter({
      name: 'state_sync_failures_total',
      help: 'State synchronisation failures (client resyncs, unreadable legacy files, failed writes)',
      labelNames: ['reason'] as const,
      registers,
    }),
    storageWriteFailures: new Counter({
      name: 'storage_write_failures_total',
      help: 'Journal batches that could not be made durable (answered 507/503, undone)',
      labelNames: ['reason'] as const,
      registers,
    }),
    storageDegraded: new Gauge({ name: 'storage_degraded', help: '1 while writes are refused because the journal cannot be written, else 0', registers }),
    framesRejected: new Counter({
      name: 'websocket_frames_rejected_total',
      help: 'Frames from stream clients refused or ignored (binary, invalid, over the per-client rate)',
      labelNames: ['stream', 'reason'] as const,
      registers,
    }),
    agents: new Gauge({ name: 'coordination_agents', help: 'Registered agents by status', labelNames: ['status'] as const, registers }),
    // NoHeartbeats watches these only: legacy and imported agents never heartbeat (their claims carry their own leases).
    agentsHeartbeating: new Gauge({
      name: 'coordination_agents_heartbeating',
      help: 'Agents that heartbeated through the API since the daemon started and are not offline',
      registers,
    }),
    workItems: new Gauge({ name: 'coordination_work_items', help: 'Work items by status', labelNames: ['status'] as const, registers }),
    // alerts.yml's AgentWaitingForInput: set on each scrape from the agents' needs_input.since.
    // Set on each scrape from the path lease index.
    pathLeases: new Gauge({
      name: 'coordination_path_leases',
      help: 'Path leases held, by mode (exclusive, shared)',
      labelNames: ['mode'] as const,
      registers,
    }),
    pathConflicts: new Counter({
      name: 'coordination_path_conflicts_total',
      help: 'Path lease conflicts: claims and edits refused (denied), edits allowed with a warning (warned)',
      labelNames: ['action'] as const,
      registers,
    }),
    /** The refusals behind coordination_path_stuck_pairs: record() each refused (agent, path). */
    pathRefusals,
    // alerts.yml's PathLeaseStuckPair. No labels: a path or an agent id would be an unbounded series.
    pathStuckPairs: new Gauge({
      name: 'coordination_path_stuck_pairs',
      help: `(agent, path) pairs refused at least ${pathRefusals.threshold} times within the last ${pathRefusals.windowMs / 60_000} minutes`,
      registers,
      collect() {
        this.set(pathRefusals.stuck(Date.now()));
      },
    }),
    agentsLongestWait: new Gauge({
      name: 'coordination_agents_longest_wait_seconds',
      help: 'How long the agent waiting longest for human input (status needs_input) has waited; 0 when none waits',
      registers,
    }),
    revision: new Gauge({ name: 'coordination_revision', help: 'Current global revision of the coordination state', registers }),
    websocketClients: new Gauge({ name: 'websocket_clients', help: 'Connected WebSocket clients by stream', labelNames: ['stream'] as const, registers }),
    entropyBits: new Gauge({
      name: 'information_entropy_bits',
      help: 'Shannon entropy of the state by component (bits)',
      labelNames: ['component'] as const,
      registers,
    }),
    entropyTotal: new Gauge({ name: 'information_entropy_total', help: 'Total Shannon entropy of the state (bits)', registers }),
    // 0 = no baseline captured; alerts.yml's InformationLoss compares information_entropy_total with it.
    entropyBaselineBits: new Gauge({
      name: 'information_entropy_baseline_bits',
      help: 'Total entropy of the captured baseline (bits); 0 when none is captured',
      registers,
    }),
    // The InformationLoss alert's invariant: records or fields gone without a deliberate change
    // (daemon/core/losses.ts says which; entropy drift is normal work and alerts on nothing).
    recordsLost: new Counter({
      name: 'information_records_lost_total',
      help: 'Records lost without a deliberate change (e.g. deleted by an external edit made on a stale copy)',
      labelNames: ['cause'] as const,
      registers,
    }),
    fieldsLost: new Counter({
      name: 'information_fields_lost_total',
      help: 'Fields of records lost without a deliberate change (e.g. a legacy record rewritten without them)',
      labelNames: ['cause'] as const,
      registers,
    }),
    journalFsyncDuration: new Histogram({
      name: 'journal_fsync_duration_seconds',
      help: 'Duration of journal fsyncs (one per group commit)',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    journalBatchSize: new Histogram({
      name: 'journal_batch_size',
      help: 'Changes per journal group commit',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
      registers,
    }),
    serviceUp: new Gauge({ name: 'service_up', help: 'Probed service health (1 up, 0 down)', labelNames: ['service'] as const, registers }),
    serviceProbeDuration: new Gauge({
      name: 'service_probe_duration_seconds',
      help: 'Duration of the last probe of a service',
      labelNames: ['service'] as const,
      registers,
    }),
    analyzerRequests: new Counter({
      name: 'analyzer_requests_total',
      help: 'Analyzer bridge requests by outcome',
      labelNames: ['outcome'] as const,
      registers,
    }),
    // Claude Code's own telemetry (OTLP) per team: never per session, so the label count stays bounded.
    claudeCodeCost: new Counter({
      name: 'claude_code_cost_usd_total',
      help: 'Claude Code cost reported by its sessions (USD), by team',
      labelNames: ['team'] as const,
      registers,
    }),
    claudeCodeTokens: new Counter({
      name: 'claude_code_tokens_total',
      help: 'Claude Code tokens reported by its sessions, by team and type (input, output, cache_read, cache_creation)',
      labelNames: ['team', 'type'] as const,
      registers,
    }),
    otlpDataPoints: new Counter({
      name: 'otlp_data_points_total',
      help: 'OTLP data points and log records received, by outcome (counted, duplicate, rejected, ignored)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    // alerts.yml's ClaudeCodeOverBudget: set on each scrape from the agents' marks and today's costs.
    claudeCodeOverBudget: new Gauge({
      name: 'claude_code_over_budget',
      help: 'Claude Code agents over --budget-usd-per-agent (scope agent) and teams over --budget-usd-per-team-day today (scope team_day)',
      labelNames: ['scope'] as const,
      registers,
    }),
    analyzerDuration: new Histogram({
      name: 'analyzer_duration_seconds',
      help: 'Duration of analyzer command runs',
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers,
    }),
    // The work graph (docs/work-graph.md).
    workReady: new Gauge({ name: 'coordination_work_ready_items', help: 'Work items ready to claim: open, every prerequisite completed', registers }),
    workBlocked: new Gauge({ name: 'coordination_work_blocked_items', help: 'Work items blocked by a failed or missing prerequisite', registers }),
    claimNext: new Counter({
      name: 'coordination_claim_next_total',
      help: 'claim-next requests by outcome (claimed, empty: nothing ready, timeout: waited in vain, disconnected: the client left)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    readyToClaimed: new Histogram({
      name: 'coordination_ready_to_claimed_seconds',
      help: 'Time a work item waited from ready (every prerequisite completed) to claimed',
      buckets: [0.001, 0.01, 0.1, 1, 5, 15, 60, 300, 900, 3600],
      registers,
    }),
  };

  // Pre-create every bounded label value at 0: a counter series that first appears at 1 is invisible
  // to increase()/rate(), and an absent gauge series makes "sum(...) > 0" style alerts silently false.
  for (const o of ['won', 'conflict', 'idempotent']) m.claims.inc({ outcome: o }, 0);
  for (const t of ['claim', 'holder', 'fencing', 'version', 'merge']) m.conflicts.inc({ type: t }, 0);
  for (const o of ['success', 'failure']) m.completions.inc({ outcome: o }, 0);
  for (const r of SYNC_FAILURE_REASONS) m.syncFailures.inc({ reason: r }, 0);
  for (const s of ['coordination', 'telemetry']) for (const r of FRAME_REJECTIONS) m.framesRejected.inc({ stream: s, reason: r }, 0);
  for (const o of ['ok', 'failed', 'timeout', 'rejected']) m.analyzerRequests.inc({ outcome: o }, 0);
  for (const r of ['storage_full', 'write_failed']) m.storageWriteFailures.inc({ reason: r }, 0);
  for (const o of ['claimed', 'empty', 'timeout', 'disconnected']) m.claimNext.inc({ outcome: o }, 0);
  m.storageDegraded.set(0);
  for (const c of LOSS_CAUSES) {
    m.recordsLost.inc({ cause: c }, 0);
    m.fieldsLost.inc({ cause: c }, 0);
  }
  for (const s of ['coordination', 'telemetry']) m.websocketClients.set({ stream: s }, 0);
  for (const o of ['counted', 'duplicate', 'rejected', 'ignored']) m.otlpDataPoints.inc({ outcome: o }, 0);
  for (const mode of ['exclusive', 'shared']) m.pathLeases.set({ mode }, 0);
  for (const a of ['denied', 'warned']) m.pathConflicts.inc({ action: a }, 0);
  for (const s of ['agent', 'team_day']) m.claudeCodeOverBudget.set({ scope: s }, 0);
  for (const c of ['coordination', 'agents', 'telemetry']) m.entropyBits.set({ component: c }, 0);
  setStatusGauge(m.agents, 'agents', []);
  setStatusGauge(m.workItems, 'work', []);
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * Sets a by-status gauge from the statuses of all records: every bounded label is written (zeros
 * included), so a status that empties drops to 0 instead of keeping its last value.
 */
export function setStatusGauge(gauge: Gauge<'status'>, kind: 'agents' | 'work', statuses: Iterable<unknown>): void {
  const labels: readonly string[] = kind === 'agents' ? AGENT_STATUSES : WORK_STATUSES;
  const counts = new Map<string, number>(labels.map((l) => [l, 0]));
  for (const s of statuses) {
    const b = boundedStatus(kind, s);
    counts.set(b, (counts.get(b) ?? 0) + 1);
  }
  for (const [status, n] of counts) gauge.set({ status }, n);
}

/** Copies an entropy report (shared/entropy.ts) into the entropy gauges. */
export function setEntropyGauges(m: Metrics, report: Pick<EntropyReport, 'components' | 'total'>, baselineTotal?: number): void {
  for (const [component, bits] of Object.entries(report.components)) m.entropyBits.set({ component }, bits);
  m.entropyTotal.set(report.total);
  if (baselineTotal !== undefined) m.entropyBaselineBits.set(baselineTotal);
}
