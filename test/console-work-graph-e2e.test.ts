// The work graph in ai-console, end to end: a small graph created on a real daemon with
// POST /api/work/batch (depends_on), the compiled console in tmux (read with capture-pane): each
// item ready / waiting / blocked and what it waits for, the header's ready count, the drill-down's
// prerequisite and dependent trees, and all of it following the daemon as items complete and retry.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../client/api.js';
import { CONSOLE_CLI, startDaemon, type DaemonHandle } from './helpers/daemon.js';
import { requireTool } from './helpers/system-tools.js';
import { Terminal } from './helpers/terminal.js';

const HAS_TMUX = requireTool('tmux');
const term = new Terminal('aic-graph');
const WIDTH = 130;
const keys = (...k: string[]): void => term.keys(...k);
const waitForScreen = (pred: (s: string) => boolean, what: string): Promise<string> => term.waitForScreen(pred, what, 30_000);
const lines = (s: string): string[] => s.split('\n');
/** The table row of an id (not the title line, which may show the same id as the filter). */
const rowOf = (s: string, id: string): string => lines(s).find((l) => l.startsWith(`> ${id} `) || l.startsWith(`  ${id} `)) ?? '';
const selectedRow = (s: string): string => lines(s).find((l) => l.startsWith('> ')) ?? '';
/** The drill-down's lines from `field` on, the field column cut off (the tree lives in the value column). */
const valuesFrom = (s: string, field: string): string[] => {
  const all = lines(s);
  const at = all.findIndex((l) => l.slice(2).startsWith(field));
  const start = all[at].indexOf(field) + 23;
  return all.slice(at).map((l) => l.slice(start).trimEnd());
};

/** Filters the claims panel to one id and opens its drill-down. */
async function open(id: string): Promise<string> {
  keys('/');
  await waitForScreen((x) => x.includes('/_'), 'the filter prompt');
  for (const ch of id) keys(ch);
  await waitForScreen((x) => x.includes(`/${id}_`), `the typed filter ${id}`);
  keys('Enter');
  // The filter also matches the items waiting for `id`: move down to it.
  let s = await waitForScreen((x) => x.includes(`filter: ${id}`) && rowOf(x, id) !== '', `${id} listed`);
  for (let i = 0; i < 7 && !rowOf(s, id).startsWith('> '); i++) {
    const before = selectedRow(s);
    keys('j');
    s = await waitForScreen((x) => selectedRow(x) !== before, 'the selection moving');
  }
  expect(rowOf(s, id)).toMatch(/^> /);
  keys('Enter');
  return waitForScreen((x) => x.includes(`Work ${id}  esc back`) && x.includes('(dependents)'), `the drill-down of ${id}`);
}

async function back(): Promise<void> {
  keys('Escape');
  await waitForScreen((x) => x.includes('Claims / work') && x.includes('filter:'), 'the filtered list');
  keys('Escape');
  await waitForScreen((x) => x.includes('Claims / work (7)'), 'the whole list');
}

describe.skipIf(!HAS_TMUX)('the work graph in ai-console (tmux, real daemon)', () => {
  let daemon: DaemonHandle;
  let api: ApiClient;

  beforeAll(async () => {
    daemon = await startDaemon({ args: ['--lease-ms', '600000'] });
    api = new ApiClient({ url: daemon.url });
    // design -> api, ui -> ship (a diamond); bad fails and blocks after_bad; spike stands alone.
    const batch = await api.post('/api/work/batch', {
      items: [
        { work_id: 'wg_ship', work_type: 'release', priority: 'critical', depends_on: ['wg_api', 'wg_ui'] },
        { work_id: 'wg_api', work_type: 'code', depends_on: ['wg_design'] },
        { work_id: 'wg_ui', work_type: 'code', depends_on: ['wg_design'] },
        { work_id: 'wg_design', work_type: 'design', priority: 'high' },
        { work_id: 'wg_after_bad', work_type: 'code', depends_on: ['wg_bad'] },
        { work_id: 'wg_bad', work_type: 'code' },
        { work_id: 'wg_spike', work_type: 'research' },
      ],
    });
    expect(batch.status).toBe(201);
    expect((await api.post('/api/coordination/claim', { work_id: 'wg_bad', agent_id: 'wg_agent' })).status).toBe(200);
    expect((await api.post('/api/coordination/complete', { work_id: 'wg_bad', agent_id: 'wg_agent', status: 'failed' })).status).toBe(200);
    const rev = (await api.get<{ revision: number }>('/api/stats')).body.revision;
    term.start(
      `env -u AI_PROCESSOR_TOKEN -u AI_PROCESSOR_URL -u NO_COLOR ${JSON.stringify(process.execPath)} ${JSON.stringify(CONSOLE_CLI)} --url ${daemon.url}; sleep 60`,
      WIDTH,
      40,
    );
    await waitForScreen((s) => new RegExp(`rev ${rev} verified`).test(lines(s)[0]), 'the console at the graph revision');
    keys('2');
    await waitForScreen((s) => s.includes('Claims / work (7)'), 'the claims panel');
  });

  afterAll(async () => {
    term.close();
    await daemon?.stop('SIGKILL');
  });

  it('shows each item ready, waiting or blocked with what it waits for, and the header counts the ready ones', async () => {
    const s = await waitForScreen((x) => rowOf(x, 'wg_ship').includes('waiting'), 'the readiness column');
    expect(lines(s)[4]).toMatch(/STATUS\s+READY\s+WAITS FOR\s/);
    expect(rowOf(s, 'wg_design')).toMatch(/pending\s+ready\s+-\s/);
    expect(rowOf(s, 'wg_spike')).toMatch(/pending\s+ready\s+-\s/);
    expect(rowOf(s, 'wg_api')).toMatch(/pending\s+waiting\s+wg_design\s/);
    expect(rowOf(s, 'wg_ship')).toMatch(/pending\s+waiting\s+wg_api, wg_ui\s/);
    expect(rowOf(s, 'wg_after_bad')).toMatch(/pending\s+blocked\s+✗ wg_bad failed\s/);
    expect(rowOf(s, 'wg_bad')).toMatch(/failed\s+-\s+-\s/); // finished: no readiness
    expect(lines(s)[1]).toMatch(/ {2}work: 2 ready · ! 1 blocked$/);
    // The same counts as the daemon's own index (GET /api/work-graph, the metrics' source).
    expect((await api.get<{ ready: number; waiting: number; blocked: number }>('/api/work-graph')).body).toMatchObject({ ready: 2, waiting: 3, blocked: 1 });
    expect(s).toContain('2 ready · 3 waiting · 1 blocked');
    for (const l of lines(s)) expect(l.length).toBeLessThanOrEqual(WIDTH);
  });

  it('the drill-down draws the dependents and the prerequisites as trees (a diamond drawn once)', async () => {
    let s = await open('wg_design');
    expect(valuesFrom(s, '(readiness)').slice(0, 6)).toEqual([
      'ready: every prerequisite completed',
      'none',
      '├─ wg_api  pending · waiting (wg_design)',
      '│  └─ wg_ship  pending · waiting (wg_api, wg_ui)',
      '└─ wg_ui  pending · waiting (wg_design)',
      '   └─ wg_ship  (shown above)',
    ]);
    expect(s).toContain('work_item_id');
    await back();

    s = await open('wg_ship');
    expect(valuesFrom(s, '(readiness)').slice(0, 6)).toEqual([
      'waiting for wg_api, wg_ui',
      '├─ wg_api  pending · waiting (wg_design)',
      '│  └─ wg_design  pending · ready',
      '└─ wg_ui  pending · waiting (wg_design)',
      '   └─ wg_design  (shown above)',
      'none',
    ]);
    await back();

    s = await open('wg_after_bad');
    expect(valuesFrom(s, '(readiness)').slice(0, 3)).toEqual(['blocked: ✗ wg_bad failed (retry it or remove the dependency)', '└─ wg_bad  failed', 'none']);
    await back();
  });

  it('the filter finds items by readiness', async () => {
    keys('/');
    await waitForScreen((x) => x.includes('/_'), 'the filter prompt');
    // Each key once the one before is on screen: keys that arrive together are one chunk for the console.
    for (const [i, ch] of [...'blocked'].entries()) {
      keys(ch);
      await waitForScreen((x) => x.includes(`/${'blocked'.slice(0, i + 1)}_`), `the filter draft after '${ch}'`);
    }
    keys('Enter');
    const s = await waitForScreen((x) => x.includes('Claims / work (1/7)'), 'one blocked item');
    expect(rowOf(s, 'wg_after_bad')).toContain('blocked');
    keys('Escape');
    await waitForScreen((x) => x.includes('Claims / work (7)'), 'the whole list');
  });

  it('follows the daemon: a completed prerequisite readies its dependents, a retry unblocks', async () => {
    expect((await api.post('/api/coordination/claim', { work_id: 'wg_design', agent_id: 'wg_agent' })).status).toBe(200);
    let s = await waitForScreen((x) => lines(x)[1].endsWith('work: 1 ready · ! 1 blocked') && rowOf(x, 'wg_design').includes('wg_agent'), 'design held');
    expect(rowOf(s, 'wg_design')).toMatch(/claimed\s+-\s+-\s/);

    expect((await api.post('/api/coordination/complete', { work_id: 'wg_design', agent_id: 'wg_agent' })).status).toBe(200);
    s = await waitForScreen((x) => lines(x)[1].endsWith('work: 3 ready · ! 1 blocked'), 'api and ui ready');
    expect(rowOf(s, 'wg_api')).toMatch(/pending\s+ready\s+-\s/);
    expect(rowOf(s, 'wg_ui')).toMatch(/pending\s+ready\s+-\s/);
    expect(rowOf(s, 'wg_ship')).toMatch(/waiting\s+wg_api, wg_ui\s/);

    expect((await api.post('/api/work/wg_bad/retry', {})).status).toBe(200);
    s = await waitForScreen((x) => lines(x)[1].endsWith('work: 4 ready') && rowOf(x, 'wg_after_bad').includes('waiting'), 'the retry');
    expect(rowOf(s, 'wg_after_bad')).toMatch(/waiting\s+wg_bad\s/);
    expect(rowOf(s, 'wg_bad')).toMatch(/pending\s+ready\s+-\s/);
    expect(s).toContain('4 ready · 2 waiting · 0 blocked');
    expect((await api.get<{ ready: number; waiting: number; blocked: number }>('/api/work-graph')).body).toMatchObject({ ready: 4, waiting: 2, blocked: 0 });
  });
});
