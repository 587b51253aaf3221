// The console's write actions against a real daemon, in a real terminal (tmux): `r` releases the selected
// claim and `o` marks the selected agent offline, each after a y/n confirmation, and the daemon's API shows
// the effect (an operator release is recorded with reason released_by_operator).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../client/api.js';
import { CONSOLE_CLI, startDaemon, type DaemonHandle } from './helpers/daemon.js';
import { requireTool } from './helpers/system-tools.js';
import { Terminal } from './helpers/terminal.js';

const HAS_TMUX = requireTool('tmux');
const term = new Terminal('aic-write');
const SESSION = term.session;
const tmux = (...args: string[]): string => term.tmux(...args);
const keys = (...k: string[]): void => term.keys(...k);
const waitFor = <T>(probe: () => T | undefined | Promise<T | undefined>, what: string): Promise<T> => term.waitFor(probe, what);
const waitForScreen = (pred: (s: string) => boolean, what: string): Promise<string> => term.waitForScreen(pred, what);

/** The table row of an id (not the header line, which may show the same id as the filter). */
const rowOf = (s: string, id: string): string => s.split('\n').find((l) => l.startsWith(`> ${id} `) || l.startsWith(`  ${id} `)) ?? '';
/** The selected table row: the one drawn with the "> " gutter. */
const selectedRow = (s: string): string => s.split('\n').find((l) => l.startsWith('> ')) ?? '';

/** Switches to a panel and filters it to one id, waiting for each step to show (keys sent in one burst could arrive as one chunk). */
async function filterTo(panelKey: string, title: string, id: string): Promise<void> {
  keys(panelKey);
  await waitForScreen((x) => x.includes(title), title);
  keys('/');
  await waitForScreen((x) => x.includes('/_'), 'the filter prompt');
  for (const ch of id) keys(ch);
  await waitForScreen((x) => x.includes(`/${id}_`), `the typed filter ${id}`);
  keys('Enter');
}

type Work = Record<string, unknown>;

describe.skipIf(!HAS_TMUX)('ai-console write actions (--allow-write) against a real daemon', () => {
  let daemon: DaemonHandle;
  let api: ApiClient;
  const work = async (id: string): Promise<Work> => {
    const r = await api.get<{ work: Work }>(`/api/work/${id}`);
    expect(r.status).toBe(200);
    return r.body.work;
  };
  const agent = async (id: string): Promise<Work> => {
    const r = await api.get<{ agent: Work }>(`/api/agents/${id}`);
    expect(r.status).toBe(200);
    return r.body.agent;
  };

  beforeAll(async () => {
    daemon = await startDaemon({ args: ['--lease-ms', '600000'] });
    api = new ApiClient({ url: daemon.url });
    for (const id of ['wr_agent_1', 'wr_agent_2']) expect((await api.post('/api/agents', { agent_id: id, team: 'backend' })).status).toBe(201);
    for (const [w, a] of [
      ['work_wr_1', 'wr_agent_1'],
      ['work_wr_2', 'wr_agent_1'],
      ['work_wr_3', 'wr_agent_2'],
    ]) {
      expect((await api.post('/api/coordination/claim', { work_id: w, agent_id: a, work_type: 'bug_fix' })).status).toBe(200);
    }
    const cmd =
      `env -u AI_PROCESSOR_TOKEN -u AI_PROCESSOR_URL ${JSON.stringify(process.execPath)} ${JSON.stringify(CONSOLE_CLI)} --url ${daemon.url} --allow-write; ` +
      `echo CONSOLE_EXITED=$?; sleep 60`;
    tmux('new-session', '-d', '-s', SESSION, '-x', '100', '-y', '30', cmd);
    await waitForScreen((s) => s.includes('wr_agent_2') && s.includes('verified'), 'the first frame');
  });

  afterAll(async () => {
    term.close();
    await daemon?.stop('SIGKILL');
  });

  it('r asks first; n cancels and the claim stays held', async () => {
    await filterTo('2', 'Claims / work', 'work_wr_2');
    await waitForScreen((x) => selectedRow(x).includes('work_wr_2') && !x.includes('work_wr_1'), 'work_wr_2 alone and selected');
    keys('r');
    await waitForScreen((x) => x.includes('Release work_wr_2 held by wr_agent_1?'), 'the release question');
    keys('n');
    const s = await waitForScreen((x) => x.includes('cancelled'), '"cancelled"');
    expect(rowOf(s, 'work_wr_2')).toContain('wr_agent_1');
    const w = await work('work_wr_2');
    expect(w.agent_id).toBe('wr_agent_1');
    expect(w.status).not.toBe('released');
  });

  it('r then y releases the selected claim as the operator, and only that one', async () => {
    keys('r');
    await waitForScreen((x) => x.includes('Release work_wr_2 held by wr_agent_1?'), 'the release question');
    keys('y');
    const w = await waitFor(async () => {
      const d = await work('work_wr_2');
      return d.status === 'released' ? d : undefined;
    }, 'work_wr_2 released in the daemon');
    expect(w.release_reason).toBe('released_by_operator');
    expect(w.agent_id).toBeNull();
    expect(w.previous_agent_id).toBe('wr_agent_1');
    await waitForScreen((x) => x.includes('released work_wr_2'), 'the confirmation message');
    await waitForScreen((x) => rowOf(x, 'work_wr_2').includes('released'), 'the row showing released');
    // The other claims of the same agent and of the other agent are untouched.
    expect((await work('work_wr_1')).agent_id).toBe('wr_agent_1');
    expect((await work('work_wr_3')).agent_id).toBe('wr_agent_2');
    expect((await agent('wr_agent_1')).status).not.toBe('offline');
  });

  it('o then y marks the selected agent offline', async () => {
    await filterTo('1', 'Agents (', 'wr_agent_2');
    await waitForScreen((x) => selectedRow(x).includes('wr_agent_2') && !x.includes('wr_agent_1'), 'wr_agent_2 alone and selected');
    expect((await agent('wr_agent_2')).status).not.toBe('offline');
    keys('o');
    await waitForScreen((x) => x.includes('Mark agent wr_agent_2 offline?'), 'the offline question');
    keys('y');
    await waitFor(async () => ((await agent('wr_agent_2')).status === 'offline' ? true : undefined), 'wr_agent_2 offline in the daemon');
    await waitForScreen((x) => x.includes('wr_agent_2 marked offline'), 'the confirmation message');
    expect((await agent('wr_agent_1')).status).not.toBe('offline');
  });
});
