import { Box } from 'ink';
import type { ReactElement } from 'react';
import type { AgentRow } from '../../model/selectors.js';
import { fmtAge } from '../../layout/format.js';
import type { Column } from '../../layout/table.js';
import { Table } from '../../layout/table.js';
import { PanelTitle } from '../../layout/title.js';
import type { ListView } from '../list-view.js';

const load = (r: AgentRow): string => (r.workload === null && r.capacity === null ? '-' : `${r.workload ?? '-'}/${r.capacity ?? '-'}`);

export const AGENT_COLUMNS: Column<AgentRow>[] = [
  { title: 'AGENT', width: 25, min: 12, grow: true, ellipsis: 'middle', get: (r) => r.id },
  { title: 'TEAM', width: 18, min: 8, get: (r) => r.team ?? '-' },
  { title: 'STATUS', width: 9, min: 6, get: (r) => r.status ?? '-', tone: (r) => (r.status === 'offline' ? 'dim' : undefined) },
  { title: 'LOAD', width: 7, align: 'right', get: load },
  // "STALE" leads so it survives truncation; the colour only repeats it.
  { title: 'HEARTBEAT', width: 12, min: 9, get: (r) => (r.stale ? `STALE ${fmtAge(r.heartbeatAgeMs)}` : fmtAge(r.heartbeatAgeMs)), tone: (r) => (r.stale ? 'warn' : undefined) },
  { title: 'CLAIMS', width: 6, align: 'right', get: (r) => String(r.claims) },
];

export function AgentsPanel({ rows, view }: { rows: AgentRow[]; view: ListView }): ReactElement {
  const stale = rows.filter((r) => r.stale).length;
  return (
    <Box flexDirection="column">
      <PanelTitle title="Agents" shown={rows.length} total={view.total} sort={view.sort} desc={view.desc} filter={view.filter} extra={stale ? `${stale} stale` : undefined} />
      <Table columns={AGENT_COLUMNS} rows={rows} rowKey={(r) => r.key} selected={view.selected} width={view.width} height={view.height - 1}
        rowTone={(r) => (r.stale ? 'warn' : undefined)} empty={view.empty ?? (view.filter ? 'no agent matches the filter' : 'no agents registered')} />
    </Box>
  );
}
