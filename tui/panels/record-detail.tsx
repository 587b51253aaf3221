// Drill-down into one record (agent or work item): every field of the legacy record, unknown ones
// included, as a scrollable two-column table.
import { Box } from 'ink';
import type { ReactElement } from 'react';
import type { Entry } from '../../shared/types.js';
import { fmtJson } from '../layout/format.js';
import type { Column } from '../layout/table.js';
import { Table } from '../layout/table.js';
import { PanelTitle } from '../layout/title.js';

export interface DetailLine {
  field: string;
  value: string;
}

export function recordLines(entry: Entry | undefined, extra: DetailLine[] = []): DetailLine[] {
  if (!entry) return [{ field: '(gone)', value: 'this record no longer exists' }];
  return [
    ...Object.entries(entry.data).map(([field, v]) => ({ field, value: fmtJson(v) })),
    { field: '(version)', value: `v${entry.v} rev ${entry.rev}` },
    ...extra,
  ];
}

const COLUMNS: Column<DetailLine>[] = [
  { title: 'FIELD', width: 22, min: 10, get: (l) => l.field },
  { title: 'VALUE', width: 20, grow: true, get: (l) => l.value },
];

export function RecordDetail({
  title,
  lines,
  selected,
  width,
  height,
}: {
  title: string;
  lines: DetailLine[];
  selected: number;
  width: number;
  height: number;
}): ReactElement {
  return (
    <Box flexDirection="column">
      <PanelTitle title={title} extra="esc back" />
      <Table columns={COLUMNS} rows={lines} rowKey={(l, i) => `${i}:${l.field}`} selected={selected} width={width} height={height - 1} />
    </Box>
  );
}
