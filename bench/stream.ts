// Issue 3's figures: latency from an API write to its delta at 10 connected clients, and from an
// external write of work_claims.json to its delta.
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import type { Section } from './report.js';
import { HttpClient } from './http.js';
import { spawnDaemon } from './proc.js';
import { percentile } from './report.js';
import { wsText } from '../client/ws-text.js';

/** Raw clients that note when each work id's delta arrives (before any processing). */
function deltaWatchers(url: string, n: number): Promise<{ arrivals: Map<string, number[]>; close(): void }> {
  const arrivals = new Map<string, number[]>();
  const sockets: WebSocket[] = [];
  return Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<void>((resolve) => {
          const ws = new WebSocket(url.replace('http', 'ws') + '/api/coordination/stream');
          sockets.push(ws);
          ws.on('message', (raw) => {
            const t = performance.now();
            const text = wsText(raw);
            if (!text.startsWith('{"type":"delta"')) return resolve();
            for (const m of text.matchAll(/"key":"([^"]+)"/g)) {
              const list = arrivals.get(m[1]) ?? [];
              list.push(t);
              arrivals.set(m[1], list);
            }
          });
          ws.on('open', () => setTimeout(resolve, 50));
        }),
    ),
  ).then(() => ({ arrivals, close: () => sockets.forEach((s) => s.close()) }));
}

export const streamSection: Section = async (figures, log) => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'aip-bench-stream-'));
  const d = await spawnDaemon({ dataDir, args: ['--lease-ms', '3600000'] });
  const c = new HttpClient(d.url);
  const watchers = await deltaWatchers(d.url, 10);
  // API write → delta: one write at a time, so queueing does not hide the path's own latency.
  const sent = new Map<string, number>();
  for (let i = 0; i < 400; i++) {
    const id = `lat_${i}`;
    sent.set(id, performance.now());
    await c.post('/api/coordination/claim', { work_id: id, agent_id: 'bench_agent' });
  }
  await new Promise((r) => setTimeout(r, 300));
  const apiLat: number[] = [];
  for (const [id, t0] of sent) for (const t of watchers.arrivals.get(id) ?? []) apiLat.push(t - t0);
  apiLat.sort((a, b) => a - b);
  if (apiLat.length < 400 * 10) throw new Error(`only ${apiLat.length} of ${400 * 10} deltas arrived`);
  figures.push({ name: 'api_write_to_delta_p50_ms', value: percentile(apiLat, 50), unit: 'ms', better: 'lower' });
  figures.push({ name: 'api_write_to_delta_p99_ms', value: percentile(apiLat, 99), unit: 'ms', target: 5, better: 'lower' });
  log(`API write → delta (10 clients): p50 ${percentile(apiLat, 50).toFixed(2)} ms, p99 ${percentile(apiLat, 99).toFixed(2)} ms`);

  // External file write → delta: a script-style rewrite (temp file + rename) adding one record.
  await new Promise((r) => setTimeout(r, 500)); // let the daemon's own file write settle
  const file = path.join(dataDir, 'work_claims.json');
  const fileLat: number[] = [];
  for (let i = 0; i < 40; i++) {
    const id = `file_${i}`;
    const records = JSON.parse(readFileSync(file, 'utf8')) as object[];
    records.push({ work_item_id: id, agent_id: null, status: 'pending', work_type: 'external' });
    writeFileSync(file + '.tmp', JSON.stringify(records, null, 2) + '\n');
    const t0 = performance.now();
    renameSync(file + '.tmp', file);
    for (let w = 0; w < 200 && !watchers.arrivals.get(id); w++) await new Promise((r) => setTimeout(r, 5));
    const t = watchers.arrivals.get(id)?.[0];
    if (t === undefined) throw new Error(`external edit ${id} never arrived as a delta`);
    fileLat.push(t - t0);
    await new Promise((r) => setTimeout(r, 150)); // let the daemon rewrite the file before the next edit
  }
  fileLat.sort((a, b) => a - b);
  figures.push({ name: 'file_write_to_delta_p50_ms', value: percentile(fileLat, 50), unit: 'ms', better: 'lower' });
  figures.push({ name: 'file_write_to_delta_p99_ms', value: percentile(fileLat, 99), unit: 'ms', target: 100, better: 'lower' });
  log(`file write → delta: p50 ${percentile(fileLat, 50).toFixed(1)} ms, p99 ${percentile(fileLat, 99).toFixed(1)} ms`);
  watchers.close();
  c.close();
  await d.stop();
};
