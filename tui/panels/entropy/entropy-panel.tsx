import { Box, Text } from 'ink';
import type { ReactElement } from 'react';
import type { EntropyRow, EntropyView } from '../../model/selectors.js';
import { CONSERVED_MAX, CONSERVED_MIN } from '../../model/selectors.js';
import { fmtBits } from '../../layout/format.js';
import { sparkline } from '../../layout/sparkline.js';
import type { Column } from '../../layout/table.js';
import { Table } from '../../layout/table.js';
import { useTone } from '../../layout/theme.js';
import { PanelTitle } from '../../layout/title.js';

const ratioText = (r: number | null): string => (r === null ? '-' : r.toFixed(4));
const outside = (r: number | null): boolean => r !== null && (r < CONSERVED_MIN || r > CONSERVED_MAX);

const COLUMNS: Column<EntropyRow>[] = [
  { title: 'COMPONENT', width: 16, min: 8, get: (r) => r.name },
  { title: 'BITS', width: 8, align: 'right', get: (r) => fmtBits(r.bits) },
  { title: 'BASELINE', width: 9, align: 'right', get: (r) => fmtBits(r.baseline) },
  { title: 'DELTA', width: 8, align: 'right', get: (r) => (r.delta === null ? '-' : (r.delta >= 0 ? '+' : '') + r.delta.toFixed(2)) },
  { title: 'RATIO', width: 8, align: 'right', get: (r) => ratioText(r.ratio), tone: (r) => (outside(r.ratio) ? 'warn' : undefined) },
];

export interface EntropyPanelProps {
  view: EntropyView;
  hasStats: boolean;
  /** Per component, per field bits (stats.entropy.fields), shown as space allows. */
  fields?: Record<string, Record<string, number>>;
  width: number;
  height: number;
}

export function EntropyPanel({ view, hasStats, fields = {}, width, height }: EntropyPanelProps): ReactElement {
  const tone = useTone();
  const rows: EntropyRow[] = view.rows.length
    ? [
        ...view.rows,
        {
          name: 'total',
          bits: view.total,
          baseline: view.baselineTotal,
          delta: view.total !== null && view.baselineTotal !== null ? view.total - view.baselineTotal : null,
          ratio: view.ratio,
        },
      ]
    : [];
  const range = `${CONSERVED_MIN}–${CONSERVED_MAX}`;
  const verdict =
    view.conserved === null ? (
      <Text wrap="truncate">{hasStats ? 'no baseline captured: conservation ratio unavailable' : 'waiting for /api/stats…'}</Text>
    ) : view.conserved ? (
      <Text wrap="truncate" {...tone('ok')}>{`conservation ratio ${ratioText(view.ratio)} within ${range}: information conserved`}</Text>
    ) : (
      <Text
        wrap="truncate"
        inverse
        {...tone('error')}
      >{`WARNING: conservation ratio ${ratioText(view.ratio)} outside ${range}: information NOT conserved`}</Text>
    );
  const tableH = Math.min(height - 3, rows.length + 1 || 2);
  const fieldLines = Object.entries(fields).map(
    ([comp, fs]) =>
      `${comp}: ` +
      Object.entries(fs)
        .map(([f, b]) => `${f} ${fmtBits(b)}`)
        .join(' · '),
  );
  const room = Math.max(0, height - 3 - tableH - 1);
  return (
    <Box flexDirection="column">
      <PanelTitle title="Entropy" extra="Shannon entropy in bits, against the captured baseline" />
      {verdict}
      <Text wrap="truncate">{`total trend ${sparkline(view.history, Math.max(0, width - 14))}`}</Text>
      <Table columns={COLUMNS} rows={rows} rowKey={(r) => r.name} selected={-1} width={width} height={tableH} empty="no entropy figures yet" />
      {room > 0 && fieldLines.length ? <Text bold>fields (bits)</Text> : null}
      {fieldLines.slice(0, room).map((l) => (
        <Text key={l} wrap="truncate">
          {'  ' + l}
        </Text>
      ))}
    </Box>
  );
}
