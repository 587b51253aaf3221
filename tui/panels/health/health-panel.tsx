import { Box, Text } from 'ink';
import type { ReactElement } from 'react';
import type { StatsResponse } from '../../../shared/protocol.js';
import type { ConsoleModel } from '../../model/console-model.js';
import { fmtAge, fmtBytes, fmtClock, fmtMs } from '../../layout/format.js';
import { connectionText } from '../../layout/header.js';
import type { Column } from '../../layout/table.js';
import { Table } from '../../layout/table.js';
import type { Tone } from '../../layout/theme.js';
import { useTone } from '../../layout/theme.js';
import { PanelTitle } from '../../layout/title.js';

type Service = StatsResponse['services'][number];
const SERVICE_TONE: Record<Service['status'], Tone> = { up: 'ok', down: 'error', slow: 'warn', unknown: 'dim' };

const SERVICE_COLUMNS: Column<Service>[] = [
  { title: 'SERVICE', width: 14, min: 8, get: (s) => s.name },
  { title: 'STATUS', width: 7, get: (s) => s.status, tone: (s) => SERVICE_TONE[s.status] },
  { title: 'LATENCY', width: 8, align: 'right', get: (s) => fmtMs(s.latency_ms) },
  { title: 'URL', width: 28, min: 10, get: (s) => s.url },
  { title: 'LAST ERROR', width: 20, min: 0, grow: true, get: (s) => s.last_error ?? '-' },
];

const nsClock = (ns: string): string => (/^\d{7,}$/.test(ns) ? fmtClock(Number(ns.slice(0, -6))) : '--:--:--');

/** The reasons behind the sync failures, as state_sync_failures_total has them: " (gap 2, slow_client 1)". */
function failureReasons(sync: StatsResponse['sync']): string {
  const parts = Object.entries(sync.sync_failures_by_reason ?? {})
    .filter(([, n]) => n > 0)
    .map(([r, n]) => `${r} ${n}`);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

function Row({ label, children }: { label: string; children: ReactElement | string | (ReactElement | string)[] }): ReactElement {
  return (
    <Text wrap="truncate">
      <Text bold>{label.padEnd(10)}</Text>
      {children}
    </Text>
  );
}

export function HealthPanel({
  model,
  url,
  now,
  width,
  height,
}: {
  model: ConsoleModel;
  url: string;
  now: number;
  width: number;
  height: number;
}): ReactElement {
  const tone = useTone();
  const s = model.stats;
  const conn = connectionText(model);
  const ago = (t: number | null): string => (t === null ? 'never' : `${fmtAge(Math.max(0, now - t))} ago`);
  const services = s?.services ?? [];
  const events = model.events.toArray().slice(-3).reverse();
  const fixed = 9 + (events.length ? events.length + 1 : 0);
  return (
    <Box flexDirection="column">
      <PanelTitle title="Health" extra={model.statsError ? `stats error: ${model.statsError}` : `stats ${ago(model.statsAt)}`} />
      <Row label="Daemon">
        {url} <Text {...tone(conn.tone)}>{conn.text}</Text>
        {` · last message ${ago(model.lastMessageAt)}`}
      </Row>
      <Row label="">
        {s ? `up ${fmtAge(s.uptime_s * 1000)} · rss ${fmtBytes(s.rss_bytes)} · lease ${fmtAge(s.lease_ms)} · daemon revision ${s.revision}` : 'no stats yet'}
      </Row>
      <Row label="Sync">
        {`revision ${model.revision} · checksum verified `}
        <Text {...tone(model.verified ? 'ok' : 'warn')}>{model.verified ? 'yes' : 'no'}</Text>
        {` · resyncs ${model.resyncCount}${model.resyncPending ? ` (pending: ${model.resyncPending})` : ''}`}
      </Row>
      <Row label="">
        {s ? `stream clients ${s.sync.clients} · sync failures ${s.sync.sync_failures}${failureReasons(s.sync)} · last file error: ` : 'last file error: '}
        <Text {...tone(s?.sync.last_file_error ? 'error' : undefined)}>{s ? (s.sync.last_file_error ?? 'none') : '-'}</Text>
      </Row>
      <Row label="Analyzer">
        {s ? `mode ${s.analyzer.mode} · running ${s.analyzer.running} · queued ${s.analyzer.queued} · last outcome ${s.analyzer.last_outcome ?? '-'}` : '-'}
      </Row>
      <Row label="">{`command ${s?.analyzer.command ?? '-'}`}</Row>
      <Text bold>Services</Text>
      <Table
        columns={SERVICE_COLUMNS}
        rows={services}
        rowKey={(x) => x.name}
        selected={-1}
        width={width}
        height={Math.max(2, Math.min(services.length + 1, height - fixed))}
        empty={s ? 'no dependent services configured' : 'waiting for /api/stats…'}
      />
      {events.length ? <Text bold>Recent events</Text> : null}
      {events.map((e, i) => (
        <Text key={i} wrap="truncate">{`  ${nsClock(e.timestamp_ns)} ${e.event} ${JSON.stringify(e.detail)}`}</Text>
      ))}
    </Box>
  );
}
