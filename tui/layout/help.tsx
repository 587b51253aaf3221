import { Box, Text } from 'ink';
import type { ReactElement } from 'react';

const KEYS: [string, string][] = [
  ['↑/↓  j/k', 'move selection'],
  ['PgUp/PgDn  g/G', 'page up/down, top, bottom'],
  ['tab  shift-tab', 'next / previous panel'],
  ['1-7', 'agents, claims, latency, entropy, traces, health, files (path leases)'],
  ['/', 'filter: type, enter applies, esc clears'],
  ['s  S', 'cycle sort column, reverse order'],
  ['enter', "drill down (agent, work item, trace tree, a lease's holder)"],
  ['esc', 'back, or clear the filter'],
  ['r', 'release the selected claim (claims, --allow-write)'],
  ['o', 'mark the selected agent offline (agents, --allow-write)'],
  ['?', 'toggle this help'],
  ['q  ctrl-c', 'quit'],
];

const KEY_COL = Math.max(...KEYS.map(([k]) => k.length)) + 2;
/** Border (2) and padding (2) around the text. */
const FRAME_X = 4;
/** Top and bottom border, and the title line. */
const FRAME_Y = 3;
const MAX_WIDTH = 76;

/** Greedy word wrap; a word longer than the width is cut so that no line overflows. */
function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    const w = word.length > width ? word.slice(0, width) : word;
    if (!line) line = w;
    else if (line.length + 1 + w.length <= width) line += ' ' + w;
    else {
      out.push(line);
      line = w;
    }
  }
  out.push(line);
  return out;
}

/**
 * The help text as lines for an overlay of this outer width: each entry starts its own line with its keys, and
 * a description too long for the width continues on the next lines under the description column (never
 * truncated, never drawn over its neighbour).
 */
export function helpLines(width: number): string[] {
  const inner = Math.max(1, Math.min(width, MAX_WIDTH) - FRAME_X);
  // Narrow screens: the description goes under the keys rather than shrinking to a few characters.
  const stacked = inner - KEY_COL < 20;
  const lines: string[] = [];
  for (const [k, what] of KEYS) {
    if (stacked) {
      lines.push(k.slice(0, inner), ...wrap(what, Math.max(1, inner - 2)).map((l) => '  ' + l));
    } else {
      const [first, ...rest] = wrap(what, inner - KEY_COL);
      lines.push(k.padEnd(KEY_COL) + first, ...rest.map((l) => ' '.repeat(KEY_COL) + l));
    }
  }
  return lines;
}

/** How many help lines fit in a body of this height. */
export const helpRows = (height: number): number => Math.max(1, height - FRAME_Y);

/** The largest useful scroll offset, so that the last page is full. */
export const helpMaxTop = (width: number, height: number): number => Math.max(0, helpLines(width).length - helpRows(height));

export function HelpOverlay({ width, height, top = 0 }: { width: number; height: number; top?: number }): ReactElement {
  const lines = helpLines(width);
  const rows = helpRows(height);
  const from = Math.min(Math.max(0, top), helpMaxTop(width, height));
  const shown = lines.slice(from, from + rows);
  const scrolls = lines.length > rows;
  const title = scrolls ? `Keys ${from + 1}-${from + shown.length}/${lines.length} (j/k scroll, ? esc close)` : 'Keys (? or esc to close)';
  return (
    <Box
      flexDirection="column"
      borderStyle="single"
      width={Math.min(width, MAX_WIDTH)}
      height={Math.min(height, shown.length + FRAME_Y)}
      paddingX={1}
      overflow="hidden"
    >
      <Text bold wrap="truncate">
        {title}
      </Text>
      {shown.map((l, i) => (
        <Text key={from + i} wrap="truncate">
          {l}
        </Text>
      ))}
    </Box>
  );
}
