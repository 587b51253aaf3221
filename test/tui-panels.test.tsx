import { render } from 'ink-testing-library';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';

// chalk fixes its colour level when first imported: force colour on so that the NO_COLOR test
// compares against output that really has colour in it.
const savedForceColor = vi.hoisted(() => {
  const saved = process.env.FORCE_COLOR;
  process.env.FORCE_COLOR = '1';
  return saved;
});

import { isHeld } from '../shared/types.js';
import { App } from '../tui/app.js';
import type { AppProps } from '../tui/app.js';
import type { Actions } from '../tui/model/actions.js';
import { ConsoleModel } from '../tui/model/console-model.js';
import { DeltaGen, GEN_NOW, genSnapshot, genSpans, genStats } from './gen/states.js';
import { inputReady, tick } from './helpers/ink.js';

afterAll(() => {
  if (savedForceColor === undefined) delete process.env.FORCE_COLOR;
  else process.env.FORCE_COLOR = savedForceColor;
});

const ANSI = /\x1b\[[0-9;]*m/g;
const COLOR = /\x1b\[(?:3[0-8]|4[0-8]|9[0-7]|10[0-7])(?:;[0-9;]*)?m/;
const plain = (s: string | undefined): string => (s ?? '').replace(ANSI, '');

const KEY = { up: '\x1b[A', down: '\x1b[B', enter: '\r', esc: '\x1b', tab: '\t', backspace: '\x7f' };

interface Setup {
  model: ConsoleModel;
  snap: ReturnType<typeof genSnapshot>;
}

function makeModel(opts: { ratio?: number | null; throttleMs?: number } = {}): Setup {
  const model = new ConsoleModel({ throttleMs: opts.throttleMs ?? 0, now: () => GEN_NOW });
  const snap = genSnapshot({ agents: 12, work: 40, seed: 2, stale: 2 });
  model.applySnapshot(structuredClone(snap));
  model.setStats(genStats({ ratio: opts.ratio === undefined ? 1 : opts.ratio, seed: 5 }));
  model.setStats(genStats({ ratio: opts.ratio === undefined ? 1 : opts.ratio, seed: 6 }));
  model.addSpans(genSpans(60));
  model.setConnection('connected');
  return { model, snap };
}

const mounted: { unmount: () => void }[] = [];
afterEach(() => {
  while (mounted.length) mounted.pop()!.unmount();
});

function mount(props: Partial<AppProps> = {}, setup: Setup = makeModel()) {
  const app = render(<App model={setup.model} url="http://127.0.0.1:4001" clock={() => GEN_NOW} size={{ columns: 100, rows: 30 }} {...props} />);
  mounted.push(app);
  const frame = (): string => plain(app.lastFrame());
  const press = async (...keys: string[]): Promise<void> => {
    await inputReady(app.stdin);
    for (const k of keys) {
      app.stdin.write(k);
      await tick();
    }
  };
  return { ...app, ...setup, frame, press };
}

/** Data rows of the table on screen (lines with the two-character gutter and an id). */
const rowsOf = (frame: string, prefix: string): string[] => frame.split('\n').filter((l) => new RegExp(`^(> |  )${prefix}`).test(l));

describe('agents panel', () => {
  it('lists agents with team, load, held-claim counts and marks stale heartbeats', async () => {
    const { frame, snap } = mount();
    await tick();
    const f = frame();
    expect(f).toContain('Agents (12)');
    expect(f).toContain('2 stale');
    const agents = Object.values(snap.state.agents).map((e) => e.data);
    for (const a of agents) expect(f).toContain(a.agent_id as string);
    // Claims held: count isHeld work records of the agent, and find it on that agent's row.
    const busiest = agents
      .map((a) => ({ id: a.agent_id as string, n: Object.values(snap.state.work).filter((w) => w.data.agent_id === a.agent_id && isHeld(w.data)).length }))
      .sort((a, b) => b.n - a.n)[0];
    expect(busiest.n).toBeGreaterThan(1);
    const row = f.split('\n').find((l) => l.includes(busiest.id))!;
    expect(row.trim().split(/\s+/).pop()).toBe(String(busiest.n));
    // The generator makes the last two agents stale: their rows say so, the others do not.
    const stale = agents.slice(-2).map((a) => a.agent_id as string);
    for (const line of f.split('\n').filter((l) => l.includes('agent_'))) {
      expect(line.includes('STALE')).toBe(stale.some((id) => line.includes(id)));
    }
  });

  it('moves the selection with j/k and arrows', async () => {
    const { frame, press } = mount();
    await tick();
    const selected = (): string =>
      frame()
        .split('\n')
        .find((l) => l.startsWith('> '))!;
    const first = selected();
    await press('j');
    const second = selected();
    expect(second).not.toBe(first);
    await press(KEY.down, KEY.down, 'k');
    const third = selected();
    expect(third).not.toBe(second);
    await press(KEY.up, 'k');
    expect(selected()).toBe(first);
    await press('k'); // stops at the top
    expect(selected()).toBe(first);
    await press('jjj'); // one chunk, as fast typing or key repeat over SSH delivers it
    expect(
      frame()
        .split('\n')
        .filter((l) => l.startsWith('  agent_') || l.startsWith('> agent_'))
        .findIndex((l) => l.startsWith('> ')),
    ).toBe(3);
    await press('G');
    expect(rowsOf(frame(), 'agent_').pop()!.startsWith('> ')).toBe(true);
  });

  it('drills into an agent and back', async () => {
    const { frame, press, snap } = mount();
    await tick();
    const id = frame()
      .split('\n')
      .find((l) => l.startsWith('> '))!
      .slice(2)
      .split(/\s+/)[0];
    await press(KEY.enter);
    expect(frame()).toContain(`Agent ${id}`);
    expect(frame()).toContain('specialization');
    expect(frame()).toContain('(claims held)');
    expect(snap.state.agents[id]).toBeDefined();
    await press(KEY.esc);
    expect(frame()).toContain('Agents (12)');
  });
});

describe('claims panel', () => {
  it('lists work items with holder, status and progress', async () => {
    const { frame, press, snap } = mount();
    await press('2');
    const f = frame();
    expect(f).toContain('Claims / work (40)');
    const held = Object.values(snap.state.work).filter((e) => isHeld(e.data)).length;
    expect(f).toContain(`${held} held`);
    const rows = rowsOf(f, 'work_');
    expect(rows.length).toBe(30 - 1 - 5 - 2); // fills the body: 30 rows - spare - chrome (header 3, footer 2) - title/header
    const inProgress = Object.values(snap.state.work)
      .map((e) => e.data)
      .find((d) => d.status === 'in_progress')!;
    await press('/', inProgress.work_item_id as string, KEY.enter);
    const line = rowsOf(frame(), 'work_')[0];
    expect(line).toContain(inProgress.work_item_id as string);
    expect(line).toContain('in_progress');
    expect(line).toContain(`${inProgress.progress as number}%`);
  });

  it('narrows rows with / filter, applies on enter, clears on esc', async () => {
    const { frame, press, snap } = mount();
    await press('2', '/', ...'critical');
    expect(frame()).toContain('/critical_');
    expect(frame()).toContain('Claims / work (40)'); // typing alone does not filter yet
    await press(KEY.enter);
    const crit = Object.values(snap.state.work).filter((e) => e.data.priority === 'critical').length;
    expect(crit).toBeGreaterThan(0);
    expect(frame()).toContain(`Claims / work (${crit}/40)`);
    const rows = rowsOf(frame(), 'work_');
    expect(rows).toHaveLength(crit);
    expect(rows.every((l) => l.includes('critical'))).toBe(true);
    // Backspace edits the draft; esc in the draft clears the filter.
    await press('/', KEY.backspace, KEY.backspace);
    expect(frame()).toContain('/critic_');
    await press(KEY.esc);
    expect(frame()).toContain('Claims / work (40)');
    await press('/', 'nothing-matches-this', KEY.enter);
    expect(frame()).toContain('no work item matches the filter');
    await press(KEY.esc); // esc outside the draft also clears
    expect(frame()).toContain('Claims / work (40)');
  });

  it('applies a filter typed or pasted with its Enter in one chunk (as a slow SSH link delivers it)', async () => {
    const { frame, press, snap } = mount();
    await press('2', '/', 'critical\r');
    const crit = Object.values(snap.state.work).filter((e) => e.data.priority === 'critical').length;
    expect(frame()).toContain(`Claims / work (${crit}/40)`);
    expect(frame()).not.toContain('enter apply');
  });

  it('cycles the sort column with s and reverses with S', async () => {
    const { frame, press } = mount();
    await press('2');
    const order = (): string[] => rowsOf(frame(), 'work_').map((l) => l.slice(2).split(/\s+/)[0]);
    const byAge = order();
    expect(frame()).toContain('sort: age');
    await press('s');
    expect(frame()).toContain('sort: priority');
    const byPrio = order();
    expect(byPrio).not.toEqual(byAge);
    expect(rowsOf(frame(), 'work_')[0]).toContain('critical');
    await press('S');
    expect(frame()).toContain('sort: priority (reversed)');
    expect(rowsOf(frame(), 'work_')[0]).toContain('low');
  });

  it('keeps the selected record selected when rows reorder', async () => {
    const setup = makeModel();
    const { frame, press, model, snap } = mount({}, setup);
    await press('2', 'j', 'j');
    const id = frame()
      .split('\n')
      .find((l) => l.startsWith('> '))!
      .slice(2)
      .split(/\s+/)[0];
    // A new, newest work item lands on top of the age-sorted list.
    const gen = new DeltaGen(snap);
    model.applyDelta(
      gen.put('work', 'work_1999999999999999999', { work_item_id: 'work_1999999999999999999', status: 'pending', created_at: new Date(GEN_NOW).toISOString() }),
    );
    // Polled, not slept: a loaded machine may take longer than one frame to redraw.
    for (let waited = 0; !rowsOf(frame(), 'work_')[0]?.includes('work_1999999999999999999') && waited < 5000; waited += 20) await tick(20);
    expect(rowsOf(frame(), 'work_')[0]).toContain('work_1999999999999999999');
    expect(
      frame()
        .split('\n')
        .find((l) => l.startsWith('> ')),
    ).toContain(id);
  });
});

describe('write actions', () => {
  const fakeActions = (): Actions & { release: ReturnType<typeof vi.fn>; markOffline: ReturnType<typeof vi.fn> } => ({
    release: vi.fn(async (w: string) => ({ ok: true, message: `released ${w}` })),
    markOffline: vi.fn(async (a: string) => ({ ok: true, message: `${a} marked offline` })),
  });

  it('are refused without --allow-write', async () => {
    const actions = fakeActions();
    const { frame, press } = mount({ actions });
    await press('o');
    expect(frame()).toContain('read-only');
    await press('2', 'r', 'y');
    expect(actions.release).not.toHaveBeenCalled();
    expect(actions.markOffline).not.toHaveBeenCalled();
  });

  it('release a held claim after y, and do nothing after n', async () => {
    const actions = fakeActions();
    const { frame, press, snap } = mount({ actions, allowWrite: true });
    const held = Object.values(snap.state.work)
      .map((e) => e.data)
      .find((d) => d.status === 'in_progress')!;
    await press('2', '/', held.work_item_id as string, KEY.enter, 'r');
    expect(frame()).toContain(`Release ${held.work_item_id as string} held by ${held.agent_id as string}? [y/n]`);
    await press('n');
    expect(frame()).toContain('cancelled');
    expect(actions.release).not.toHaveBeenCalled();
    await press('r', 'y');
    expect(actions.release).toHaveBeenCalledWith(held.work_item_id, held.agent_id);
    expect(frame()).toContain(`released ${held.work_item_id as string}`);
  });

  it('mark an agent offline after confirmation', async () => {
    const actions = fakeActions();
    const { frame, press } = mount({ actions, allowWrite: true });
    await tick();
    const id = frame()
      .split('\n')
      .find((l) => l.startsWith('> '))!
      .slice(2)
      .split(/\s+/)[0];
    await press('o');
    expect(frame()).toContain(`Mark agent ${id} offline? [y/n]`);
    await press('y');
    expect(actions.markOffline).toHaveBeenCalledWith(id);
  });
});

describe('latency, entropy, traces, health', () => {
  it('latency shows percentiles per operation against the 100 ms target', async () => {
    const setup = makeModel();
    setup.model.setStats(genStats({ latencyScale: 30 })); // p99 well over 100 ms
    const { frame, press } = mount({}, setup);
    await press('3');
    const f = frame();
    expect(f).toContain('target p99 < 100 ms');
    for (const op of ['claim', 'progress', 'complete', 'heartbeat']) expect(f).toMatch(new RegExp(`^(> |  )${op}\\s+\\d+`, 'm'));
    expect(f).toContain('OVER TARGET');
    expect(f).toMatch(/![\d.]+m?s/); // p99 misses are marked in text, not only in colour
    expect(f).toMatch(/[▁▂▃▄▅▆▇█]{3}/); // three samples: a sparkline
  });

  it('entropy shows components against the baseline and warns when the ratio is 0.9', async () => {
    const ok = mount({ initialPanel: 'entropy' }, makeModel({ ratio: 1 }));
    await tick();
    expect(ok.frame()).toContain('within 0.99–1.01: information conserved');
    expect(ok.frame()).not.toContain('WARNING');
    for (const c of ['coordination', 'agents', 'telemetry', 'total']) expect(ok.frame()).toMatch(new RegExp(`^  ${c}\\s+[\\d.]+\\s+[\\d.]+`, 'm'));

    const bad = mount({ initialPanel: 'entropy' }, makeModel({ ratio: 0.9 }));
    await tick();
    expect(bad.frame()).toContain('WARNING: conservation ratio 0.9000 outside 0.99–1.01');

    const none = mount({ initialPanel: 'entropy' }, makeModel({ ratio: null }));
    await tick();
    expect(none.frame()).toContain('no baseline captured');
  });

  it('traces list recent spans and drill into a trace tree', async () => {
    const setup = makeModel();
    const { frame, press, model } = mount({}, setup);
    await press('5');
    expect(frame()).toContain('Traces (60)');
    const spans = model.spans.toArray();
    const newest = spans[spans.length - 1];
    expect(rowsOf(frame(), '\\d\\d:')[0]).toContain(newest.operation_name);
    // Walk down to a span whose trace has children, then open it.
    const withKids = new Set(spans.filter((s) => s.parent_span_id).map((s) => s.trace_id));
    const rows = [...spans].reverse();
    const at = rows.findIndex((s) => withKids.has(s.trace_id));
    await press(...Array(at).fill('j'), KEY.enter);
    const traceId = rows[at].trace_id;
    expect(frame()).toContain(`Trace ${traceId}`);
    const n = spans.filter((s) => s.trace_id === traceId).length;
    expect(frame()).toContain(`${n} spans`);
    expect(frame()).toMatch(/[├└]─ \S+/);
    await press(KEY.esc);
    expect(frame()).toContain('Traces (60)');
  });

  it('health shows sync state, services and analyzer', async () => {
    const { frame, press, model } = mount();
    await press('6');
    const f = frame();
    expect(f).toContain(`revision ${model.revision} · checksum verified yes · resyncs 0`);
    expect(f).toMatch(/xavos\s+down/);
    expect(f).toMatch(/jaeger\s+up/);
    expect(f).toContain('mode fallback');
    model.applyDelta({ type: 'delta', revision: model.revision + 5, changes: [], timestamp_ns: '0', checksum: 'x' });
    await tick();
    expect(frame()).toContain('checksum verified no · resyncs 1');
    expect(frame()).toContain('UNVERIFIED');
  });
});

describe('chrome and keys', () => {
  it('switches panels with tab, shift-tab and number keys', async () => {
    const { frame, press } = mount();
    await tick();
    expect(frame()).toContain('Agents (12)');
    await press(KEY.tab);
    expect(frame()).toContain('Claims / work');
    await press('\x1b[Z'); // shift-tab
    expect(frame()).toContain('Agents (12)');
    await press('4');
    expect(frame()).toContain('Shannon entropy');
    await press('6');
    expect(frame()).toContain('Analyzer');
    await press(KEY.tab);
    expect(frame()).toContain('Files: path leases');
    await press(KEY.tab);
    expect(frame()).toContain('Agents (12)'); // wraps around
    await press('7');
    expect(frame()).toContain('Files: path leases');
  });

  it('toggles the help overlay with ? and closes it with esc', async () => {
    const { frame, press } = mount();
    await tick();
    expect(frame()).not.toContain('Keys (? or esc to close)');
    await press('?');
    expect(frame()).toContain('Keys (? or esc to close)');
    expect(frame()).toContain('release the selected claim');
    await press('?');
    expect(frame()).not.toContain('Keys (? or esc to close)');
    await press('?', KEY.esc);
    expect(frame()).toContain('Agents (12)');
  });

  it('fits the help overlay in a 60x15 terminal: one entry per line, wrapped not overlapped, and scrolls to the rest', async () => {
    const { frame, press } = mount({ size: { columns: 60, rows: 15 } });
    await tick();
    await press('?');
    const expected: [string, string][] = [
      ['↑/↓  j/k', 'move selection'],
      ['PgUp/PgDn  g/G', 'page up/down, top, bottom'],
      ['tab  shift-tab', 'next / previous panel'],
      ['1-7', 'agents, claims, latency, entropy, traces, health, files (path leases)'],
      ['/', 'filter: type, enter applies, esc clears'],
      ['s  S', 'cycle sort column, reverse order'],
      ['enter', "drill down (agent, work item, trace tree, a lease's holder)"],
      ['esc', 'back, or clear the filter'],
      ['r', 'release the selected claim (claims, --allow-write)'],
      ['o', 'mark the selected agent offline (agents, --allow-write)'],
      ['?', 'toggle this help'],
      ['q  ctrl-c', 'quit'],
    ];
    // Every help line seen, by its index in the whole help text (the title says which lines are shown).
    const seen = new Map<number, string>();
    let total = 0;
    for (let step = 0; step < 40; step++) {
      const lines = frame().split('\n');
      expect(lines.length).toBeLessThanOrEqual(15);
      for (const l of lines) expect([...l].length).toBeLessThanOrEqual(60);
      const box = lines.filter((l) => l.startsWith('│')).map((l) => l.replace(/^│ ?/, '').replace(/ ?│$/, '').trimEnd());
      const m = /^Keys (\d+)-(\d+)\/(\d+) /.exec(box[0] ?? '');
      expect(m, `title of a scrolling overlay in:\n${frame()}`).not.toBeNull();
      const [from, to] = [Number(m![1]), Number(m![2])];
      total = Number(m![3]);
      expect(box.length - 1).toBe(to - from + 1);
      box.slice(1).forEach((l, i) => seen.set(from - 1 + i, l));
      if (to === total) break;
      await press('j');
    }
    expect(total).toBeGreaterThan(expected.length); // really scrolled: more lines than fit
    expect([...seen.keys()].sort((a, b) => a - b)).toEqual([...Array(total).keys()]);
    // Rebuild the entries: a line starting with text starts an entry, an indented one continues its description.
    const entries: [string, string][] = [];
    for (let i = 0; i < total; i++) {
      const l = seen.get(i)!;
      if (/^\S/.test(l)) {
        const key = expected.find(([k]) => l.startsWith(k + ' ') || l === k)?.[0] ?? l;
        entries.push([key, l.slice(key.length).trim()]);
      } else entries[entries.length - 1][1] = `${entries[entries.length - 1][1]} ${l.trim()}`.trim();
    }
    expect(entries).toEqual(expected);
    // G and g jump to the ends; esc closes.
    await press('g');
    expect(frame()).toMatch(new RegExp(`Keys 1-\\d+/${total} `));
    await press('G');
    expect(frame()).toMatch(new RegExp(`Keys \\d+-${total}/${total} `));
    await press(KEY.esc);
    expect(frame()).toContain('Agents (12)');
  });

  it('quits on q and ctrl-c, but q inside the filter is text', async () => {
    const onQuit = vi.fn();
    const { press, frame } = mount({ onQuit });
    await press('2', '/', 'q');
    expect(onQuit).not.toHaveBeenCalled();
    expect(frame()).toContain('/q_');
    await press(KEY.esc, 'q');
    expect(onQuit).toHaveBeenCalledTimes(1);
    await press('\x03');
    expect(onQuit).toHaveBeenCalledTimes(2);
  });

  it('shows reconnecting and stale-since while keeping the last state', async () => {
    const setup = makeModel();
    const { frame, model } = mount({}, setup);
    await tick();
    expect(frame()).toMatch(/connected\s+rev \d+ verified/);
    model.setConnection('reconnecting', GEN_NOW - 65_000, { attempt: 3 });
    await tick();
    const since = new Date(GEN_NOW - 65_000);
    const hhmmss = [since.getHours(), since.getMinutes(), since.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
    expect(frame()).toContain(`reconnecting… (attempt 3) · stale since ${hhmmss}`);
    expect(frame()).toContain('Agents (12)');
    expect(rowsOf(frame(), 'agent_')).toHaveLength(12);
  });

  it('fits 80x24 and re-lays out on resize to 120x40', async () => {
    const app = mount({ size: undefined });
    const out = app.stdout as unknown as { columns: number; rows: number; emit: (e: string) => void };
    let cols = 80;
    let rows = 24;
    Object.defineProperty(out, 'columns', { get: () => cols, configurable: true });
    Object.defineProperty(out, 'rows', { get: () => rows, configurable: true });
    out.emit('resize');
    await app.press('2');
    const small = app.frame().split('\n');
    expect(small.length).toBeLessThanOrEqual(23);
    for (const l of small) expect([...l].length).toBeLessThanOrEqual(80);
    expect(small[small.length - 1]).toContain('q:quit');
    expect(rowsOf(app.frame(), 'work_')).toHaveLength(24 - 1 - 5 - 2);
    expect(small.join('\n')).toMatch(/work_\d+…\d+/); // ids shortened in the middle at 80 columns

    cols = 120;
    rows = 40;
    out.emit('resize');
    await tick();
    const big = app.frame().split('\n');
    expect(big.length).toBeLessThanOrEqual(39);
    for (const l of big) expect([...l].length).toBeLessThanOrEqual(120);
    expect(rowsOf(app.frame(), 'work_')).toHaveLength(40 - 1 - 5 - 2);
    expect(big.join('\n')).not.toMatch(/work_\d+…\d+/);
  });

  it('emits no colour codes under NO_COLOR, yet still marks the selection', async () => {
    const coloured = mount({}, makeModel({ ratio: 0.9 }));
    await coloured.press('4');
    expect(coloured.lastFrame()).toMatch(COLOR); // sanity: colour is on without NO_COLOR
    const mono = mount({ noColor: true }, makeModel({ ratio: 0.9 }));
    for (const key of ['1', '2', '3', '4', '5', '6']) {
      await mono.press(key);
      expect(mono.lastFrame()).not.toMatch(COLOR);
    }
    await mono.press('1');
    expect(mono.lastFrame()).toContain('\x1b[7m'); // inverse selection
    expect(plain(mono.lastFrame())).toMatch(/^> agent_/m);
  });

  it('redraws a burst of 1,000 deltas in a few frames', async () => {
    const setup = makeModel({ throttleMs: 150 });
    const { frames, model, snap, frame } = mount({ tickMs: 60_000 }, setup);
    await tick(200);
    const before = frames.length;
    const gen = new DeltaGen(snap);
    // Arriving over the link, spread across many event-loop turns (not one synchronous loop).
    const start = Date.now();
    for (let i = 0; i < 100; i++) {
      for (let j = 0; j < 10; j++) model.applyDelta(gen.next());
      await tick(2);
    }
    const first = Object.keys(snap.state.agents)[0];
    model.applyDelta(gen.put('agents', first, { team: 'zeta_team' }));
    const elapsed = Date.now() - start;
    await tick(400);
    expect(elapsed).toBeGreaterThan(150); // long enough that an unthrottled model would redraw ~100 times
    expect(frames.length - before).toBeGreaterThanOrEqual(1);
    expect(frames.length - before).toBeLessThanOrEqual(Math.ceil(elapsed / 150) + 2);
    expect(frame()).toContain('zeta_team');
    expect(model.verified).toBe(true);
  });
});
