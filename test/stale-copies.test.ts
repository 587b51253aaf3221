// Read-modify-write by real shell scripts (bash + jq, test/fixtures/scripts/stale-copy.sh), with and
// without the lock, racing acknowledged API writes: a stale copy never reverts or deletes what it
// did not see, a change on both sides is kept and recorded as a conflict, and a deletion from a copy
// of the current file is honoured as an ordinary change. Never a silent loss either way.
import { afterEach, describe, expect, it } from 'vitest';
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import { StreamClient } from '../client/stream-client.js';
import type { DeltaMessage } from '../shared/protocol.js';
import { ROOT, startDaemon, tempDir, type DaemonHandle } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';
import { wsText } from '../client/ws-text.js';

const run = promisify(execFile);
const SCRIPT = path.join(ROOT, 'test/fixtures/scripts/stale-copy.sh');
const POLL = { timeout: 15_000, interval: 100 };

function hasJq(): boolean {
  try {
    execFileSync('jq', ['--version']);
    return true;
  } catch {
    if (process.env.REQUIRE_SYSTEM_TOOLS === '1') throw new Error('jq is required (REQUIRE_SYSTEM_TOOLS=1)');
    console.warn('skipping stale-copy tests: jq is not installed');
    return false;
  }
}

let d: DaemonHandle | null = null;
let c: HttpClient | null = null;
afterEach(async () => {
  c?.close();
  c = null;
  await d?.stop();
  d = null;
});

type Rec = Record<string, unknown>;
const fileOf = (dir: string) => path.join(dir, 'work_claims.json');

function onDisk(dir: string): Rec[] {
  try {
    return JSON.parse(readFileSync(fileOf(dir), 'utf8')) as Rec[];
  } catch {
    return [];
  }
}

/** Polls work_claims.json until `check` holds for the record `id` (undefined when absent). */
async function fileShows(dir: string, id: string, check: (r: Rec | undefined) => boolean): Promise<void> {
  await expect.poll(() => check(onDisk(dir).find((r) => r.work_item_id === id)), POLL).toBe(true);
}

async function work(id: string): Promise<Rec | undefined> {
  return (await c!.get(`/api/coordination/status`)).body.state.work[id]?.data as Rec | undefined;
}

async function ok(p: Promise<{ status: number; body: unknown }>): Promise<void> {
  const res = await p;
  expect(res.status, JSON.stringify(res.body)).toBe(200);
}

const readCopy = (dir: string, copy: string) => run('bash', [SCRIPT, 'read', fileOf(dir), copy]);
const writeCopy = (dir: string, copy: string, filter: string, mode: string) => run('bash', [SCRIPT, 'write', fileOf(dir), copy, filter, mode]);

describe.runIf(hasJq()).each(['lock', 'nolock'] as const)('a script writing back its copy of work_claims.json (%s)', (mode) => {
  it('a stale copy of a changed record: its change is merged, the acknowledged progress stays', async () => {
    d = await startDaemon({ args: ['--lease-ms', '3600000'] });
    c = new HttpClient(d.url);
    await ok(c.post('/api/coordination/claim', { work_id: 'w1', agent_id: 'agent_1' }));
    await fileShows(d.dataDir, 'w1', (r) => r?.status === 'claimed');
    const copy = path.join(tempDir('aip-copy-'), 'copy.json');
    await readCopy(d.dataDir, copy);
    await ok(c.post('/api/coordination/progress', { work_id: 'w1', agent_id: 'agent_1', progress: 30 }));
    const acknowledged = (await work('w1'))!;
    expect(acknowledged.progress).toBe(30);
    await fileShows(d.dataDir, 'w1', (r) => r?.progress === 30); // the daemon wrote it: the copy is now stale
    await writeCopy(d.dataDir, copy, 'map(if .work_item_id == "w1" then .reviewer = "shell" else . end)', mode);
    await expect.poll(async () => (await work('w1'))?.reviewer, POLL).toBe('shell');
    const after = (await work('w1'))!;
    expect(after.progress).toBe(30);
    expect(after.status).toBe(acknowledged.status);
    expect(after.last_update).toBe(acknowledged.last_update);
    expect(after.merge_conflicts).toBeUndefined(); // nothing was changed on both sides
    await fileShows(d.dataDir, 'w1', (r) => r?.progress === 30 && r?.reviewer === 'shell');
  });

  it('a field changed on both sides: the acknowledged value is kept and the other recorded in merge_conflicts', async () => {
    d = await startDaemon({ args: ['--lease-ms', '3600000'] });
    c = new HttpClient(d.url);
    const sc = new StreamClient({ url: d.url }).start();
    const conflicts: unknown[] = [];
    sc.on('event', (e: { event: string; detail: unknown }) => e.event === 'merge_conflict' && conflicts.push(e.detail));
    await ok(c.post('/api/coordination/claim', { work_id: 'w2', agent_id: 'agent_1' }));
    await fileShows(d.dataDir, 'w2', (r) => r?.status === 'claimed');
    const copy = path.join(tempDir('aip-copy-'), 'copy.json');
    await readCopy(d.dataDir, copy);
    await ok(c.post('/api/coordination/progress', { work_id: 'w2', agent_id: 'agent_1', progress: 30 }));
    await fileShows(d.dataDir, 'w2', (r) => r?.progress === 30);
    await writeCopy(d.dataDir, copy, 'map(if .work_item_id == "w2" then .progress = 70 | .reviewer = "shell" else . end)', mode);
    await expect.poll(async () => (await work('w2'))?.reviewer, POLL).toBe('shell');
    const after = (await work('w2'))!;
    expect(after.progress).toBe(30);
    expect(after.merge_conflicts).toEqual([expect.objectContaining({ field: 'progress', kept: 30, other: 70, source: 'file' })]);
    await expect.poll(() => conflicts.length, POLL).toBe(1);
    // The log line and the stream event travel separately: wait for the line, then check it.
    const edits = () => d!.logs.filter((l) => l.includes('picked up external edit')).map((l) => JSON.parse(l) as { conflicts: number });
    await expect.poll(() => edits().length, POLL).toBeGreaterThan(0);
    expect(edits().map((e) => e.conflicts)).toEqual([1]);
    sc.stop();
  });

  it("a stale copy missing a record added since: the record is kept, the copy's own change taken", async () => {
    d = await startDaemon({ args: ['--lease-ms', '3600000'] });
    c = new HttpClient(d.url);
    await ok(c.post('/api/coordination/claim', { work_id: 'old', agent_id: 'agent_1' }));
    await fileShows(d.dataDir, 'old', (r) => r !== undefined);
    const copy = path.join(tempDir('aip-copy-'), 'copy.json');
    await readCopy(d.dataDir, copy);
    await ok(c.post('/api/coordination/claim', { work_id: 'new', agent_id: 'agent_2' }));
    await fileShows(d.dataDir, 'new', (r) => r !== undefined);
    await writeCopy(d.dataDir, copy, 'map(if .work_item_id == "old" then .note = "from the copy" else . end)', mode);
    // The edit was processed (its change is in), and the record the copy never saw is still there.
    await expect.poll(async () => (await work('old'))?.note, POLL).toBe('from the copy');
    expect((await work('new'))?.agent_id).toBe('agent_2');
    await fileShows(d.dataDir, 'new', (r) => r?.agent_id === 'agent_2');
  });

  it('a stale copy put back unchanged (the bytes of an earlier write) deletes nothing', async () => {
    d = await startDaemon({ args: ['--lease-ms', '3600000'] });
    c = new HttpClient(d.url);
    await ok(c.post('/api/coordination/claim', { work_id: 'old', agent_id: 'agent_1' }));
    await fileShows(d.dataDir, 'old', (r) => r !== undefined);
    const copy = path.join(tempDir('aip-copy-'), 'copy.json');
    await readCopy(d.dataDir, copy);
    await ok(c.post('/api/coordination/claim', { work_id: 'new', agent_id: 'agent_2' }));
    await fileShows(d.dataDir, 'new', (r) => r !== undefined);
    await writeCopy(d.dataDir, copy, '.', mode);
    expect(onDisk(d.dataDir).some((r) => r.work_item_id === 'new')).toBe(false); // the copy is in place
    // Processed: the daemon puts the record back into the file; the state never lost it.
    await fileShows(d.dataDir, 'new', (r) => r?.agent_id === 'agent_2');
    expect((await work('new'))?.agent_id).toBe('agent_2');
  });

  it('a copy of the current file with a record removed: the deletion is honoured, streamed, logged, journaled', async () => {
    d = await startDaemon({ args: ['--lease-ms', '3600000'] });
    c = new HttpClient(d.url);
    for (const id of ['r1', 'r2', 'r3']) await ok(c.post('/api/coordination/claim', { work_id: id, agent_id: 'agent_1' }));
    await fileShows(d.dataDir, 'r3', (r) => r !== undefined);
    await fileShows(d.dataDir, 'r1', (r) => r !== undefined);
    const before = (await c.get('/api/coordination/status')).body.revision as number;
    const copy = path.join(tempDir('aip-copy-'), 'copy.json');
    await readCopy(d.dataDir, copy);
    await writeCopy(d.dataDir, copy, 'map(select(.work_item_id != "r3"))', mode);
    await expect.poll(async () => Boolean(await work('r3')), POLL).toBe(false);
    expect((await work('r1'))?.agent_id).toBe('agent_1');
    expect((await work('r2'))?.agent_id).toBe('agent_1');
    const status = (await c.get('/api/coordination/status')).body;
    expect(status.revision).toBe(before + 1);
    // The state shows the deletion once applied; the log line follows once it is durable.
    const edited = () => d!.logs.filter((l) => l.includes('picked up external edit')).map((l) => JSON.parse(l) as { changes: number; conflicts: number });
    await expect.poll(() => edited().length, POLL).toBeGreaterThan(0);
    expect(edited()).toEqual([expect.objectContaining({ changes: 1, conflicts: 0 })]);
    // Journaled: after a restart, a stream resuming at `before` replays it (cause: the file).
    const dir = d.dataDir;
    c.close();
    expect(await d.stop()).toBe(0);
    d = await startDaemon({ dataDir: dir, args: ['--lease-ms', '3600000'] });
    c = new HttpClient(d.url);
    expect(await work('r3')).toBeUndefined();
    const ws = new WebSocket(`${d.url.replace('http', 'ws')}/api/coordination/stream?since=${before}`);
    const messages: Array<{ type: string; revision?: number; cause?: DeltaMessage['cause']; changes?: DeltaMessage['changes'] }> = [];
    ws.on('message', (m) => messages.push(JSON.parse(wsText(m))));
    await expect.poll(() => messages.some((m) => m.type === 'replayed'), POLL).toBe(true);
    ws.close();
    const replayed = messages.filter((m) => m.type === 'delta');
    expect(replayed.map((m) => [m.revision, m.cause?.op, m.changes])).toEqual([[before + 1, 'external_edit', [{ section: 'work', key: 'r3', op: 'del' }]]]);
    // The deletion stays: a later write of the file does not bring it back.
    await ok(c.post('/api/coordination/claim', { work_id: 'r4', agent_id: 'agent_1' }));
    await fileShows(dir, 'r4', (r) => r !== undefined);
    expect(onDisk(dir).map((r) => r.work_item_id)).toEqual(['r1', 'r2', 'r4']);
  });
});
