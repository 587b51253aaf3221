import { Text, Box } from 'ink';
import type { ReactElement } from 'react';
import type { StatsResponse } from '../../shared/protocol.js';
import type { ConsoleModel } from '../model/console-model.js';
import type { PanelId } from '../panels/panels.js';
import { PANELS } from '../panels/panels.js';
import { NEEDS_INPUT } from '../model/sessions.js';
import { graphCounts } from '../model/graph-selectors.js';
import { fmtClock, fmtUsd } from './format.js';
import type { Tone } from './theme.js';
import { useTone } from './theme.js';

export function connectionText(model: ConsoleModel): { text: string; tone: Tone } {
  const c = model.connection;
  const stale = c.since !== null && model.hasSnapshot ? ` · stale since ${fmtClock(c.since)}` : '';
  switch (c.state) {
    case 'connected':
      return { text: 'connected', tone: 'ok' };
    case 'connecting':
      return { text: 'connecting…', tone: 'warn' };
    case 'reconnecting':
      return { text: `reconnecting…${c.attempt > 1 ? ` (attempt ${c.attempt})` : ''}${stale}`, tone: 'warn' };
    case 'unauthorized':
      return { text: `unauthorized (check --token / AI_PROCESSOR_TOKEN)${stale}`, tone: 'error' };
  }
}

export interface FleetPart {
  text: string;
  tone?: Tone;
}

/**
 * The fleet at a glance: sessions waiting for a human (marked, first), working, idle, the fleet's
 * cost since 00:00 UTC (from /api/stats), agents over budget, then the other statuses by count.
 */
export function fleetParts(model: ConsoleModel): FleetPart[] {
  if (!model.hasSnapshot) return [{ text: 'fleet: waiting for the state', tone: 'dim' }];
  const s = model.statuses;
  const waiting = s.count(NEEDS_INPUT);
  const usage = (model.stats as { usage?: StatsResponse['usage'] } | null)?.usage;
  const parts: FleetPart[] = [
    { text: `fleet: ${s.snapshot().agents} agents` },
    waiting ? { text: `! ${waiting} needs input`, tone: 'attention' } : { text: '0 needs input', tone: 'dim' },
    { text: `${s.count('working')} working`, tone: s.count('working') ? 'ok' : 'dim' },
    { text: `${s.count('idle')} idle`, tone: s.count('idle') ? undefined : 'dim' },
    { text: `cost today ${usage ? fmtUsd(usage.fleet.cost_today_usd) : '-'}` },
  ];
  if (usage?.over_budget) parts.push({ text: `! ${usage.over_budget} over budget`, tone: 'error' });
  const others = [...s.snapshot().byStatus].filter(([st]) => st !== NEEDS_INPUT && st !== 'working' && st !== 'idle').sort((a, b) => b[1] - a[1]);
  for (const [st, n] of others) parts.push({ text: `${n} ${st || 'no status'}`, tone: 'dim' });
  return parts;
}

/** The work graph after the fleet: items ready to claim, and those blocked by a failed prerequisite. */
export function workParts(model: ConsoleModel): FleetPart[] {
  if (!model.hasSnapshot) return [];
  const g = graphCounts(model.state, model.version);
  return [{ text: `work: ${g.ready} ready`, tone: g.ready ? 'ok' : 'dim' }, ...(g.blocked ? [{ text: `! ${g.blocked} blocked`, tone: 'error' as Tone }] : [])];
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
  const sync = !model.hasSnapshot
    ? { text: 'no state yet', tone: 'dim' as Tone }
    : model.verified
      ? { text: 'verified', tone: 'ok' as Tone }
      : { text: model.resyncPending ? 'UNVERIFIED, resyncing' : 'UNVERIFIED', tone: 'warn' as Tone };
  return (
    <Box flexDirection="column">
      <Text wrap="truncate">
        <Text bold>ai-console</Text> {url.replace(/^https?:\/\//, '')}
        {'  '}
        <Text {...tone(conn.tone)}>{conn.text}</Text>
        {'  rev '}
        {model.revision} <Text {...tone(sync.tone)}>{sync.text}</Text>
        {'  '}
        {fmtClock(now)}
        {'  '}
        <Text {...tone(allowWrite ? 'warn' : 'dim')}>{allowWrite ? '[write]' : '[read-only]'}</Text>
      </Text>
      <Text wrap="truncate">
        {fleetParts(model).map((part, i) => (
          <Text key={i} {...tone(part.tone)}>
            {(i > 1 ? ' · ' : i === 1 ? '  ' : '') + part.text}
          </Text>
        ))}
        {workParts(model).map((part, i) => (
          <Text key={`w${i}`} {...tone(part.tone)}>
            {(i > 0 ? ' · ' : '  ') + part.text}
          </Text>
        ))}
      </Text>
      <Text wrap="truncate">
        {PANELS.map((p, i) => (
          <Text key={p.id} inverse={p.id === active} bold={p.id === active}>{` ${i + 1} ${p.title} `}</Text>
        ))}
      </Text>
    </Box>
  );
}
