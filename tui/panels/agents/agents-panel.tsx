import { Box } from 'ink';
import type { ReactElement } from 'react';
import type { AgentRow } from '../../model/selectors.js';
import { NEEDS_INPUT } from '../../model/sessions.js';
import { fmtAge, fmtUsd } from '../../layout/format.js';
import type { Column } from '../../layout/table.js';
import { Table } from '../../layout/table.js';
import type { Tone } from '../../layout/theme.js';
import { PanelTitle } from '../../layout/title.js';
import type { ListView } from '../list-view.js';

const load = (r: AgentRow): string => (r.workload === null && r.capacity === null ? '-' : `${r.workload ?? '-'}/${r.capacity ?? '-'}`);

const waits = (r: AgentRow): boolean => r.status === NEEDS_INPUT;

/** "! input 4m12s": the marker leads (it survives monochrome and truncation), then the wait. */
export const statusText = (r: AgentRow): string => (waits(r) ? `! input ${fmtAge(r.waitMs)}` : (r.status ?? '-'));
const statusTone = (r: AgentRow): Tone | undefined => (waits(r) ? 'attention' : r.status === 'working' ? 'ok' : r.status === 'offline' ? 'dim' : undefined);

const AGENT: Column<AgentRow> = { title: 'AGENT', width: 25, min: 12, grow: true, ellipsis: 'middle', get: (r) => r.id };
const TEAM: Column<AgentRow> = { title: 'TEAM', width: 18, min: 8, get: (r) => r.team ?? '-' };
const LOAD: Column<AgentRow> = { title: 'LOAD', width: 7, align: 'right', get: load };
// "STALE" leads so it survives truncation; the colour only repeats it.
const HEARTBEAT: Column<AgentRow> = {
  title: 'HEARTBEAT',
  width: 12,
  min: 9,
  get: (r) => (r.stale ? `STALE ${fmtAge(r.heartbeatAgeMs)}` : fmtAge(r.heartbeatAgeMs)),
  tone: (r) => (r.stale ? 'warn' : undefined),
};
const CLAIMS: Column<AgentRow> = { title: 'CLAIMS', width: 6, align: 'right', get: (r) => String(r.claims) };

export const AGENT_COLUMNS: Column<AgentRow>[] = [
  AGENT,
  TEAM,
  { title: 'STATUS', width: 9, min: 6, get: statusText, tone: statusTone },
  LOAD,
  HEARTBEAT,
  CLAIMS,
];

/**
 * With Claude Code sessions in the fleet: their project, last tool and cost, and a status wide
 * enough for the wait. The team goes last and is left out first on a narrow terminal; the load
 * (sessions report none) is in the drill-down only.
 */
export const SESSION_COLUMNS: Column<AgentRow>[] = [
  // Session ids are long (cc_ and a UUID): keep enough of both ends to tell them apart.
  { ...AGENT, width: 20, min: 15 },
  { title: 'PROJECT', width: 14, min: 8, get: (r) => r.project ?? '-' },
  { title: 'STATUS', width: 14, get: statusText, tone: statusTone },
  { title: 'ACTIVITY', width: 24, min: 12, get: (r) => r.activity ?? '-', tone: (r) => (r.status === 'working' ? undefined : 'dim') },
  {
    title: 'COST',
    width: 8,
    align: 'right',
    get: (r) => (r.costUsd === null ? '-' : fmtUsd(r.costUsd) + (r.overBudget ? '!' : '')),
    tone: (r) => (r.overBudget ? 'error' : undefined),
  },
  HEARTBEAT,
  CLAIMS,
  { ...TEAM, width: 12, optional: true },
];

/** `sessions`: the fleet has Claude Code sessions (decided on the whole fleet, so a filter does not change the columns). */
export function AgentsPanel({ rows, view, sessions = false }: { rows: AgentRow[]; view: ListView; sessions?: boolean }): ReactElement {
  let stale = 0;
  let waiting = 0;
  for (const r of rows) {
    if (r.stale) stale++;
    if (waits(r)) waiting++;
  }
  const extra = [waiting ? `! ${waiting} needs input` : '', stale ? `${stale} stale` : ''].filter(Boolean).join(' · ');
  return (
    <Box flexDirection="column">
      <PanelTitle title="Agents" shown={rows.length} total={view.total} sort={view.sort} desc={view.desc} filter={view.filter} extra={extra || undefined} />
      <Table
        columns={sessions ? SESSION_COLUMNS : AGENT_COLUMNS}
        rows={rows}
        rowKey={(r) => r.key}
        selected={view.selected}
        width={view.width}
        height={view.height - 1}
        rowTone={(r) => (waits(r) ? 'attention' : r.stale ? 'warn' : undefined)}
        empty={view.empty ?? (view.filter ? 'no agent matches the filter' : 'no agents registered')}
      />
    </Box>
  );
}
