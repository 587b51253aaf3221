// A small table: fixed header, a window of rows around the selection, columns shrunk (then dropped
// from the right) to fit the width. Selection is inverse plus a "> " gutter, so it survives monochrome.
import { Box, Text } from 'ink';
import type { ReactElement } from 'react';
import { fit } from './format.js';
import type { Tone } from './theme.js';
import { useTone } from './theme.js';

export interface Column<R> {
  title: string;
  /** Preferred width. */
  width: number;
  /** Narrowest it may shrink to; defaults to `width` (fixed). */
  min?: number;
  /** Takes the width left over. */
  grow?: boolean;
  /** Left out (rightmost first) before any other column is shrunk. */
  optional?: boolean;
  align?: 'left' | 'right';
  /** Where to cut when too long: ids keep both ends. */
  ellipsis?: 'end' | 'middle';
  get: (row: R) => string;
  tone?: (row: R) => Tone | undefined;
}

const GUTTER = 2;

/** Column widths for the available width; 0 means the column does not fit and is left out. */
export function layoutColumns(cols: readonly Pick<Column<unknown>, 'width' | 'min' | 'grow' | 'optional'>[], width: number): number[] {
  const avail = Math.max(0, width - GUTTER);
  const w = cols.map((c) => c.width);
  const total = (): number => {
    const shown = w.filter((x) => x > 0);
    return shown.reduce((a, b) => a + b, 0) + Math.max(0, shown.length - 1);
  };
  for (let i = cols.length - 1; i >= 0 && total() > avail; i--) if (cols[i].optional) w[i] = 0;
  let over = total() - avail;
  while (over > 0) {
    let best = -1;
    for (let i = 0; i < cols.length; i++) {
      const slack = w[i] - (cols[i].min ?? cols[i].width);
      if (w[i] > 0 && slack > 0 && (best < 0 || slack > w[best] - (cols[best].min ?? cols[best].width))) best = i;
    }
    if (best >= 0) {
      const slack = w[best] - (cols[best].min ?? cols[best].width);
      const cut = Math.min(slack, over, Math.max(1, Math.ceil(slack / 2)));
      w[best] -= cut;
    } else {
      const last = w
        .map((x, i) => (x > 0 ? i : -1))
        .filter((i) => i > 0)
        .pop();
      if (last === undefined) {
        w[0] = Math.min(w[0], avail);
        break;
      }
      w[last] = 0;
    }
    over = total() - avail;
  }
  const grow = cols.findIndex((c, i) => c.grow && w[i] > 0);
  if (over < 0 && grow >= 0) w[grow] += -over;
  return w;
}

/** First visible row so that `selected` sits in the middle of the window where possible. */
export function windowStart(selected: number, count: number, visible: number): number {
  if (count <= visible) return 0;
  return Math.min(Math.max(0, selected - Math.floor(visible / 2)), count - visible);
}

export interface TableProps<R> {
  columns: readonly Column<R>[];
  rows: readonly R[];
  rowKey: (row: R, index: number) => string;
  /** Index of the selected row, -1 for none. */
  selected: number;
  width: number;
  /** Lines including the header. */
  height: number;
  rowTone?: (row: R) => Tone | undefined;
  empty?: string;
}

export function Table<R>({ columns, rows, rowKey, selected, width, height, rowTone, empty = 'nothing to show' }: TableProps<R>): ReactElement {
  const tone = useTone();
  const widths = layoutColumns(columns, width);
  const shown = columns.map((c, i) => ({ c, w: widths[i] })).filter((x) => x.w > 0);
  const visible = Math.max(0, height - 1);
  const start = windowStart(selected, rows.length, visible);
  const header = ' '.repeat(GUTTER) + shown.map(({ c, w }) => fit(c.title, w, c.align)).join(' ');
  return (
    <Box flexDirection="column" width={width} height={height} overflowY="hidden">
      <Text bold wrap="truncate">
        {header}
      </Text>
      {rows.length === 0 ? <Text wrap="truncate">{'  ' + empty}</Text> : null}
      {rows.slice(start, start + visible).map((r, i) => {
        const sel = start + i === selected;
        return (
          <Text key={rowKey(r, start + i)} inverse={sel} wrap="truncate" {...tone(rowTone?.(r))}>
            {sel ? '> ' : '  '}
            {shown.map(({ c, w }, j) => (
              <Text key={j} {...tone(c.tone?.(r))}>
                {(j ? ' ' : '') + fit(c.get(r), w, c.align, c.ellipsis)}
              </Text>
            ))}
          </Text>
        );
      })}
    </Box>
  );
}
