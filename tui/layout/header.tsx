import { Text, Box } from 'ink';
import type { ReactElement } from 'react';
import type { ConsoleModel } from '../model/console-model.js';
import type { PanelId } from '../panels/panels.js';
import { PANELS } from '../panels/panels.js';
import { fmtClock } from './format.js';
import type { Tone } from './theme.js';
import { useTone } from './theme.js';

export function connectionText(model: ConsoleModel): { text: string; tone: Tone } {
  const c = model.connection;
  const stale = c.since !== null && model.hasSnapshot ? ` · stale since ${fmtClock(c.since)}` : '';
  switch (c.state) {
    case 'connected': return { text: 'connected', tone: 'ok' };
    case 'connecting': return { text: 'connecting…', tone: 'warn' };
    case 'reconnecting': return { text: `reconnecting…${c.attempt > 1 ? ` (attempt ${c.attempt})` : ''}${stale}`, tone: 'warn' };
    case 'unauthorized': return { text: `unauthorized (check --token / AI_PROCESSOR_TOKEN)${stale}`, tone: 'error' };
  }
}

export interface HeaderProps {
  model: ConsoleModel;
  url: string;
  active: PanelId;
  allowWrite: boolean;
  now: number;
}

export function Header({ model, url, active, allowWrite, now }: HeaderProps): ReactElement {
  const tone = useTone();
  const conn = connectionText(model);
  const sync = !model.hasSnapshot ? { text: 'no state yet', tone: 'dim' as Tone }
    : model.verified ? { text: 'verified', tone: 'ok' as Tone }
    : { text: model.resyncPending ? 'UNVERIFIED, resyncing' : 'UNVERIFIED', tone: 'warn' as Tone };
  return (
    <Box flexDirection="column">
      <Text wrap="truncate">
        <Text bold>ai-console</Text>
        {' '}{url.replace(/^https?:\/\//, '')}{'  '}
        <Text {...tone(conn.tone)}>{conn.text}</Text>
        {'  rev '}{model.revision}{' '}
        <Text {...tone(sync.tone)}>{sync.text}</Text>
        {'  '}{fmtClock(now)}{'  '}
        <Text {...tone(allowWrite ? 'warn' : 'dim')}>{allowWrite ? '[write]' : '[read-only]'}</Text>
      </Text>
      <Text wrap="truncate">
        {PANELS.map((p, i) => (
          <Text key={p.id} inverse={p.id === active} bold={p.id === active}>{` ${i + 1} ${p.title} `}</Text>
        ))}
      </Text>
    </Box>
  );
}
