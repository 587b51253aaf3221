// The agent CLI: readable lines, --json, and exit codes a shell agent can branch on.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startDaemon, type DaemonHandle } from './helpers/daemon.js';

let d: DaemonHandle;
beforeAll(async () => {
  d = await startDaemon();
});
afterAll(async () => {
  expect(await d.stop()).toBe(0);
});

describe('ai-processor CLI', () => {
  it('claims, progresses and completes with exit 0, readable output and JSON on request', async () => {
    const env = { AGENT_ID: 'cli_agent', AI_PROCESSOR_URL: d.url };
    const reg = await runCli(['register', 'cli_agent', '--team', 'cli_team'], env);
    expect(reg.code).toBe(0);
    expect(reg.stdout).toMatch(/registered cli_agent \(cli_team\)/);
    const claim = await runCli(['claim', 'cli_work', '--type', 'test', '--priority', 'high'], env);
    expect(claim.code).toBe(0);
    expect(claim.stdout).toMatch(/claimed cli_work for cli_agent \(fencing token \d+\)/);
    const prog = await runCli(['progress', 'cli_work', '40', '--json'], env);
    expect(prog.code).toBe(0);
    expect(JSON.parse(prog.stdout).work.progress).toBe(40);
    const done = await runCli(['complete', 'cli_work', '--result', 'ok', '--points', '8'], env);
    expect(done.code).toBe(0);
    expect(done.stdout).toMatch(/cli_work: completed \(8 points\)/);
    const status = await runCli(['status', '--json'], env);
    expect(JSON.parse(status.stdout).state.log).toBeDefined();
  });

  it('exit 1 on conflict, so `claim || next` works', async () => {
    const env = { AI_PROCESSOR_URL: d.url };
    expect((await runCli(['claim', 'contested', '--agent', 'first'], env)).code).toBe(0);
    const second = await runCli(['claim', 'contested', '--agent', 'second'], env);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/work_already_claimed/);
  });

  it('exit 2 on usage errors', async () => {
    const noAgent = await runCli(['claim', 'x', '--url', d.url], { AGENT_ID: undefined });
    expect(noAgent.code).toBe(2);
    expect(noAgent.stderr).toMatch(/--agent/);
    const badNumber = await runCli(['progress', 'x', 'lots', '--agent', 'a', '--url', d.url]);
    expect(badNumber.code).toBe(2);
    expect((await runCli(['frobnicate'])).code).toBe(2);
  });

  it('exit 3 when the daemon is unreachable, with a hint', async () => {
    const r = await runCli(['status', '--url', 'http://127.0.0.1:1']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/cannot reach ai-processor/);
  });

  it('--help and --version exit 0', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/claim/);
    const version = await runCli(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('start refuses a non-loopback host without a token, and bad config values, with exit 2 and a message', async () => {
    const r = await runCli(['start', '--host', '0.0.0.0', '--port', '0', '--data-dir', d.dataDir + '-other']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/token/);
    const bad = await runCli(['start', '--lease-ms', 'soon']);
    expect(bad.code).toBe(2);
  });

  it('a second daemon on the same data dir refuses to start', async () => {
    const r = await runCli(['start', '--port', '0', '--data-dir', d.dataDir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/in use by another ai-processor/);
  });
});
