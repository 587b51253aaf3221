import { Box } from 'ink';
import type { ReactElement } from 'react';
import type { WorkRow } from '../../model/selectors.js';
import { workAge } from '../../model/selectors.js';
import { fmtAge } from '../../layout/format.js';
import type { Column } from '../../layout/table.js';
import { Table } from '../../layout/table.js';
import type { Tone } from '../../layout/theme.js';
import { PanelTitle } from '../../layout/title.js';
import type { ListView } from '../list-view.js';

const PRIO_TONE: Record<string, Tone> = { critical: 'error', high: 'warn' };
const statusTone = (r: WorkRow): Tone | undefined => (r.held ? 'accent' : r.status === 'completed' ? 'ok' : r.status === 'failed' ? 'error' : undefined);

export const workColumns = (now: number): Column<WorkRow>[] => [
  { title: 'WORK', width: 24, min: 12, grow: true, ellipsis: 'middle', get: (r) => r.id },
  { title: 'TYPE', width: 20, min: 8, get: (r) => r.type ?? '-' },
  { title: 'PRIO', width: 8, min: 4, get: (r) => r.priority ?? '-', tone: (r) => PRIO_TONE[r.priority ?? ''] },
  { title: 'HOLDER', width: 25, min: 9, ellipsis: 'middle', get: (r) => r.holder ?? '-' },
  { title: 'STATUS', width: 11, min: 6, get: (r) => r.status ?? '-', tone: statusTone },
  { title: 'PROG', width: 4, align: 'right', get: (r) => (r.progress === null ? '-' : `${r.progress}%`) },
  { title: 'AGE', width: 6, align: 'right', get: (r) => fmtAge(workAge(r, now)) },
];

export function ClaimsPanel({ rows, view }: { rows: WorkRow[]; view: ListView }): ReactElement {
  let held = 0;
  for (const r of rows) if (r.held) held++;
  return (
    <Box flexDirection="column">
      <PanelTitle title="Claims / work" shown={rows.length} total={view.total} sort={view.sort} desc={view.desc} filter={view.filter} extra={`${held} held`} />
      <Table
        columns={workColumns(view.now)}
        rows={rows}
        rowKey={(r) => r.key}
        selected={view.selected}
        width={view.width}
        height={view.height - 1}
        empty={view.empty ?? (view.filter ? 'no work item matches the filter' : 'no work items')}
      />
    </Box>
  );
}
