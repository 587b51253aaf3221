import { Box } from 'ink';
import type { ReactElement } from 'react';
import type { CoordinationState } from '../../../shared/types.js';
import type { Readiness } from '../../../shared/work-graph.js';
import type { WorkRow } from '../../model/selectors.js';
import { workAge } from '../../model/selectors.js';
import type { GraphCounts } from '../../model/graph-selectors.js';
import { itemReadiness, readinessLabel, waitsForText } from '../../model/graph-selectors.js';
import { fmtAge } from '../../layout/format.js';
import type { Column } from '../../layout/table.js';
import { Table } from '../../layout/table.js';
import type { Tone } from '../../layout/theme.js';
import { PanelTitle } from '../../layout/title.js';
import type { ListView } from '../list-view.js';

const PRIO_TONE: Record<string, Tone> = { critical: 'error', high: 'warn' };
const statusTone = (r: WorkRow): Tone | undefined => (r.held ? 'accent' : r.status === 'completed' ? 'ok' : r.status === 'failed' ? 'error' : undefined);
const READY_TONE: Record<string, Tone> = { ready: 'ok', blocked: 'error', waiting: 'dim' };

/**
 * `ready`: the row's readiness, read only for the rows on screen (it depends on other records, so
 * it is not cached in the row); null when no item has prerequisites: READY and WAITS FOR are left
 * out, as readiness then only repeats the status.
 */
export const workColumns = (now: number, ready: ((r: WorkRow) => Readiness) | null): Column<WorkRow>[] => [
  { title: 'WORK', width: 24, min: 12, grow: true, ellipsis: 'middle', get: (r) => r.id },
  { title: 'TYPE', width: 20, min: 8, get: (r) => r.type ?? '-' },
  { title: 'PRIO', width: 8, min: 4, get: (r) => r.priority ?? '-', tone: (r) => PRIO_TONE[r.priority ?? ''] },
  { title: 'HOLDER', width: 25, min: 9, ellipsis: 'middle', get: (r) => r.holder ?? '-' },
  { title: 'STATUS', width: 11, min: 6, get: (r) => r.status ?? '-', tone: statusTone },
  ...(ready ? graphColumns(ready) : []),
  { title: 'PROG', width: 4, align: 'right', get: (r) => (r.progress === null ? '-' : `${r.progress}%`) },
  { title: 'AGE', width: 6, align: 'right', get: (r) => fmtAge(workAge(r, now)) },
];

const graphColumns = (ready: (r: WorkRow) => Readiness): Column<WorkRow>[] => [
  { title: 'READY', width: 7, get: (r) => readinessLabel(ready(r)), tone: (r) => READY_TONE[ready(r).state] },
  { title: 'WAITS FOR', width: 22, min: 10, get: (r) => waitsForText(ready(r)) || '-', tone: (r) => (ready(r).state === 'blocked' ? 'error' : undefined) },
];

export function ClaimsPanel({
  rows,
  view,
  state,
  graph,
}: {
  rows: WorkRow[];
  view: ListView;
  /** The state the rows come from: prerequisites are looked up in it. */
  state: CoordinationState;
  graph: GraphCounts;
}): ReactElement {
  let held = 0;
  for (const r of rows) if (r.held) held++;
  // One readiness per row and frame: the columns ask for it several times.
  const seen = new Map<WorkRow, Readiness>();
  const ready = (r: WorkRow): Readiness => {
    let x = seen.get(r);
    if (!x) seen.set(r, (x = itemReadiness(state, r.data)));
    return x;
  };
  const extra = `${held} held · ${graph.ready} ready` + (graph.linked ? ` · ${graph.waiting} waiting · ${graph.blocked} blocked` : '');
  return (
    <Box flexDirection="column">
      <PanelTitle title="Claims / work" shown={rows.length} total={view.total} sort={view.sort} desc={view.desc} filter={view.filter} extra={extra} />
      <Table
        columns={workColumns(view.now, graph.linked ? ready : null)}
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
