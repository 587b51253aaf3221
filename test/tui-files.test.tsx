// The Files panel and the lease lines of the agent drill-down, rendered with ink-testing-library from
// a model fed as the stream feeds it (a snapshot whose agents hold path leases, path_conflict events).
import { render } from 'ink-testing-library';
import { afterEach, describe, expect, it } from 'vitest';
import type { EventMessage, PathConflictDetail } from '../shared/protocol.js';
import { PATH_CONFLICT_EVENT } from '../shared/protocol.js';
import type { CoordinationState } from '../shared/types.js';
import { App } from '../tui/app.js';
import type { AppProps } from '../tui/app.js';
import { ConsoleModel } from '../tui/model/console-model.js';
import { conflictRows, leaseLines, leaseRows } from '../tui/model/path-selectors.js';
import { inputReady, tick } from './helpers/ink.js';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const plain = (s: string | undefined): string => (s ?? '').replace(/\x1b\[[0-9;]*m/g, '');

function state(): CoordinationState {
  const lease = (path: string, mode: string, extra: Record<string, string> = {}) => ({
    repo: 'github.com/o/shop',
    path,
    mode,
    fencing_token: 3,
    since: '2026-03-01T11:58:00Z',
    ...extra,
  });
  return {
    work: { w1: { v: 1, rev: 1, data: { work_item_id: 'w1', agent_id: 'agent_a', status: 'in_progress' } } },
    agents: {
      agent_a: {
        v: 1,
        rev: 1,
        data: { agent_id: 'agent_a', status: 'active', path_leases: [lease('src/db.ts', 'exclusive', { work_id: 'w1' }), lease('src/api/', 'exclusive')] },
      },
      agent_b: { v: 1, rev: 1, data: { agent_id: 'agent_b', status: 'active', path_leases: [lease('docs/', 'shared'), { repo: 1, path: null }] } },
      agent_c: { v: 1, rev: 1, data: { agent_id: 'agent_c', status: 'active' } },
    },
    log: {},
  };
}

function conflict(n: number, extra: Partial<PathConflictDetail> = {}): EventMessage {
  const detail: PathConflictDetail = {
    action: 'denied',
    source: 'edit',
    agent_id: 'agent_c',
    repo: 'github.com/o/shop',
    path: 'src/db.ts',
    paths: 1,
    holders: [{ agent_id: 'agent_a', path: 'src/db.ts', mode: 'exclusive', work_id: 'w1', since: '2026-03-01T11:58:00Z' }],
    refusals: n,
    stuck: n >= 5,
    at: new Date(NOW - 1000 * (10 - n)).toISOString(),
    ...extra,
  };
  return { type: 'event', event: PATH_CONFLICT_EVENT, timestamp_ns: '0', detail: { ...detail } };
}

function model(): ConsoleModel {
  const m = new ConsoleModel({ throttleMs: 0, verify: false, now: () => NOW });
  m.applySnapshot({ type: 'snapshot', revision: 1, checksum: '', state: state() });
  m.setConnection('connected');
  return m;
}

const mounted: { unmount: () => void }[] = [];
afterEach(() => {
  while (mounted.length) mounted.pop()!.unmount();
});

function mount(m: ConsoleModel, props: Partial<AppProps> = {}) {
  const app = render(<App model={m} url="http://127.0.0.1:4001" clock={() => NOW} size={{ columns: 120, rows: 30 }} initialPanel="files" {...props} />);
  mounted.push(app);
  return {
    frame: () => plain(app.lastFrame()),
    press: async (...keys: string[]) => {
      await inputReady(app.stdin);
      for (const k of keys) {
        app.stdin.write(k);
        await tick();
      }
    },
  };
}

describe('path selectors', () => {
  it('reads every well-formed lease off the agent records, sorted by repository and path; malformed entries skipped', () => {
    const rows = leaseRows(state(), {});
    expect(rows.map((r) => `${r.agent} ${r.path} ${r.mode} ${r.work ?? '-'}`)).toEqual([
      'agent_b docs/ shared -',
      'agent_a src/api/ exclusive -',
      'agent_a src/db.ts exclusive w1',
    ]);
    expect(leaseRows(state(), { filter: 'shared' }).map((r) => r.path)).toEqual(['docs/']);
    expect(leaseRows(state(), { sort: 1, desc: true }).map((r) => r.agent)).toEqual(['agent_b', 'agent_a', 'agent_a']);
    expect(leaseLines(state(), 'agent_c', () => 'T')).toEqual([{ field: '(path leases)', value: 'none' }]);
    expect(leaseLines(state(), 'agent_a', () => 'T')).toEqual([
      { field: '(path lease 1/2)', value: 'src/api/  exclusive · no work item · since T · in github.com/o/shop' },
      { field: '(path lease 2/2)', value: 'src/db.ts  exclusive · work w1 · since T · in github.com/o/shop' },
    ]);
  });

  it('lists conflicts newest first and filters them', () => {
    const list = [1, 2, 3].map((n) => conflict(n).detail as unknown as PathConflictDetail);
    list.push({ ...list[0], path: 'README.md', action: 'warned', refusals: 0 });
    expect(conflictRows(list).map((r) => `${r.path} ${r.refusals}`)).toEqual(['README.md 0', 'src/db.ts 3', 'src/db.ts 2', 'src/db.ts 1']);
    expect(conflictRows(list, 'readme').map((r) => r.action)).toEqual(['warned']);
  });
});

describe('Files panel', () => {
  it('shows the leases and the refusals as they arrive; path_conflict events stay out of the health events', async () => {
    const m = model();
    const { frame } = mount(m);
    await tick();
    expect(frame()).toContain('Files: path leases (3)  sort: path  2 exclusive · 1 shared');
    expect(frame()).toContain('Refused edits (0)');
    for (let n = 1; n <= 5; n++) m.applyMessage(conflict(n));
    m.applyMessage({ type: 'event', event: 'service_status', timestamp_ns: '0', detail: { name: 'x' } });
    await tick();
    const f = frame();
    expect(f).toContain('Refused edits (5)  ! 1 stuck (agent, path)');
    const refused = f.split('\n').filter((l) => l.includes(' refused '));
    expect(refused).toHaveLength(5);
    expect(refused[0]).toMatch(/agent_c .*src\/db\.ts .*agent_a \(w1\) .*! 5 stuck$/);
    expect(refused[4]).toMatch(/ 1$/);
    expect(m.pathConflicts.size).toBe(5);
    expect(m.events.toArray().map((e) => e.event)).toEqual(['service_status']);
  });

  it('the filter applies to leases and refusals alike; enter opens the holder, whose drill-down lists its leases', async () => {
    const m = model();
    m.applyMessage(conflict(1));
    m.applyMessage(
      conflict(2, { path: 'docs/', holders: [{ agent_id: 'agent_b', path: 'docs/', mode: 'shared', work_id: null, since: '2026-03-01T11:58:00Z' }] }),
    );
    const { frame, press } = mount(m);
    await tick();
    await press('/', ...'docs', '\r');
    expect(frame()).toContain('Files: path leases (1/3)');
    expect(frame()).toContain('Refused edits (1)');
    expect(frame()).not.toContain('src/db.ts');
    await press('\x1b');
    await tick();
    await press('j', 'j', '\r');
    const f = frame();
    expect(f).toContain('Agent agent_a');
    expect(f).toContain('(path lease 2/2)');
    expect(f).toMatch(/\(path lease 2\/2\) +src\/db\.ts {2}exclusive · work w1 · since \d\d:\d\d:\d\d · in github\.com\/o\/shop/);
  });

  it('fits a 60x15 terminal', async () => {
    const m = model();
    for (let n = 1; n <= 6; n++) m.applyMessage(conflict(n));
    const { frame } = mount(m, { size: { columns: 60, rows: 15 } });
    await tick();
    const lines = frame().split('\n');
    expect(lines.length).toBeLessThanOrEqual(15);
    for (const l of lines) expect([...l].length).toBeLessThanOrEqual(60);
    expect(frame()).toContain('Files: path leases (3)');
    expect(frame()).toMatch(/Refused edits \(6\)/);
    expect(frame()).toContain('docs/');
  });
});
