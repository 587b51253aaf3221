// `ai-processor simulate` against a real daemon with a short lease: the fleet must really register,
// claim, complete (and log) work through the API, and its silent agents must lose their claims to
// the daemon's lease sweeper.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../client/api.js';
import type { StatusResponse } from '../shared/protocol.js';
import type { SimulateSummary } from '../cli/simulate.js';
import { CLI, runCli, startDaemon, type DaemonHandle } from './helpers/daemon.js';

const AGENTS = 8;

describe('ai-processor simulate', () => {
  let daemon: DaemonHandle;
  let summary: SimulateSummary;
  let run: { code: number | null; stdout: string; stderr: string };

  beforeAll(async () => {
    daemon = await startDaemon({ args: ['--lease-ms', '1000'] });
    run = await runCli(['simulate', '--url', daemon.url, '--agents', String(AGENTS), '--rate', '40', '--duration', '5', '--seed', '11', '--silence-rate', '0.15', '--json']);
    summary = JSON.parse(run.stdout) as SimulateSummary;
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  it('exits 0 with a JSON summary of what it did', () => {
    expect(run.code, run.stderr).toBe(0);
    expect(summary.agents).toBe(AGENTS);
    expect(summary.seed).toBe(11);
    expect(summary.lease_ms).toBe(1000); // learnt from the daemon
    expect(summary.errors).toBe(0);
    expect(summary.ops).toBe(summary.ok + summary.conflicts + summary.errors);
    const perOp = Object.values(summary.by_op).reduce((n, c) => n + c.ok + c.conflict + c.error, 0);
    expect(perOp).toBe(summary.ops);
    expect(summary.registered).toBe(AGENTS);
    expect(summary.claims).toBeGreaterThan(0);
    expect(summary.completed).toBeGreaterThan(0);
    expect(summary.silences).toBeGreaterThan(0);
  });

  it('registered its agents and claimed work through the real API', async () => {
    const api = new ApiClient({ url: daemon.url });
    const agents = (await api.get<{ agents: { agent_id: string; team: string }[] }>('/api/agents')).body.agents;
    const ids = agents.map((a) => a.agent_id).filter((id) => id.startsWith('sim_agent_')).sort();
    expect(ids).toEqual(Array.from({ length: AGENTS }, (_, i) => `sim_agent_${i + 1}`));
    const status = (await api.get<StatusResponse>('/api/coordination/status')).body;
    const work = Object.values(status.state.work).map((e) => e.data);
    // Every item went through a claim: it carries a fencing token and a claimed_at.
    const claimed = work.filter((w) => typeof w.fencing_token === 'number');
    expect(claimed.length).toBeGreaterThan(0);
    expect(claimed.length).toBeLessThanOrEqual(summary.claims);
    expect(work.filter((w) => w.status === 'completed').length).toBe(summary.completed);
    expect(work.filter((w) => w.status === 'failed').length).toBe(summary.failed);
  });

  it('logged every completion in the coordination log', async () => {
    const status = (await new ApiClient({ url: daemon.url }).get<StatusResponse>('/api/coordination/status')).body;
    const log = Object.values(status.state.log).map((e) => e.data);
    expect(log.length).toBe(summary.completed + summary.failed);
    for (const entry of log) {
      expect(entry.agent_id).toMatch(/^sim_agent_\d+$/);
      expect(entry.work_item_id).toMatch(/^sim_work_/);
    }
    expect(log.filter((e) => e.result === 'success').length).toBe(summary.completed);
  });

  it('let at least one silent agent\'s lease expire', async () => {
    const expiries = daemon.logs.filter((l) => l.includes('lease expired')).map((l) => JSON.parse(l) as { agent_id: string; work_ids: string[] });
    expect(expiries.length).toBeGreaterThan(0);
    for (const e of expiries) {
      expect(e.agent_id).toMatch(/^sim_agent_\d+$/);
      expect(e.work_ids.length).toBeGreaterThan(0);
    }
    // The released items say why, in the state the console shows.
    const status = (await new ApiClient({ url: daemon.url }).get<StatusResponse>('/api/coordination/status')).body;
    const released = Object.values(status.state.work).filter((e) => e.data.release_reason === 'lease_expired');
    expect(released.length).toBeGreaterThan(0);
  });

  it('stops on SIGTERM and still prints its summary', async () => {
    const child = spawn(process.execPath, [CLI, 'simulate', '--url', daemon.url, '--agents', '3', '--rate', '20', '--prefix', 'sigterm'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    // Stop once it has surely made requests: its agents appear in the daemon.
    const api = new ApiClient({ url: daemon.url });
    for (let i = 0; i < 100; i++) {
      const agents = (await api.get<{ agents: { agent_id: string }[] }>('/api/agents')).body.agents;
      if (agents.some((a) => a.agent_id.startsWith('sigterm_agent_'))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    expect(code).toBe(0);
    expect(out).toMatch(/simulated 3 agents for [\d.]+ s against/);
    expect(out).toMatch(/ops [1-9]\d* .* conflicts \d+ {2}errors \d+/);
  });

  it('refuses bad flags (2) and an unreachable daemon (3)', async () => {
    expect((await runCli(['simulate', '--agents', '0'])).code).toBe(2);
    expect((await runCli(['simulate', '--silence-rate', '2'])).code).toBe(2);
    const down = await runCli(['simulate', '--url', 'http://127.0.0.1:9', '--duration', '1']);
    expect(down.code).toBe(3);
    expect(down.stderr).toContain('cannot reach ai-processor');
  });
});
