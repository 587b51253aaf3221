// The console's root: panel switching, keys, and a throttled subscription to the state cache.
// UI state lives in a ref so several keys arriving in one stdin chunk each see the previous one's
// effect (closures captured at the last render would not).
import { Box, useApp, useInput } from 'ink';
import type { Key } from 'ink';
import type { ReactElement } from 'react';
import { useEffect, useReducer, useRef } from 'react';
import type { ActionResult, Actions } from './model/actions.js';
import type { ConsoleModel } from './model/console-model.js';
import type { AgentRow, LatencyRow, SpanRow, TraceNode, WorkRow } from './model/selectors.js';
import { AGENT_SORTS, agentRows, claimsOf, entropyView, latencyRows, SPAN_SORTS, spanRows, traceTree, WORK_SORTS, workRows } from './model/selectors.js';
import { graphCounts, graphDetail, graphFilterText } from './model/graph-selectors.js';
import { Footer } from './layout/footer.js';
import { Header } from './layout/header.js';
import { HelpOverlay, helpMaxTop, helpRows } from './layout/help.js';
import type { Tone } from './layout/theme.js';
import { ThemeContext } from './layout/theme.js';
import type { Size } from './layout/use-terminal-size.js';
import { useTerminalSize } from './layout/use-terminal-size.js';
import { AgentsPanel } from './panels/agents/agents-panel.js';
import { sessionLines } from './panels/agents/session-detail.js';
import { ClaimsPanel } from './panels/claims/claims-panel.js';
import { FilesPanel } from './panels/files/files-panel.js';
import type { ConflictRow, LeaseRow } from './model/path-selectors.js';
import { conflictRows, LEASE_SORTS, leaseCount, leaseLines, leaseRows } from './model/path-selectors.js';
import { fmtClock } from './layout/format.js';
import { workGraphLines } from './panels/claims/work-detail.js';
import { EntropyPanel } from './panels/entropy/entropy-panel.js';
import { HealthPanel } from './panels/health/health-panel.js';
import { LatencyPanel } from './panels/latency/latency-panel.js';
import type { ListView } from './panels/list-view.js';
import type { PanelId } from './panels/panels.js';
import { PANELS } from './panels/panels.js';
import type { DetailLine } from './panels/record-detail.js';
import { RecordDetail, recordLines } from './panels/record-detail.js';
import { TraceDetail } from './panels/traces/trace-detail.js';
import { TracesPanel } from './panels/traces/traces-panel.js';

export interface AppProps {
  model: ConsoleModel;
  url: string;
  allowWrite?: boolean;
  noColor?: boolean;
  actions?: Actions;
  /** Fixed size (tests); otherwise the terminal's, following resizes. */
  size?: Partial<Size>;
  /** Off when stdin is not a TTY: Ink's raw mode would throw. */
  interactive?: boolean;
  initialPanel?: PanelId;
  clock?: () => number;
  /** Redraw period for ages and the clock. */
  tickMs?: number;
  /** Lease used to call a heartbeat stale until /api/stats says otherwise. */
  defaultStaleMs?: number;
  onQuit?: () => void;
}

interface PanelUi {
  sel: number;
  selKey: string | null;
  filter: string;
  sort: number;
  desc: boolean;
  /** Record key (agents, claims) or trace id (traces) drilled into. */
  detail: string | null;
  detailSel: number;
}

interface Ui {
  panel: PanelId;
  panels: Record<PanelId, PanelUi>;
  help: boolean;
  /** First help line shown: the overlay scrolls on screens too short for it. */
  helpTop: number;
  /** Filter being typed, null when not in filter mode. */
  draft: string | null;
  confirm: { question: string; run: () => Promise<ActionResult> } | null;
  message: { text: string; tone: Tone; at: number } | null;
}

const SORTS: Partial<Record<PanelId, readonly { key: string }[]>> = { agents: AGENT_SORTS, claims: WORK_SORTS, traces: SPAN_SORTS, files: LEASE_SORTS };
const FILTERABLE: readonly PanelId[] = ['agents', 'claims', 'traces', 'files'];
const MESSAGE_MS = 8000;
const CHROME_LINES = 5; // header 3 + footer 2

const freshPanel = (): PanelUi => ({ sel: 0, selKey: null, filter: '', sort: 0, desc: false, detail: null, detailSel: 0 });

type Derived =
  | { kind: 'agents'; rows: AgentRow[]; keys: string[]; total: number }
  | { kind: 'claims'; rows: WorkRow[]; keys: string[]; total: number }
  | { kind: 'traces'; rows: SpanRow[]; keys: string[]; total: number }
  | { kind: 'files'; rows: LeaseRow[]; conflicts: ConflictRow[]; keys: string[]; total: number }
  | { kind: 'latency'; rows: LatencyRow[]; keys: string[]; worst: number[] }
  | { kind: 'static'; keys: string[] };

type DetailView = { kind: 'record'; title: string; lines: DetailLine[] } | { kind: 'trace'; traceId: string; nodes: TraceNode[] };

const spanKey = (r: SpanRow): string => `${r.span.trace_id}/${r.span.span_id}/${r.span.start_time}`;

export function App(props: AppProps): ReactElement {
  const { model, url, allowWrite = false, noColor = false, actions, interactive = true, clock = Date.now, tickMs = 1000, defaultStaleMs = 60_000 } = props;
  const { exit } = useApp();
  const size = useTerminalSize(props.size);
  const [, force] = useReducer((x: number) => x + 1, 0);
  const ui = useRef<Ui>({
    panel: props.initialPanel ?? 'agents',
    panels: {
      agents: freshPanel(),
      claims: freshPanel(),
      latency: freshPanel(),
      entropy: freshPanel(),
      traces: freshPanel(),
      health: freshPanel(),
      files: freshPanel(),
    },
    help: false,
    helpTop: 0,
    draft: null,
    confirm: null,
    message: null,
  });
  const memo = useRef<{ key: string; value: Derived } | null>(null);

  useEffect(() => model.subscribe(force), [model]);
  useEffect(() => {
    const t = setInterval(force, tickMs);
    return () => clearInterval(t);
  }, [tickMs]);

  const now = clock();
  const staleMs = model.stats?.lease_ms ?? defaultStaleMs;
  const bodyHeight = Math.max(3, size.rows - 1 - CHROME_LINES); // one line spare: a full screen makes Ink clear and scroll

  /** Rows of the active panel. Cached per model version and query; ages re-derive once a second at most. */
  const derive = (u: Ui): Derived => {
    const p = u.panels[u.panel];
    // Ages are shown in whole seconds: rows derived within one second are the same rows (and the
    // selectors re-use the rows of unchanged records).
    const nowS = Math.floor(now / 1000) * 1000;
    // Only agent rows carry time (heartbeat age, stale); the others re-derive on changes alone.
    const key = `${u.panel}|${model.version}|${p.filter}|${p.sort}|${p.desc}|${u.panel === 'agents' ? `${nowS}|${staleMs}` : ''}`;
    if (memo.current?.key === key) return memo.current.value;
    const q = { filter: p.filter, sort: p.sort, desc: p.desc };
    let value: Derived;
    switch (u.panel) {
      case 'agents': {
        const rows = agentRows(model.state, { ...q, now: nowS, staleMs }, model.held.counts);
        value = { kind: 'agents', rows, keys: rows.map((r) => r.key), total: Object.keys(model.state.agents).length };
        break;
      }
      case 'claims': {
        const rows = workRows(model.state, q, (r) => graphFilterText(model.state, r.data));
        value = { kind: 'claims', rows, keys: rows.map((r) => r.key), total: Object.keys(model.state.work).length };
        break;
      }
      case 'traces': {
        const rows = spanRows(model.spans.toArray(), q);
        value = { kind: 'traces', rows, keys: rows.map(spanKey), total: model.spans.size };
        break;
      }
      case 'files': {
        const rows = leaseRows(model.state, q);
        const conflicts = conflictRows(model.pathConflicts.toArray(), p.filter);
        value = { kind: 'files', rows, conflicts, keys: rows.map((r) => r.key), total: leaseCount(model.state) };
        break;
      }
      case 'latency': {
        const { rows, worst } = latencyRows(model.stats, model.samples.toArray());
        value = { kind: 'latency', rows, keys: rows.map((r) => r.op), worst };
        break;
      }
      default:
        value = { kind: 'static', keys: [] };
    }
    memo.current = { key, value };
    return value;
  };

  const detailOf = (u: Ui): DetailView | null => {
    const d = u.panels[u.panel].detail;
    if (d === null) return null;
    if (u.panel === 'traces') return { kind: 'trace', traceId: d, nodes: traceTree(model.spans.toArray(), d) };
    if (u.panel === 'agents') {
      const entry = model.state.agents[d];
      const agentId = entry?.data.agent_id;
      const held = claimsOf(model.state, typeof agentId === 'string' ? agentId : d);
      const summary = entry ? sessionLines(entry.data, now) : [];
      return {
        kind: 'record',
        title: `${summary.length ? 'Claude Code session' : 'Agent'} ${d}`,
        // Its path leases before the raw fields: a session's record is longer than a screen.
        lines: [
          ...summary,
          ...leaseLines(model.state, d, fmtClock),
          ...recordLines(entry, [{ field: '(claims held)', value: held.length ? held.join(', ') : 'none' }]),
        ],
      };
    }
    if (u.panel === 'claims')
      return {
        kind: 'record',
        title: `Work ${d}`,
        lines: [...workGraphLines(graphDetail(model.state, model.version, d)), ...recordLines(model.state.work[d])],
      };
    return null;
  };

  /** Selected index: follows the selected record when rows move, else stays in range. */
  const selectedIndex = (p: PanelUi, keys: string[]): number => {
    const byKey = p.selKey === null ? -1 : keys.indexOf(p.selKey);
    if (byKey >= 0) return byKey;
    return keys.length === 0 ? -1 : Math.min(Math.max(0, p.sel), keys.length - 1);
  };

  const update = (fn: (u: Ui) => Partial<Ui>): void => {
    ui.current = { ...ui.current, ...fn(ui.current) };
    force();
  };
  const updatePanel = (fn: (p: PanelUi) => Partial<PanelUi>): void =>
    update((u) => ({ panels: { ...u.panels, [u.panel]: { ...u.panels[u.panel], ...fn(u.panels[u.panel]) } } }));
  const say = (text: string, tone: Tone = 'dim'): void => update(() => ({ message: { text, tone, at: clock() } }));
  const quit = (): void => (props.onQuit ? props.onQuit() : exit());

  const move = (delta: number | 'top' | 'bottom'): void => {
    const u = ui.current;
    const p = u.panels[u.panel];
    const detail = detailOf(u);
    if (detail) {
      const n = detail.kind === 'trace' ? detail.nodes.length : detail.lines.length;
      const at = delta === 'top' ? 0 : delta === 'bottom' ? n - 1 : p.detailSel + delta;
      updatePanel(() => ({ detailSel: Math.max(0, Math.min(n - 1, at)) }));
      return;
    }
    const { keys } = derive(u);
    if (keys.length === 0) return;
    const cur = selectedIndex(p, keys);
    const at = Math.max(0, Math.min(keys.length - 1, delta === 'top' ? 0 : delta === 'bottom' ? keys.length - 1 : cur + delta));
    updatePanel(() => ({ sel: at, selKey: keys[at] }));
  };

  const switchPanel = (panel: PanelId): void => update(() => ({ panel, draft: null }));

  const drill = (): void => {
    const u = ui.current;
    const p = u.panels[u.panel];
    if (p.detail !== null) return;
    const d = derive(u);
    const i = selectedIndex(p, d.keys);
    if (i < 0) return;
    if (d.kind === 'agents' || d.kind === 'claims') updatePanel(() => ({ detail: d.rows[i].key, detailSel: 0 }));
    else if (d.kind === 'files') {
      // A lease opens its holder: the agents panel's drill-down, which lists all its leases.
      const agent = d.rows[i].agent;
      update((v) => ({ panel: 'agents', panels: { ...v.panels, agents: { ...v.panels.agents, detail: agent, detailSel: 0 } } }));
    } else if (d.kind === 'traces') updatePanel(() => ({ detail: d.rows[i].span.trace_id, detailSel: 0 }));
  };

  const ask = (question: string, run: () => Promise<ActionResult>): void => update(() => ({ confirm: { question, run }, message: null }));

  const mutate = (what: 'release' | 'offline'): void => {
    const u = ui.current;
    if (!allowWrite || !actions) {
      say(`read-only: start ai-console with --allow-write to ${what === 'release' ? 'release claims' : 'mark agents offline'}`, 'warn');
      return;
    }
    const p = u.panels[u.panel];
    const d = derive(u);
    const i = selectedIndex(p, d.keys);
    const key = p.detail ?? (i >= 0 ? d.keys[i] : null);
    if (key === null) return;
    if (what === 'release') {
      const data = model.state.work[key]?.data;
      const holder = typeof data?.agent_id === 'string' && data.agent_id ? data.agent_id : null;
      const id = typeof data?.work_item_id === 'string' ? data.work_item_id : key;
      if (!holder) return say(`${id} has no holder to release`, 'warn');
      ask(`Release ${id} held by ${holder}?`, () => actions.release(id, holder));
    } else {
      const agentId = model.state.agents[key]?.data.agent_id;
      const id = typeof agentId === 'string' ? agentId : key;
      ask(`Mark agent ${id} offline?`, () => actions.markOffline(id));
    }
  };

  const onKey = (input: string, key: Key): void => {
    const u = ui.current;
    if (key.ctrl && input === 'c') return quit();
    // Keys typed fast (or auto-repeat over a slow SSH link) arrive as one chunk: "jjj", or a filter
    // typed or pasted with its Enter: "blocked\r". Each key is taken on its own.
    if (!key.ctrl && !key.meta && [...input].length > 1 && (u.draft === null || input.includes('\r'))) {
      for (const ch of input) onKey(ch === '\r' ? '' : ch, { ...key, return: ch === '\r', shift: ch !== ch.toLowerCase() });
      return;
    }
    if (u.confirm) {
      if (input === 'y' || input === 'Y') {
        const { run } = u.confirm;
        update(() => ({ confirm: null, message: { text: 'working…', tone: 'dim', at: clock() } }));
        run().then(
          (r) => say(r.message, r.ok ? 'ok' : 'error'),
          (e: unknown) => say(`failed: ${e instanceof Error ? e.message : String(e)}`, 'error'),
        );
      } else if (input === 'n' || input === 'N' || key.escape) update(() => ({ confirm: null, message: { text: 'cancelled', tone: 'dim', at: clock() } }));
      return;
    }
    if (u.draft !== null) {
      if (key.escape || key.return) {
        const f = key.return ? u.draft.trim() : '';
        update(() => ({ draft: null }));
        updatePanel(() => ({ filter: f, sel: 0, selKey: null }));
      } else if (key.backspace || key.delete) update((v) => ({ draft: (v.draft ?? '').slice(0, -1) }));
      else if (input && !key.ctrl && !key.meta && !key.tab && !key.upArrow && !key.downArrow) update((v) => ({ draft: (v.draft ?? '') + input }));
      return;
    }
    if (u.help) {
      const maxTop = helpMaxTop(size.columns, bodyHeight);
      const scroll = (to: number): void => update(() => ({ helpTop: Math.min(maxTop, Math.max(0, to)) }));
      if (input === '?' || key.escape) update(() => ({ help: false }));
      else if (input === 'q') quit();
      else if (key.upArrow || input === 'k') scroll(u.helpTop - 1);
      else if (key.downArrow || input === 'j') scroll(u.helpTop + 1);
      else if (key.pageUp) scroll(u.helpTop - helpRows(bodyHeight));
      else if (key.pageDown) scroll(u.helpTop + helpRows(bodyHeight));
      else if (key.home || input === 'g') scroll(0);
      else if (key.end || input === 'G') scroll(maxTop);
      return;
    }
    const idx = PANELS.findIndex((p) => p.id === u.panel);
    const page = Math.max(1, bodyHeight - 3);
    if (input === 'q') quit();
    else if (input === '?') update(() => ({ help: true, helpTop: 0 }));
    else if (key.tab) switchPanel(PANELS[(idx + (key.shift ? PANELS.length - 1 : 1)) % PANELS.length].id);
    else if (new RegExp(`^[1-${PANELS.length}]$`).test(input)) switchPanel(PANELS[Number(input) - 1].id);
    else if (key.upArrow || input === 'k') move(-1);
    else if (key.downArrow || input === 'j') move(1);
    else if (key.pageUp) move(-page);
    else if (key.pageDown) move(page);
    else if (key.home || input === 'g') move('top');
    else if (key.end || input === 'G') move('bottom');
    else if (key.return) drill();
    else if (key.escape) {
      const p = u.panels[u.panel];
      if (p.detail !== null) updatePanel(() => ({ detail: null }));
      else if (p.filter) updatePanel(() => ({ filter: '', sel: 0, selKey: null }));
    } else if (input === '/') {
      if (FILTERABLE.includes(u.panel) && u.panels[u.panel].detail === null) update(() => ({ draft: u.panels[u.panel].filter, message: null }));
      else say('no filter on this view');
    } else if (input === 's' || input === 'S') {
      const sorts = SORTS[u.panel];
      if (!sorts || u.panels[u.panel].detail !== null) say('no sort on this view');
      else if (input === 's') updatePanel((p) => ({ sort: (p.sort + 1) % sorts.length, desc: false }));
      else updatePanel((p) => ({ desc: !p.desc }));
    } else if (input === 'r' && u.panel === 'claims') mutate('release');
    else if (input === 'o' && u.panel === 'agents') mutate('offline');
  };

  useInput(onKey, { isActive: interactive });

  // ---- render
  const u = ui.current;
  const p = u.panels[u.panel];
  const width = size.columns;
  const d = derive(u);
  const selected = selectedIndex(p, d.keys);
  const detail = detailOf(u);
  const view: ListView = {
    selected,
    width,
    height: bodyHeight,
    filter: p.filter,
    desc: p.desc,
    now,
    sort: SORTS[u.panel]?.[p.sort]?.key ?? '',
    total: 'total' in d ? d.total : 0,
    empty: !model.hasSnapshot && u.panel !== 'traces' ? "waiting for the daemon's state…" : undefined,
  };

  let body: ReactElement;
  if (u.help) body = <HelpOverlay width={width} height={bodyHeight} top={u.helpTop} />;
  else if (detail?.kind === 'trace')
    body = (
      <TraceDetail traceId={detail.traceId} nodes={detail.nodes} selected={Math.min(p.detailSel, detail.nodes.length - 1)} width={width} height={bodyHeight} />
    );
  else if (detail?.kind === 'record')
    body = (
      <RecordDetail title={detail.title} lines={detail.lines} selected={Math.min(p.detailSel, detail.lines.length - 1)} width={width} height={bodyHeight} />
    );
  else if (d.kind === 'agents') body = <AgentsPanel rows={d.rows} view={view} sessions={model.statuses.snapshot().sessions > 0} />;
  else if (d.kind === 'claims') body = <ClaimsPanel rows={d.rows} view={view} state={model.state} graph={graphCounts(model.state, model.version)} />;
  else if (d.kind === 'traces') body = <TracesPanel rows={d.rows} view={view} />;
  else if (d.kind === 'files') body = <FilesPanel leases={d.rows} conflicts={d.conflicts} view={view} />;
  else if (d.kind === 'latency') {
    body = (
      <LatencyPanel
        rows={d.rows}
        worst={d.worst}
        selected={selected}
        width={width}
        height={bodyHeight}
        statsAgeMs={model.statsAt === null ? null : now - model.statsAt}
        statsError={model.statsError}
        sampleEveryMs={2000}
      />
    );
  } else if (u.panel === 'entropy') {
    body = (
      <EntropyPanel
        view={entropyView(model.stats, model.samples.toArray())}
        hasStats={model.stats !== null}
        fields={model.stats?.entropy.fields}
        width={width}
        height={bodyHeight}
      />
    );
  } else body = <HealthPanel model={model} url={url} now={now} width={width} height={bodyHeight} />;

  const listPanel = FILTERABLE.includes(u.panel);
  const keys = [
    'q:quit',
    '?:help',
    `tab/1-${PANELS.length}:panel`,
    ...(detail ? ['esc:back', 'j/k:scroll'] : listPanel ? ['j/k:move', '/:filter', 's:sort', 'enter:open'] : u.panel === 'latency' ? ['j/k:move'] : []),
    ...(allowWrite && u.panel === 'claims' ? ['r:release'] : []),
    ...(allowWrite && u.panel === 'agents' ? ['o:offline'] : []),
  ].join(' ');
  const message = u.message && now - u.message.at < MESSAGE_MS ? u.message : null;

  return (
    <ThemeContext.Provider value={{ noColor }}>
      <Box flexDirection="column" width={width} height={size.rows - 1} overflowY="hidden">
        <Header model={model} url={url} active={u.panel} allowWrite={allowWrite} now={now} />
        <Box flexDirection="column" height={bodyHeight} overflowY="hidden">
          {body}
        </Box>
        <Footer filterDraft={u.draft} confirm={u.confirm?.question ?? null} message={message} keys={' ' + keys} />
      </Box>
    </ThemeContext.Provider>
  );
}
