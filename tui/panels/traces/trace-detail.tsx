// One trace as a span tree (parent_span_id links) with a waterfall of where each span sits in time.
import { Box } from 'ink';
import type { ReactElement } from 'react';
import type { TraceNode } from '../../model/selectors.js';
import { fmtMs } from '../../layout/format.js';
import type { Column } from '../../layout/table.js';
import { Table } from '../../layout/table.js';
import { PanelTitle } from '../../layout/title.js';

const BAR_WIDTH = 16;

function waterfall(n: TraceNode, span: number): string {
  if (n.offsetMs === null || span <= 0) return '';
  const from = Math.min(BAR_WIDTH - 1, Math.floor((n.offsetMs / span) * BAR_WIDTH));
  const len = Math.max(1, Math.round((n.span.duration_ms / span) * BAR_WIDTH));
  return ' '.repeat(from) + '█'.repeat(Math.min(len, BAR_WIDTH - from));
}

export function TraceDetail({
  traceId,
  nodes,
  selected,
  width,
  height,
}: {
  traceId: string;
  nodes: TraceNode[];
  selected: number;
  width: number;
  height: number;
}): ReactElement {
  const end = Math.max(0, ...nodes.map((n) => (n.offsetMs ?? 0) + n.span.duration_ms));
  const errors = nodes.filter((n) => n.span.status === 'error').length;
  const columns: Column<TraceNode>[] = [
    { title: 'SPAN', width: 34, min: 14, grow: true, get: (n) => n.prefix + n.span.operation_name },
    { title: 'DURATION', width: 8, align: 'right', get: (n) => fmtMs(n.span.duration_ms) },
    { title: 'STATUS', width: 6, get: (n) => n.span.status, tone: (n) => (n.span.status === 'error' ? 'error' : 'ok') },
    { title: 'OFFSET', width: 8, align: 'right', get: (n) => (n.offsetMs === null ? '?' : `+${fmtMs(n.offsetMs)}`) },
    { title: 'SPAN ID', width: 16, get: (n) => n.span.span_id || '-' },
    { title: 'TIMELINE', width: BAR_WIDTH, get: (n) => waterfall(n, end) },
  ];
  return (
    <Box flexDirection="column">
      <PanelTitle
        title={`Trace ${traceId}`}
        extra={`${nodes.length} span${nodes.length === 1 ? '' : 's'} · ${fmtMs(end)} · ${errors} error${errors === 1 ? '' : 's'} · esc back`}
      />
      <Table
        columns={columns}
        rows={nodes}
        rowKey={(_, i) => String(i)}
        selected={selected}
        width={width}
        height={height - 1}
        empty="trace no longer in the span buffer"
      />
    </Box>
  );
}
