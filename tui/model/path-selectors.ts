// Derived views of path leases for the Files panel and the agent drill-down: the leases held (read
// from the agents' records, where the daemon keeps them) and the conflicts the daemon streams as
// they happen. Pure functions of their inputs.
import type { PathConflictDetail } from '../../shared/protocol.js';
import { leasesOf, type LeaseMode } from '../../shared/path-leases.js';
import type { CoordinationState } from '../../shared/types.js';
import { parseTime, query, type ListQuery, type SortSpec } from './selectors.js';

export interface LeaseRow {
  /** agent\0repo\0path: unique, stable across changes. */
  key: string;
  /** The holder's record key in state.agents (its agent id). */
  agent: string;
  repo: string;
  /** Relative to the repository; a trailing `/` for a directory. */
  path: string;
  mode: LeaseMode;
  work: string | null;
  since: number | null;
  expires: number | null;
  /** The checkout it was taken in, when known (`host:/top-level`). */
  worktree: string | null;
}

const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const byPlace = (a: LeaseRow, b: LeaseRow): number => byText(a.repo, b.repo) || byText(a.path, b.path) || byText(a.agent, b.agent);
/** Nulls last. */
const byTime = (a: number | null, b: number | null): number => (a === b ? 0 : a === null ? 1 : b === null ? -1 : a - b);

export const LEASE_SORTS: readonly SortSpec<LeaseRow>[] = [
  { key: 'path', cmp: byPlace },
  { key: 'agent', cmp: (a, b) => byText(a.agent, b.agent) || byPlace(a, b) },
  { key: 'since', cmp: (a, b) => byTime(a.since, b.since) || byPlace(a, b) },
  { key: 'work', cmp: (a, b) => byText(a.work ?? '\uffff', b.work ?? '\uffff') || byPlace(a, b) },
];

function rowsOf(agent: string, data: CoordinationState['agents'][string]['data']): LeaseRow[] {
  return leasesOf(agent, data).map((l) => ({
    key: `${agent}\0${l.repo}\0${l.path}`,
    agent,
    repo: l.repo,
    path: l.path,
    mode: l.mode,
    work: l.work_id ?? null,
    since: parseTime(l.since),
    expires: l.expires_at === undefined ? null : parseTime(l.expires_at),
    worktree: l.worktree ?? null,
  }));
}

/** Every path lease of every agent, filtered and sorted. */
export function leaseRows(state: CoordinationState, q: ListQuery): LeaseRow[] {
  const rows: LeaseRow[] = [];
  for (const key in state.agents) rows.push(...rowsOf(key, state.agents[key].data));
  return query(rows, (r) => `${r.path} ${r.agent} ${r.repo} ${r.mode} ${r.work ?? ''}`, LEASE_SORTS, q);
}

/** How many path leases the agents hold (the Files panel's total before filtering). */
export function leaseCount(state: CoordinationState): number {
  let n = 0;
  for (const key in state.agents) n += leasesOf(key, state.agents[key].data).length;
  return n;
}

/** The path leases of one agent (its record key), by repository and path. */
export function leasesOfAgent(state: CoordinationState, agentKey: string): LeaseRow[] {
  const entry = state.agents[agentKey];
  return entry ? rowsOf(agentKey, entry.data).sort(byPlace) : [];
}

/** A lease in one line: `exclusive · work W · since 10:04:05 · in github.com/o/r`. */
export function leaseText(r: LeaseRow, clock: (ms: number) => string): string {
  const parts = [r.mode, r.work ? `work ${r.work}` : 'no work item', r.since === null ? 'since ?' : `since ${clock(r.since)}`];
  if (r.expires !== null) parts.push(`until ${clock(r.expires)}`);
  parts.push(`in ${r.repo}`);
  return parts.join(' · ');
}

/** The agent drill-down's lines for its path leases (one per lease, or one saying there is none). */
export function leaseLines(state: CoordinationState, agentKey: string, clock: (ms: number) => string): Array<{ field: string; value: string }> {
  const rows = leasesOfAgent(state, agentKey);
  if (rows.length === 0) return [{ field: '(path leases)', value: 'none' }];
  return rows.map((r, i) => ({ field: `(path lease ${i + 1}/${rows.length})`, value: `${r.path}  ${leaseText(r, clock)}` }));
}

export interface ConflictRow {
  /** Arrival order. */
  seq: number;
  at: number | null;
  action: PathConflictDetail['action'];
  source: PathConflictDetail['source'];
  agent: string;
  repo: string;
  path: string;
  /** Other paths refused in the same claim. */
  more: number;
  /** Who holds it: `agent (work W)`, several joined. */
  holders: string;
  refusals: number;
  stuck: boolean;
}

const CONFLICT_SORTS: readonly SortSpec<ConflictRow>[] = [{ key: 'recent', cmp: (a, b) => b.seq - a.seq }];

/** Conflicts as they came (oldest first in `list`), newest first, filtered like the leases. */
export function conflictRows(list: readonly PathConflictDetail[], filter = ''): ConflictRow[] {
  const rows = list.map((c, seq) => ({
    seq,
    at: parseTime(c.at),
    action: c.action,
    source: c.source,
    agent: c.agent_id,
    repo: c.repo,
    path: c.path,
    more: Math.max(0, c.paths - 1),
    holders: c.holders.map((h) => `${h.agent_id}${h.work_id ? ` (${h.work_id})` : ''}`).join(', ') || '-',
    refusals: c.refusals,
    stuck: c.stuck,
  }));
  return query(rows, (r) => `${r.path} ${r.agent} ${r.repo} ${r.holders} ${r.action}`, CONFLICT_SORTS, { filter });
}
