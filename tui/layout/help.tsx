import { Box, Text } from 'ink';
import type { ReactElement } from 'react';

const KEYS: [string, string][] = [
  ['↑/↓  j/k', 'move selection'],
  ['PgUp/PgDn  g/G', 'page up/down, top, bottom'],
  ['tab  shift-tab', 'next / previous panel'],
  ['1-6', 'agents, claims, latency, entropy, traces, health'],
  ['/', 'filter: type, enter applies, esc clears'],
  ['s  S', 'cycle sort column, reverse order'],
  ['enter', 'drill down (agent, work item, trace tree)'],
  ['esc', 'back, or clear the filter'],
  ['r', 'release the selected claim (claims, --allow-write)'],
  ['o', 'mark the selected agent offline (agents, --allow-write)'],
  ['?', 'toggle this help'],
  ['q  ctrl-c', 'quit'],
];

export function HelpOverlay({ width, height }: { width: number; height: number }): ReactElement {
  return (
    <Box flexDirection="column" borderStyle="single" width={Math.min(width, 76)} height={Math.min(height, KEYS.length + 3)} paddingX={1} overflow="hidden">
      <Text bold>Keys (? or esc to close)</Text>
      {KEYS.map(([k, what]) => (
        <Text key={k} wrap="truncate">
          <Text bold>{k.padEnd(16)}</Text>
          {what}
        </Text>
      ))}
    </Box>
  );
}
