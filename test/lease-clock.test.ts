// Leases follow the monotonic clock, not the wall clock. The real daemon runs under libfaketime
// (apt-get install -y faketime), whose control file steps the process's wall clock while it runs;
// its monotonic clock is left alone, as a real clock step (NTP, an operator's `date -s`) leaves it.
// A step forward of 2 h must not expire an agent that heartbeated seconds ago, and a step back of
// 1 h must not let a silent agent keep its claim for an hour.
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, tempDir, type DaemonHandle } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';
import { requireTool } from './helpers/system-tools.js';

const LIB_DIRS = ['/usr/lib/x86_64-linux-gnu/faketime', '/usr/lib/aarch64-linux-gnu/faketime', '/usr/lib/faketime', '/usr/local/lib/faketime'];

/** libfaketime's multi-threaded build (node runs threads), or null with a printed reason / an error under REQUIRE_SYSTEM_TOOLS=1. */
function faketimeLib(): string | null {
  if (!requireTool('faketime')) return null;
  const lib = LIB_DIRS.map((d) => path.join(d, 'libfaketimeMT.so.1')).find((f) => existsSync(f)) ?? null;
  if (lib) return lib;
  const reason = `faketime is installed but libfaketimeMT.so.1 is in none of ${LIB_DIRS.join(', ')}`;
  if (process.env.REQUIRE_SYSTEM_TOOLS === '1') throw new Error(`REQUIRE_SYSTEM_TOOLS=1 but ${reason}`);
  console.warn(`[skip] ${reason}`);
  return null;
}

const LIB = faketimeLib();
/** The daemon's default lease: long against the marker claims, so a sweep's pace cannot matter. */
const LEASE_MS = 20_000;
const HOUR = 3_600_000;

let d: DaemonHandle;
let c: HttpClient;
let control: string;

/** Steps the daemon's wall clock to `offset` (libfaketime syntax, relative to the real clock). */
function stepClock(offset: string): void {
  writeFileSync(control, offset + '\n');
}

/** The daemon's wall clock minus ours (ms), read from a record stamp of an agent that holds nothing. */
async function daemonClockOffset(): Promise<number> {
  const r = await c.post('/api/agents/clock_probe/heartbeat', {});
  expect(r.status).toBe(200);
  return Date.parse(r.body.agent.last_heartbeat) - Date.now();
}

async function holder(workId: string): Promise<string | null> {
  const r = await c.get(`/api/work/${workId}`);
  expect(r.status).toBe(200);
  return r.body.work.agent_id;
}

describe.skipIf(!LIB)('leases under wall-clock steps (libfaketime)', () => {
  beforeAll(async () => {
    const dir = tempDir('aip-clock-');
    control = path.join(tempDir('aip-clock-ctl-'), 'faketime');
    stepClock('+0');
    d = await startDaemon({
      dataDir: dir,
      args: ['--lease-ms', String(LEASE_MS)],
      env: {
        AI_PROCESSOR_SERVICES: '[]',
        LD_PRELOAD: LIB!,
        FAKETIME_TIMESTAMP_FILE: control,
        FAKETIME_NO_CACHE: '1', // read the control file at every clock call: a step takes effect at once
        FAKETIME_DONT_FAKE_MONOTONIC: '1',
        NO_FAKE_STAT: '1', // file times stay real: only the clock steps
      },
    });
    c = new HttpClient(d.url);
    expect((await c.post('/api/agents', { agent_id: 'clock_probe' })).status).toBe(201);
    expect(Math.abs(await daemonClockOffset())).toBeLessThan(60_000); // not stepped yet
  });
  afterAll(async () => {
    c?.close();
    if (d) expect(await d.stop()).toBe(0);
  });

  it('a step forward of 2 h does not expire an agent that heartbeated just before', async () => {
    expect((await c.post('/api/coordination/claim', { work_id: 'fwd_kept', agent_id: 'live_agent' })).status).toBe(200);
    expect((await c.post('/api/agents/live_agent/heartbeat', {})).status).toBe(200);
    stepClock('+2h');
    await expect.poll(daemonClockOffset, { timeout: 10_000, interval: 100 }).toBeGreaterThan(1.9 * HOUR);
    // A silent marker with a short lease of its own, claimed after the step: once the sweeper has
    // released it, it has run for seconds on the stepped clock. The live agent's lease (20 s of
    // monotonic time from its heartbeat) still runs.
    const marker = await c.post('/api/coordination/claim', { work_id: 'fwd_marker', agent_id: 'marker_agent', lease_ms: 2000 });
    expect(marker.status).toBe(200);
    await expect.poll(() => holder('fwd_marker'), { timeout: 15_000, interval: 100 }).toBeNull();
    expect(await holder('fwd_kept')).toBe('live_agent');
    await expect
      .poll(() => d.logs.filter((l) => l.includes('lease expired')).map((l) => JSON.parse(l).agent_id), { timeout: 10_000 })
      .toEqual(['marker_agent']);
    // The answer's wall-clock deadline is on the daemon's (stepped) clock, a lease from now.
    const hb = await c.post('/api/agents/live_agent/heartbeat', {});
    const left = Date.parse(hb.body.lease_expires_at) - Date.parse(hb.body.agent.last_heartbeat);
    expect(left).toBeGreaterThan(LEASE_MS - 2000);
    expect(left).toBeLessThan(LEASE_MS + 2000);
    expect((await c.post('/api/coordination/complete', { work_id: 'fwd_kept', agent_id: 'live_agent' })).status).toBe(200);
  });

  it('a step back of 1 h does not let a silent agent keep its claim for an hour', async () => {
    const claimed = await c.post('/api/coordination/claim', { work_id: 'back_item', agent_id: 'silent_agent', lease_ms: 3000 });
    expect(claimed.status).toBe(200);
    stepClock('+1h'); // from +2h: one hour back
    await expect.poll(daemonClockOffset, { timeout: 10_000, interval: 100 }).toBeLessThan(1.1 * HOUR);
    // Released after its 3 s of monotonic time (well within the wait), not an hour later.
    await expect.poll(() => holder('back_item'), { timeout: 30_000, interval: 100 }).toBeNull();
    const work = (await c.get('/api/work/back_item')).body.work;
    expect(work.release_reason).toBe('lease_expired');
    expect(work.previous_agent_id).toBe('silent_agent');
  });
});
