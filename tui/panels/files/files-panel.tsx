// The Files panel: who holds which path (mode, repository, work item, since when) and, below, the
// edits and path claims the daemon refused as they happen, newest first, with how often that agent
// met that path lately (`stuck` once the daemon counts the pair in coordination_path_stuck_pairs).
import { Box } from 'ink';
import type { ReactElement } from 'react';
import type { ConflictRow, LeaseRow } from '../../model/path-selectors.js';
import { fmtAge, fmtClock } from '../../layout/format.js';
import type { Column } from '../../layout/table.js';
import { Table } from '../../layout/table.js';
import { PanelTitle } from '../../layout/title.js';
import type { ListView } from '../list-view.js';

export const leaseColumns = (now: number): Column<LeaseRow>[] => [
  { title: 'PATH', width: 28, min: 12, grow: true, ellipsis: 'middle', get: (r) => r.path },
  { title: 'MODE', width: 9, min: 4, get: (r) => r.mode, tone: (r) => (r.mode === 'exclusive' ? 'accent' : undefined) },
  { title: 'HOLDER', width: 24, min: 9, ellipsis: 'middle', get: (r) => r.agent },
  { title: 'WORK', width: 18, min: 6, ellipsis: 'middle', get: (r) => r.work ?? '-' },
  { title: 'SINCE', width: 6, align: 'right', get: (r) => (r.since === null ? '-' : fmtAge(Math.max(0, now - r.since))) },
  { title: 'REPOSITORY', width: 28, min: 10, ellipsis: 'middle', get: (r) => r.repo },
];

const CONFLICT_COLUMNS: Column<ConflictRow>[] = [
  { title: 'TIME', width: 8, get: (r) => (r.at === null ? '?' : fmtClock(r.at)) },
  {
    title: 'EVENT',
    width: 7,
    get: (r) => (r.action === 'denied' ? 'refused' : 'warned'),
    tone: (r) => (r.action === 'denied' ? 'error' : 'warn'),
  },
  { title: 'AGENT', width: 24, min: 9, ellipsis: 'middle', get: (r) => r.agent },
  { title: 'PATH', width: 24, min: 10, ellipsis: 'middle', get: (r) => r.path + (r.more ? ` +${r.more}` : '') },
  { title: 'HELD BY', width: 26, min: 9, grow: true, ellipsis: 'middle', get: (r) => r.holders },
  {
    title: 'TIMES',
    width: 10,
    align: 'right',
    get: (r) => (r.action === 'warned' ? '-' : r.stuck ? `! ${r.refusals} stuck` : String(r.refusals)),
    tone: (r) => (r.stuck ? 'error' : undefined),
  },
];

/** Lines of the refusals part: a third of the body, never less than its title, header and one row. */
export const conflictHeight = (height: number): number => Math.max(3, Math.floor(height / 3));

export function FilesPanel({ leases, conflicts, view }: { leases: LeaseRow[]; conflicts: ConflictRow[]; view: ListView }): ReactElement {
  let exclusive = 0;
  for (const r of leases) if (r.mode === 'exclusive') exclusive++;
  let stuck = 0;
  const seen = new Set<string>();
  for (const c of conflicts) {
    const pair = `${c.agent}\0${c.repo}\0${c.path}`;
    if (seen.has(pair)) continue;
    seen.add(pair); // the newest event of a pair says whether it is stuck now
    if (c.stuck) stuck++;
  }
  const bottom = conflictHeight(view.height);
  return (
    <Box flexDirection="column">
      <PanelTitle
        title="Files: path leases"
        shown={leases.length}
        total={view.total}
        sort={view.sort}
        desc={view.desc}
        filter={view.filter}
        extra={`${exclusive} exclusive · ${leases.length - exclusive} shared · enter: holder`}
      />
      <Table
        columns={leaseColumns(view.now)}
        rows={leases}
        rowKey={(r) => r.key}
        selected={view.selected}
        width={view.width}
        height={view.height - 1 - bottom}
        empty={view.empty ?? (view.filter ? 'no lease matches the filter' : 'no path is leased')}
      />
      <PanelTitle title="Refused edits" shown={conflicts.length} total={conflicts.length} extra={stuck ? `! ${stuck} stuck (agent, path)` : 'as they happen'} />
      <Table
        columns={CONFLICT_COLUMNS}
        rows={conflicts}
        rowKey={(r) => String(r.seq)}
        selected={-1}
        width={view.width}
        height={bottom - 1}
        empty="none since the console started"
      />
    </Box>
  );
}
