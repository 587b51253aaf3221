import { Box, Text } from 'ink';
import type { ReactElement } from 'react';
import type { LatencyRow } from '../../model/selectors.js';
import { LATENCY_TARGET_MS } from '../../model/selectors.js';
import { fmtAge, fmtMs } from '../../layout/format.js';
import { sparkline } from '../../layout/sparkline.js';
import type { Column } from '../../layout/table.js';
import { Table } from '../../layout/table.js';
import { useTone } from '../../layout/theme.js';
import { PanelTitle } from '../../layout/title.js';

export interface LatencyPanelProps {
  rows: LatencyRow[];
  /** Worst p99 per sample, oldest first. */
  worst: number[];
  selected: number;
  width: number;
  height: number;
  /** Age of the last stats sample, null if none yet. */
  statsAgeMs: number | null;
  statsError: string | null;
  sampleEveryMs: number;
}

const FIXED = 14 + 8 + 8 + 8 + 8 + 5; // OP..P99 and separators, before the trend column

export function LatencyPanel({ rows, worst, selected, width, height, statsAgeMs, statsError, sampleEveryMs }: LatencyPanelProps): ReactElement {
  const tone = useTone();
  const trendW = Math.max(0, width - 2 - FIXED - 1);
  const columns: Column<LatencyRow>[] = [
    { title: 'OPERATION', width: 14, min: 8, get: (r) => r.op },
    { title: 'COUNT', width: 8, align: 'right', get: (r) => String(r.count) },
    { title: 'P50', width: 8, align: 'right', get: (r) => fmtMs(r.p50) },
    { title: 'P95', width: 8, align: 'right', get: (r) => fmtMs(r.p95) },
    // "!" marks a miss in monochrome too.
    { title: 'P99', width: 8, align: 'right', get: (r) => (r.over ? '!' : '') + fmtMs(r.p99), tone: (r) => (r.over ? 'error' : 'ok') },
    ...(trendW >= 4 ? [{ title: 'P99 TREND', width: trendW, get: (r: LatencyRow) => sparkline(r.history, trendW) }] : []),
  ];
  const now = worst.length ? worst[worst.length - 1] : null;
  const over = now !== null && now > LATENCY_TARGET_MS;
  const span = fmtAge(worst.length * sampleEveryMs);
  const source = statsError
    ? `stats error: ${statsError}${statsAgeMs !== null ? ` (last ok ${fmtAge(statsAgeMs)} ago)` : ''}`
    : statsAgeMs === null
      ? 'waiting for /api/stats…'
      : `updated ${fmtAge(statsAgeMs)} ago`;
  return (
    <Box flexDirection="column">
      <PanelTitle title="Latency" extra={`target p99 < ${LATENCY_TARGET_MS} ms · ${source}`} />
      <Text wrap="truncate">
        {'worst p99 '}
        <Text {...tone(now === null ? undefined : over ? 'error' : 'ok')}>
          {now === null ? '-' : `${fmtMs(now)} ${over ? 'OVER TARGET' : 'within target'}`}
        </Text>
        {`  last ${span} `}
        {sparkline(worst, Math.max(0, width - 48))}
      </Text>
      <Table columns={columns} rows={rows} rowKey={(r) => r.op} selected={selected} width={width} height={height - 2} empty="no operations measured yet" />
    </Box>
  );
}
