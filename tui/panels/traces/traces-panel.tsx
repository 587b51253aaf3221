import { Box } from 'ink';
import type { ReactElement } from 'react';
import type { SpanRow } from '../../model/selectors.js';
import { parseTime } from '../../model/selectors.js';
import { fmtClock, fmtMs } from '../../layout/format.js';
import type { Column } from '../../layout/table.js';
import { Table } from '../../layout/table.js';
import { PanelTitle } from '../../layout/title.js';
import type { ListView } from '../list-view.js';

const time = (s: string): string => {
  const t = parseTime(s);
  return t === null ? '?' : fmtClock(t);
};

export const SPAN_COLUMNS: Column<SpanRow>[] = [
  { title: 'TIME', width: 8, get: (r) => time(r.span.start_time) },
  { title: 'OPERATION', width: 24, min: 12, grow: true, get: (r) => r.span.operation_name ?? '-' },
  { title: 'DURATION', width: 8, align: 'right', get: (r) => fmtMs(r.span.duration_ms) },
  { title: 'STATUS', width: 6, get: (r) => r.span.status ?? '-', tone: (r) => (r.span.status === 'error' ? 'error' : 'ok') },
  { title: 'TRACE', width: 32, min: 11, ellipsis: 'middle', get: (r) => r.span.trace_id ?? '-' },
  { title: 'SERVICE', width: 18, get: (r) => r.span.service?.name ?? '-' },
];

export function TracesPanel({ rows, view }: { rows: SpanRow[]; view: ListView }): ReactElement {
  const errors = rows.filter((r) => r.span.status === 'error').length;
  return (
    <Box flexDirection="column">
      <PanelTitle
        title="Traces"
        shown={rows.length}
        total={view.total}
        sort={view.sort}
        desc={view.desc}
        filter={view.filter}
        extra={`${errors} errors · enter: trace tree`}
      />
      <Table
        columns={SPAN_COLUMNS}
        rows={rows}
        rowKey={(r) => String(r.seq)}
        selected={view.selected}
        width={view.width}
        height={view.height - 1}
        rowTone={(r) => (r.span.status === 'error' ? 'error' : undefined)}
        empty={view.empty ?? (view.filter ? 'no span matches the filter' : 'no spans yet')}
      />
    </Box>
  );
}
