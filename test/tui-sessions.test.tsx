// Claude Code sessions in the console: the selectors and the status index as pure functions of
// generated states, then the agents panel, header and drill-down rendered with ink-testing-library.
import { spawnSync } from 'node:child_process';
import { render } from 'ink-testing-library';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';

// chalk fixes its colour level when first imported: force colour on (see tui-panels.test.tsx).
const savedForceColor = vi.hoisted(() => {
  const saved = process.env.FORCE_COLOR;
  process.env.FORCE_COLOR = '1';
  return saved;
});

import { applyChanges, stateChecksum } from '../shared/checksum.js';
import type { SnapshotMessage } from '../shared/protocol.js';
import type { CoordinationState } from '../shared/types.js';
import { App } from '../tui/app.js';
import { layoutColumns } from '../tui/layout/table.js';
import { SESSION_COLUMNS } from '../tui/panels/agents/agents-panel.js';
import { fleetParts } from '../tui/layout/header.js';
import { ConsoleModel } from '../tui/model/console-model.js';
import { AGENT_SORTS, agentRows, type AgentRow } from '../tui/model/selectors.js';
import { StatusIndex } from '../tui/model/sessions.js';
import { sessionLines } from '../tui/panels/agents/session-detail.js';
import { CONSOLE_CLI } from './helpers/daemon.js';
import { DeltaGen, GEN_NOW, genSessionAgent, genState, genStats, isoSeconds, maxRevision, rng, SESSION_STATUSES } from './gen/states.js';
import { inputReady, tick } from './helpers/ink.js';

afterAll(() => {
  if (savedForceColor === undefined) delete process.env.FORCE_COLOR;
  else process.env.FORCE_COLOR = savedForceColor;
});

const ANSI = /\x1b\[[0-9;]*m/g;
const COLOR = /\x1b\[(?:3[0-8]|4[0-8]|9[0-7]|10[0-7])(?:;[0-9;]*)?m/;
const MAGENTA = '\x1b[35m';
const plain = (s: string | undefined): string => (s ?? '').replace(ANSI, '');

const snapshotOf = (state: CoordinationState): SnapshotMessage => ({ type: 'snapshot', revision: maxRevision(state), state, checksum: stateChecksum(state) });
const groupOf = (r: AgentRow): number => (r.status === 'needs_input' ? 0 : r.status === 'working' ? 1 : 2);

describe('generated session agents', () => {
  it('are deterministic, shaped as the daemon keeps them, and leave states without them unchanged', () => {
    const a = genState({ agents: 4, work: 10, seed: 3, sessions: 10 });
    expect(genState({ agents: 4, work: 10, seed: 3, sessions: 10 })).toEqual(a);
    // Adding sessions draws from its own randomness: the legacy part of the state is the same.
    const without = genState({ agents: 4, work: 10, seed: 3 });
    for (const [k, e] of Object.entries(without.agents)) expect(a.agents[k].data).toEqual(e.data);
    const sessions = Object.entries(a.agents).filter(([, e]) => e.data.source === 'claude-code');
    expect(sessions).toHaveLength(10);
    expect(sessions.map(([, e]) => e.data.status)).toEqual([...SESSION_STATUSES, ...SESSION_STATUSES]);
    for (const [k, e] of sessions) {
      expect(k).toBe(`cc_${e.data.session_id as string}`);
      expect(e.data.agent_id).toBe(k);
      expect(typeof (e.data.usage as { cost_usd: unknown }).cost_usd).toBe('number');
      expect('needs_input' in e.data).toBe(e.data.status === 'needs_input');
    }
  });
});

describe('agent rows with sessions', () => {
  const now = GEN_NOW;
  it('put sessions needing input first (longest wait on top), then working, then the rest in the chosen order, for every sort', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const state = genState({ agents: 6, work: 20, seed, sessions: 12 });
      for (let sort = 0; sort < AGENT_SORTS.length; sort++) {
        for (const desc of [false, true]) {
          const rows = agentRows(state, { now, staleMs: 60_000, sort, desc });
          expect(rows).toHaveLength(18);
          const groups = rows.map(groupOf);
          expect(groups).toEqual([...groups].sort((x, y) => x - y));
          expect(groups.filter((g) => g === 0).length).toBe(3); // 12 sessions: statuses cycle, needs_input at 0, 5, 10
          const waits = rows.filter((r) => r.status === 'needs_input').map((r) => r.waitMs!);
          expect(waits).toEqual([...waits].sort((x, y) => y - x));
          // Within the other groups, the chosen sort as before.
          const spec = AGENT_SORTS[sort];
          for (const g of [1, 2]) {
            const inGroup = rows.filter((r) => groupOf(r) === g);
            const expected = [...inGroup].sort(desc ? (x, y) => spec.cmp(y, x) : spec.cmp);
            expect(inGroup.map((r) => r.key)).toEqual(expected.map((r) => r.key));
          }
        }
      }
    }
  });

  it('carry project, activity relative to the cwd, cost and the wait; a waiting session is never stale', () => {
    const r = rng(11);
    const waiting = genSessionAgent(r, { status: 'needs_input', waitedS: 600, costUsd: 3.5, overBudget: true });
    (waiting.data.activity as { tool: string; target: string }).tool = 'Edit';
    (waiting.data.activity as { tool: string; target: string }).target = `${waiting.data.cwd as string}/src/db.ts`;
    const silent = genSessionAgent(r, { status: 'working', costUsd: null });
    silent.data.last_heartbeat = isoSeconds(now - 600_000);
    (silent.data.activity as { tool: string; target: string }).tool = 'Bash';
    (silent.data.activity as { tool: string; target: string }).target = 'npm test';
    const state = genState({ agents: 0, work: 0 });
    state.agents[waiting.key] = { v: 1, rev: 1, data: waiting.data };
    state.agents[silent.key] = { v: 1, rev: 2, data: silent.data };
    const rows = agentRows(state, { now, staleMs: 60_000 });
    expect(rows.map((x) => x.key)).toEqual([waiting.key, silent.key]);
    const [w, s] = rows;
    expect(w).toMatchObject({
      session: true,
      project: waiting.data.project,
      activity: 'Edit src/db.ts',
      costUsd: 3.5,
      overBudget: true,
      waitMs: 600_000,
      stale: false,
    });
    expect(s).toMatchObject({ session: true, activity: 'Bash npm test', costUsd: null, waitingSince: null, waitMs: null, stale: true });
    // The filter knows the marker, the project and the activity.
    expect(agentRows(state, { now, staleMs: 60_000, filter: 'needs input' }).map((x) => x.key)).toEqual([waiting.key]);
    expect(agentRows(state, { now, staleMs: 60_000, filter: 'npm' }).map((x) => x.key)).toEqual([silent.key]);
  });
});

describe('StatusIndex', () => {
  const sessionSnapshot = () => snapshotOf(genState({ agents: 3, work: 10, seed: 6, sessions: 6 }));

  it('counts statuses as a recount does, and every transition into needs_input after the first snapshot', () => {
    const snap = sessionSnapshot();
    const gen = new DeltaGen(snap, 4);
    const idx = new StatusIndex();
    idx.rebuild(structuredClone(snap.state));
    // Already waiting at the first snapshot: not news.
    expect(idx.count('needs_input')).toBe(2);
    expect(idx.waitStarts).toBe(0);
    expect(idx.snapshot()).toMatchObject({ agents: 9, sessions: 6 });
    const keys = Object.keys(gen.state.agents);
    const r = rng(21);
    let expected = 0;
    for (let i = 0; i < 300; i++) {
      const key = keys[Math.floor(r() * keys.length)];
      const status = (['needs_input', 'working', 'idle', 'offline'] as const)[Math.floor(r() * 4)];
      if (!gen.state.agents[key]) continue;
      const was = gen.state.agents[key].data.status;
      if (status === 'needs_input' && was !== 'needs_input') expected++;
      idx.apply(gen.put('agents', key, { status }).changes);
    }
    expect(idx.waitStarts).toBe(expected);
    expect(expected).toBeGreaterThan(10);
    const recount = new Map<string, number>();
    for (const e of Object.values(gen.state.agents)) recount.set(e.data.status as string, (recount.get(e.data.status as string) ?? 0) + 1);
    expect(new Map([...idx.snapshot().byStatus].sort())).toEqual(new Map([...recount].sort()));
    // A deleted agent leaves the counts.
    const gone = keys[0];
    const st = gen.state.agents[gone].data.status as string;
    const n = idx.count(st);
    idx.apply(gen.del('agents', gone).changes);
    expect(idx.count(st)).toBe(n - 1);
    expect(idx.snapshot().agents).toBe(8);
  });

  it('does not count a repeated prompt within one wait; a later snapshot counts only the newly waiting', () => {
    const snap = sessionSnapshot();
    const gen = new DeltaGen(snap, 4);
    const idx = new StatusIndex();
    idx.rebuild(structuredClone(snap.state));
    const waitingKey = Object.keys(gen.state.agents).find((k) => gen.state.agents[k].data.status === 'needs_input')!;
    const workingKey = Object.keys(gen.state.agents).find((k) => gen.state.agents[k].data.status === 'working')!;
    idx.apply(gen.put('agents', waitingKey, { needs_input: { message: 'again', since: isoSeconds(GEN_NOW) } }).changes);
    expect(idx.waitStarts).toBe(0);
    // A resync snapshot: one session started waiting meanwhile, the one already waiting did not.
    const later = structuredClone(gen.state);
    later.agents[workingKey].data.status = 'needs_input';
    idx.rebuild(later);
    expect(idx.waitStarts).toBe(1);
  });

  it("is kept by the model from deltas and from a verifying client's copy", () => {
    const snap = sessionSnapshot();
    const gen = new DeltaGen(snap, 4);
    const m = new ConsoleModel({ throttleMs: 0, verify: false });
    const copy = structuredClone(snap.state);
    m.adopt({ state: copy, revision: snap.revision, checksum: snap.checksum, verified: true });
    expect(m.statuses.count('needs_input')).toBe(2);
    const workingKey = Object.keys(gen.state.agents).find((k) => gen.state.agents[k].data.status === 'working')!;
    // Waiting and back to work within one redraw: the bell still hears the wait.
    for (const status of ['needs_input', 'working']) {
      const msg = gen.put('agents', workingKey, { status });
      applyChanges(copy, msg.changes);
      m.adopt({ state: copy, revision: msg.revision, checksum: msg.checksum, verified: true }, msg.changes);
    }
    expect(m.statuses.waitStarts).toBe(1);
    expect(m.statuses.count('needs_input')).toBe(2);
  });
});

describe('session drill-down lines and the fleet line', () => {
  it('lists the session, project, model, wait, activity, usage and subagents', () => {
    const s = genSessionAgent(rng(5), { status: 'needs_input', waitedS: 252, costUsd: 1.25 });
    const lines = new Map(sessionLines(s.data, GEN_NOW).map((l) => [l.field, l.value]));
    expect(lines.get('(session)')).toBe(s.data.session_id);
    expect(lines.get('(project)')).toBe(`${s.data.project as string}  in ${s.data.cwd as string}`);
    expect(lines.get('(model)')).toBe(s.data.model);
    expect(lines.get('(needs input)')).toMatch(/^! waiting 4m12s \(since \d\d:\d\d:\d\d\): Claude needs your permission to use \w+$/);
    expect(lines.get('(cost)')).toMatch(/^\$1\.25, \$1\.25 on 2026-01-15$/);
    const t = (s.data.usage as { tokens: Record<string, number> }).tokens;
    expect(lines.get('(tokens)')).toContain(`output ${t.output >= 1e4 ? (t.output / 1e3).toFixed(1) + 'k' : t.output}`);
    expect(lines.get('(subagents)')).toMatch(/^[01] running, [01] finished$/);
    const sub = (s.data.subagents as Array<{ agent_id: string }>)[0];
    expect(lines.get(`  ${sub.agent_id}`)).toMatch(/^Explore · (running|finished) \(/);
    expect(sessionLines({ agent_id: 'a', status: 'active' }, GEN_NOW)).toEqual([]);
  });

  it('counts needs input, working and idle, and shows the cost today from /api/stats', () => {
    const m = new ConsoleModel({ throttleMs: 0 });
    expect(fleetParts(m)[0].text).toContain('waiting for the state');
    m.applySnapshot(snapshotOf(genState({ agents: 4, work: 5, seed: 2, sessions: 5 })));
    const text = () =>
      fleetParts(m)
        .map((p) => p.text)
        .join(' | ');
    expect(text()).toBe('fleet: 9 agents | ! 1 needs input | 2 working | 1 idle | cost today - | 4 active | 1 offline');
    m.setStats(genStats({ costTodayUsd: 12.345 }));
    expect(text()).toContain('cost today $12.35');
    m.setStats({ ...genStats({ costTodayUsd: 3 }), usage: { ...genStats({ costTodayUsd: 3 }).usage, over_budget: 2 } });
    expect(text()).toContain('cost today $3.00 | ! 2 over budget');
  });
});

const mounted: { unmount: () => void }[] = [];
afterEach(() => {
  while (mounted.length) mounted.pop()!.unmount();
});

/** A fleet of 3 legacy agents and sessions in every status; one waits 4m12s, another 30s. */
function sessionModel(): { model: ConsoleModel; state: CoordinationState; long: string; short: string } {
  const state = genState({ agents: 3, work: 8, seed: 5, sessions: 5 });
  const r = rng(99);
  const long = genSessionAgent(r, { status: 'needs_input', waitedS: 252, costUsd: 0.42 });
  const short = genSessionAgent(r, { status: 'needs_input', waitedS: 30 });
  // Keys that sort after every other id: only the attention order can put them first.
  for (const [s, key] of [
    [long, 'cc_zzzz-long'],
    [short, 'cc_zzzz-short'],
  ] as const) {
    s.data.agent_id = key;
    state.agents[key] = { v: 1, rev: maxRevision(state) + 1, data: s.data };
  }
  for (const [k, e] of Object.entries(state.agents)) if (e.data.status === 'needs_input' && !k.startsWith('cc_zzzz')) delete state.agents[k];
  const model = new ConsoleModel({ throttleMs: 0, now: () => GEN_NOW });
  model.applySnapshot(snapshotOf(state));
  model.setStats(genStats({ costTodayUsd: 7.5 }));
  model.setConnection('connected');
  return { model, state, long: 'cc_zzzz-long', short: 'cc_zzzz-short' };
}

function mount(model: ConsoleModel, props: { noColor?: boolean; columns?: number } = {}) {
  const app = render(
    <App model={model} url="http://127.0.0.1:4001" clock={() => GEN_NOW} size={{ columns: props.columns ?? 120, rows: 30 }} noColor={props.noColor} />,
  );
  mounted.push(app);
  return { ...app, frame: (): string => plain(app.lastFrame()) };
}

const dataRows = (frame: string): string[] => frame.split('\n').filter((l) => /^(> | {2})(cc_|agent_)/.test(l));

describe('agents panel with Claude Code sessions (rendered)', () => {
  it('shows the session needing input first with its marker and wait, then working, then the rest', async () => {
    const { model, long, short } = sessionModel();
    const { frame, lastFrame } = mount(model);
    await tick();
    const f = frame();
    expect(f).toMatch(/AGENT\s+PROJECT\s+STATUS\s+ACTIVITY\s+COST/);
    const rows = dataRows(f);
    expect(rows).toHaveLength(9);
    expect(rows[0]).toContain(long);
    expect(rows[0]).toContain('! input 4m12s');
    expect(rows[0]).toContain('$0.42');
    expect(rows[1]).toContain(short);
    expect(rows[1]).toContain('! input 30s');
    expect(rows[2]).toContain('working');
    expect(rows[3]).toContain('working');
    expect(rows.slice(4).some((l) => l.includes('idle'))).toBe(true);
    expect(rows.slice(2).every((l) => !l.includes('! input'))).toBe(true);
    // The working rows show the tool and its target, relative to the session's cwd.
    expect(rows.slice(2, 4).every((l) => /(Edit src\/db\.ts|Bash npm test|Read README\.md|Grep TODO|WebFetch https)/.test(l))).toBe(true);
    expect(f).toContain('Agents (9)  sort: id  ! 2 needs input · 1 stale');
    // The fleet line.
    expect(f).toContain('fleet: 9 agents  ! 2 needs input · 2 working · 1 idle · cost today $7.50 · 3 active · 1 offline');
    // In its own colour: the waiting rows are magenta, the others are not.
    const raw = (lastFrame() ?? '').split('\n');
    expect(raw.find((l) => l.includes(long))).toContain(MAGENTA);
    expect(raw.find((l) => plain(l).includes('working') && plain(l).startsWith('  cc_'))).not.toContain(MAGENTA);
  });

  it('keeps the marker and the wait on an 80-column terminal, and under NO_COLOR', async () => {
    const { model, long } = sessionModel();
    const { frame, lastFrame } = mount(model, { columns: 80, noColor: true });
    await tick();
    if (process.env.SHOW_FRAMES === '1') process.stderr.write(frame() + '\n');
    const rows = dataRows(frame());
    expect(rows[0]).toContain('! input 4m12s');
    expect(rows[0]).toContain(long.slice(0, 6));
    for (const l of frame().split('\n')) expect([...l].length).toBeLessThanOrEqual(80);
    expect(lastFrame()).not.toMatch(COLOR);
    expect(frame()).toContain('! 2 needs input');
  });

  it('drills into a session: id, project, model, wait and message, activity, usage, subagents', async () => {
    const { model, state, long } = sessionModel();
    const app = mount(model, { columns: 120 });
    await inputReady(app.stdin);
    app.stdin.write('\r');
    await tick();
    const f = app.frame();
    if (process.env.SHOW_FRAMES === '1') process.stderr.write(f + '\n');
    const d = state.agents[long].data;
    expect(f).toContain(`Claude Code session ${long}`);
    const line = (field: string): string => (f.split('\n').find((l) => l.slice(2).startsWith(field)) ?? '').slice(2).trimEnd();
    expect(line('(session)')).toMatch(new RegExp(`^\\(session\\) +${d.session_id as string}$`));
    expect(line('(project)').split(/ {2,}/).slice(1)).toEqual([d.project, `in ${d.cwd as string}`]);
    expect(line('(model)')).toContain(d.model as string);
    expect(f).toMatch(/\(needs input\) +! waiting 4m12s \(since \d\d:\d\d:\d\d\): Claude needs your permission/);
    expect(f).toMatch(/\(activity\) +\w+ .+ \(\d+s ago\)/);
    expect(f).toMatch(/\(cost\) +\$0\.42/);
    expect(f).toMatch(/\(tokens\) +input [\d.k]+ · output [\d.k]+ · cache read [\d.k]+ · cache creation [\d.k]+/);
    expect(f).toMatch(/\(subagents\) +[01] running, [01] finished/);
  });
});

describe('session columns', () => {
  it('leave the optional team out before shrinking the others, and keep status and claims at 80 columns', () => {
    const titles = (width: number): string[] => SESSION_COLUMNS.filter((_, i) => layoutColumns(SESSION_COLUMNS, width)[i] > 0).map((c) => c.title);
    const widthOf = (width: number, title: string): number => layoutColumns(SESSION_COLUMNS, width)[SESSION_COLUMNS.findIndex((c) => c.title === title)];
    expect(titles(140)).toContain('TEAM');
    expect(titles(100)).not.toContain('TEAM');
    expect(widthOf(100, 'ACTIVITY')).toBeGreaterThan(12);
    expect(titles(80)).toEqual(['AGENT', 'PROJECT', 'STATUS', 'ACTIVITY', 'COST', 'HEARTBEAT', 'CLAIMS']);
    // The longest wait in minutes fits whole: "! input 59m59s".
    expect(widthOf(80, 'STATUS')).toBe('! input 59m59s'.length);
  });
});

describe('ai-console --bell (flags)', () => {
  it('is documented in --help, and a value given to it is refused with usage', () => {
    const help = spawnSync(process.execPath, [CONSOLE_CLI, '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/Usage: ai-console .*\[--bell\]/);
    expect(help.stdout).toMatch(/--bell +ring the terminal bell when a session starts waiting for input/);
    const bad = spawnSync(process.execPath, [CONSOLE_CLI, '--bell=yes'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/ai-console: .*--bell/);
    expect(bad.stdout).toBe('');
  });
});
