// ai-console end to end in a real terminal: tmux runs the compiled console against a real daemon, and
// the test reads the screen with capture-pane. It covers what a fake terminal cannot: raw mode, the
// first frame, live updates, SIGWINCH on resize, the daemon dying and coming back on the same port,
// and quitting with the terminal handed back in a usable state.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../client/api.js';
import { CONSOLE_CLI, startDaemon, type DaemonHandle } from './helpers/daemon.js';
import { requireTool } from './helpers/system-tools.js';
import { Terminal } from './helpers/terminal.js';

const HAS_TMUX = requireTool('tmux');
const term = new Terminal('aic-e2e');
const SESSION = term.session;
const tmux = (...args: string[]): string => term.tmux(...args);
const screen = (): string => term.screen();
const paneSize = (): string => term.paneSize();
const waitForScreen = (pred: (s: string) => boolean, what: string, ms = 10_000): Promise<string> => term.waitForScreen(pred, what, ms);

const lineWith = (s: string, needle: string): string => s.split('\n').find((l) => l.includes(needle)) ?? '';

describe.skipIf(!HAS_TMUX)('ai-console in a real terminal (tmux)', () => {
  let daemon: DaemonHandle;
  let api: ApiClient;

  beforeAll(async () => {
    daemon = await startDaemon({ args: ['--lease-ms', '600000'] });
    api = new ApiClient({ url: daemon.url });
    for (const [i, team] of ['backend', 'frontend', 'qa'].entries()) {
      expect((await api.post('/api/agents', { agent_id: `e2e_agent_${i + 1}`, team })).status).toBe(201);
    }
    for (const [work, agent] of [
      ['work_e2e_1', 'e2e_agent_1'],
      ['work_e2e_2', 'e2e_agent_1'],
      ['work_e2e_3', 'e2e_agent_2'],
    ]) {
      expect((await api.post('/api/coordination/claim', { work_id: work, agent_id: agent, work_type: 'bug_fix' })).status).toBe(200);
    }
    // The console's exit status and the terminal mode after it are printed into the same pane.
    const cmd =
      `env -u AI_PROCESSOR_TOKEN -u AI_PROCESSOR_URL -u NO_COLOR ${JSON.stringify(process.execPath)} ${JSON.stringify(CONSOLE_CLI)} --url ${daemon.url}; ` +
      `echo CONSOLE_EXITED=$?; stty -a | grep -oE -- '-?icanon'; sleep 60`;
    tmux('new-session', '-d', '-s', SESSION, '-x', '80', '-y', '24', cmd);
  });

  afterAll(async () => {
    term.close();
    await daemon?.stop('SIGKILL');
  });

  it('draws the agents panel with their claims at 80x24', async () => {
    expect(paneSize()).toBe('80x24');
    const s = await waitForScreen((x) => x.includes('e2e_agent_3') && x.includes('verified'), 'the first frame');
    expect(lineWith(s, 'ai-console')).toContain('connected');
    expect(s).toContain('Agents (3)');
    // e2e_agent_1 holds two claims, e2e_agent_2 one, e2e_agent_3 none: the last column.
    expect(lineWith(s, 'e2e_agent_1').trim().split(/\s+/).pop()).toBe('2');
    expect(lineWith(s, 'e2e_agent_2').trim().split(/\s+/).pop()).toBe('1');
    expect(lineWith(s, 'e2e_agent_3').trim().split(/\s+/).pop()).toBe('0');
    expect(lineWith(s, 'e2e_agent_2')).toContain('frontend');
    for (const line of s.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
  });

  it('shows claims and follows a change made through the API', async () => {
    tmux('send-keys', '-t', SESSION, '2');
    let s = await waitForScreen((x) => x.includes('work_e2e_3'), 'the claims panel');
    expect(lineWith(s, 'work_e2e_1')).toContain('e2e_agent_1');
    expect(lineWith(s, 'work_e2e_3')).toContain('e2e_agent_2');
    expect(lineWith(s, 'work_e2e_1')).not.toContain('55%');

    expect((await api.post('/api/coordination/progress', { work_id: 'work_e2e_1', agent_id: 'e2e_agent_1', progress: 55 })).status).toBe(200);
    s = await waitForScreen((x) => lineWith(x, 'work_e2e_1').includes('55%'), 'the progress update', 5000);
    expect(lineWith(s, 'work_e2e_1')).toContain('in_progress');
  });

  it('re-lays out on resize to 120x40 and keeps the content', async () => {
    tmux('resize-window', '-t', SESSION, '-x', '120', '-y', '40');
    expect(paneSize()).toBe('120x40');
    // The wider frame gives the columns more room: the footer/header line grows past 80 columns or
    // the rows gain padding; either way the frame is redrawn for 40 rows with the claims still on it.
    const s = await waitForScreen((x) => x.split('\n').some((l) => l.length > 80) && x.includes('work_e2e_3'), 'the resized frame');
    expect(lineWith(s, 'work_e2e_1')).toContain('55%');
    expect(lineWith(s, 'ai-console')).toContain('connected');
    const lines = s.split('\n');
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(120);
    // The footer (key help) sits near the bottom of the 40-row pane, not where the 24-row frame ended.
    const footerRow = lines.findIndex((l) => l.includes('q:quit'));
    expect(footerRow).toBeGreaterThan(30);
  });

  it('says reconnecting when the daemon dies, keeping the last state', async () => {
    await daemon.stop('SIGKILL');
    const s = await waitForScreen((x) => lineWith(x, 'ai-console').includes('reconnecting'), '"reconnecting"');
    expect(s).toContain('work_e2e_1');
    expect(lineWith(s, 'work_e2e_1')).toContain('55%');
  });

  it('comes back when the daemon restarts on the same port and data dir', async () => {
    const { port, dataDir } = daemon;
    daemon = await startDaemon({ dataDir, args: ['--port', String(port), '--lease-ms', '600000'] });
    api = new ApiClient({ url: daemon.url });
    await waitForScreen((x) => /ai-console .* connected .* verified/.test(lineWith(x, 'ai-console')), 'the reconnect', 15_000);
    expect((await api.post('/api/coordination/complete', { work_id: 'work_e2e_3', agent_id: 'e2e_agent_2' })).status).toBe(200);
    const s = await waitForScreen((x) => lineWith(x, 'work_e2e_3').includes('completed'), 'a change after the restart', 5000);
    expect(lineWith(s, 'work_e2e_1')).toContain('55%');
    tmux('send-keys', '-t', SESSION, '1');
    await waitForScreen((x) => x.includes('Agents (3)') && x.includes('e2e_agent_3'), 'the agents panel again');
  });

  it('quits on q, exits 0 and hands the terminal back in canonical mode', async () => {
    tmux('send-keys', '-t', SESSION, 'q');
    const s = await waitForScreen((x) => x.includes('CONSOLE_EXITED='), 'the console to exit');
    expect(s).toContain('CONSOLE_EXITED=0');
    // Raw mode undone: the shell line discipline is back (stty prints icanon, not -icanon).
    await waitForScreen((x) => /^-?icanon$/m.test(x), 'stty output', 5000);
    expect(screen()).toMatch(/^icanon$/m);
    // Our frame is erased rather than left behind, and the cursor is visible again.
    expect(screen()).not.toContain('q:quit');
    expect(tmux('display-message', '-p', '-t', SESSION, '#{cursor_flag}').trim()).toBe('1');
    expect(tmux('display-message', '-p', '-t', SESSION, '#{pane_current_command}').trim()).toBe('sleep');
  });
});
