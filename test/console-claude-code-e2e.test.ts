// Claude Code sessions in ai-console, end to end: recorded hook payloads POSTed to a real daemon, the
// compiled console in tmux (read with capture-pane), and its output bytes recorded with pipe-pane to
// count the bells (--bell) a session starting to wait rings.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../client/api.js';
import { CONSOLE_CLI, ROOT, startDaemon, tempDir, type DaemonHandle } from './helpers/daemon.js';
import { requireTool } from './helpers/system-tools.js';
import { Terminal } from './helpers/terminal.js';

const HAS_TMUX = requireTool('tmux');
const term = new Terminal('aic-cc');
const SOCKET = term.socket;
const SESSION = term.session;
const FIXTURES = path.join(ROOT, 'test/fixtures/claude-code/hooks');

// The working session's id sorts before the waiting one's: only the attention order puts the waiting one on top.
const WORKING = '0a0a0a0a-1111-4111-8111-000000000001';
const WAITING = 'f0f0f0f0-2222-4222-8222-000000000002';

const tmux = (...args: string[]): string => term.tmux(...args);
const lines = (s: string): string[] => s.split('\n');
// Ids are shortened in the middle on screen; their last digits survive.
const rowOf = (s: string, sessionId: string): number =>
  lines(s).findIndex((l) => (l.startsWith('  cc_') || l.startsWith('> cc_') ? l.includes(sessionId.slice(-6)) : false));

const waitFor = <T>(probe: () => T | undefined | false, what: string, ms = 20_000): Promise<T> => term.waitFor(probe, what, ms);
const waitForScreen = (pred: (s: string) => boolean, what: string, ms?: number): Promise<string> => term.waitForScreen(pred, what, ms);

describe.skipIf(!HAS_TMUX)('ai-console with Claude Code sessions (tmux, real daemon)', () => {
  let daemon: DaemonHandle;
  let api: ApiClient;
  let workDir: string;
  let cwd: string;
  let bytesFile: string;

  /** A recorded hook payload for one of our sessions, POSTed as Claude Code would. */
  async function hook(fixture: string, sessionId: string, patch: Record<string, unknown> = {}): Promise<void> {
    const body = JSON.parse(readFileSync(path.join(FIXTURES, `${fixture}.json`), 'utf8')) as Record<string, unknown>;
    Object.assign(body, { session_id: sessionId, cwd, transcript_path: path.join(workDir, `${sessionId}.jsonl`) }, patch);
    const res = await api.post('/api/hooks/claude-code', body);
    expect(res.status).toBe(200);
  }

  const output = (): string => readFileSync(bytesFile, 'latin1');
  const bells = (): number => output().split('\x07').length - 1;
  const size = (): number => output().length;
  /** Waits until the console has written `text` after byte `from`; the bells written so far. */
  async function drawn(from: number, text: string): Promise<number> {
    await waitFor(() => output().includes(text, from), `"${text}" written after byte ${from}`);
    return bells();
  }
  const revision = async (): Promise<number> => (await api.get<{ revision: number }>('/api/stats')).body.revision;
  /** Waits until the console shows the daemon's current revision (every change so far has been drawn). */
  async function caughtUp(): Promise<void> {
    const rev = await revision();
    await waitForScreen((s) => new RegExp(`rev ${rev} verified`).test(lines(s)[0]), `the console at rev ${rev}`);
  }

  beforeAll(async () => {
    workDir = tempDir('aic-cc-');
    // A repository for the sessions to work in: the daemon names the project after its top level.
    cwd = path.join(workDir, 'shopfront');
    mkdirSync(path.join(cwd, '.git'), { recursive: true });
    bytesFile = path.join(workDir, 'pane-output.bin');
    writeFileSync(bytesFile, '');
    daemon = await startDaemon({ args: ['--lease-ms', '600000'] });
    api = new ApiClient({ url: daemon.url });
    expect((await api.post('/api/agents', { agent_id: 'e2e_legacy_agent', team: 'backend' })).status).toBe(201);

    await hook('SessionStart', WORKING);
    await hook('PreToolUse.Edit', WORKING, { tool_input: { file_path: path.join(cwd, 'src/db.ts'), old_string: 'a', new_string: 'b' } });
    await hook('SessionStart', WAITING);
    await hook('PreToolUse.Bash', WAITING);
    await hook('Notification.permission_prompt', WAITING);

    // The console waits for the pipe to be in place, so every byte it writes is recorded.
    const run = `${JSON.stringify(process.execPath)} ${JSON.stringify(CONSOLE_CLI)} --url ${daemon.url} --bell`;
    tmux(
      'new-session',
      '-d',
      '-s',
      SESSION,
      '-x',
      '100',
      '-y',
      '30',
      `tmux -L ${SOCKET} wait-for aic-go; env -u AI_PROCESSOR_TOKEN -u AI_PROCESSOR_URL -u NO_COLOR ${run}; sleep 60`,
    );
    tmux('pipe-pane', '-O', '-t', SESSION, `cat >> ${JSON.stringify(bytesFile)}`);
    tmux('wait-for', '-S', 'aic-go');
  });

  afterAll(async () => {
    term.close();
    await daemon?.stop('SIGKILL');
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it('shows the session needing input above the working one, marked, with project, activity and the fleet line', async () => {
    const s = await waitForScreen(
      (x) => rowOf(x, WAITING) >= 0 && rowOf(x, WORKING) >= 0 && x.includes('e2e_legacy_agent') && x.includes('shopfront') && /verified/.test(lines(x)[0]),
      'both sessions on screen',
    );
    const waiting = lines(s)[rowOf(s, WAITING)];
    const working = lines(s)[rowOf(s, WORKING)];
    expect(rowOf(s, WAITING)).toBeLessThan(rowOf(s, WORKING));
    expect(rowOf(s, WORKING)).toBeLessThan(lines(s).findIndex((l) => l.includes('e2e_legacy_agent')));
    expect(waiting).toMatch(/! input \d+s/);
    expect(waiting).toContain('shopfront');
    expect(waiting).toContain('Bash npm test');
    expect(working).toContain('working');
    expect(working).toContain('Edit src/db.ts');
    expect(working).not.toContain('! input');
    expect(s).toContain('fleet: 3 agents  ! 1 needs input · 1 working · 0 idle');
    expect(s).toContain('! 1 needs input');
    for (const l of lines(s)) expect(l.length).toBeLessThanOrEqual(100);
  });

  it('rings the bell once when a session starts waiting, not for one already waiting at start or a repeated prompt', async () => {
    // The pane's bytes arrive in the file in order, and the console writes a bell before the frame
    // it goes with: once a frame's text is in the file, so is every bell written before it.
    expect(await drawn(0, '! 1 needs input')).toBe(0); // the first frames: the session already waiting rang nothing

    // The working session is asked for a permission: one bell.
    let mark = size();
    await hook('Notification.permission_prompt', WORKING);
    expect(await drawn(mark, '! 2 needs input')).toBe(1);
    await waitForScreen((x) => /! input/.test(lines(x)[rowOf(x, WORKING)] ?? ''), 'the second session waiting');
    // Detached tmux sessions keep the alert: the bell reached the terminal.
    await waitFor(() => tmux('display-message', '-p', '-t', SESSION, '#{window_bell_flag}').trim() === '1', "tmux's bell flag");

    // A repeated prompt within the same wait, then the other session back to work (a frame with one
    // waiting: any bell for the repeat is in the file by then), then waiting again.
    await hook('Notification.permission_prompt', WORKING, { message: 'Claude needs your permission to use Edit' });
    await caughtUp();
    mark = size();
    await hook('PreToolUse.Bash', WAITING);
    expect(await drawn(mark, '! 1 needs input')).toBe(1);
    mark = size();
    await hook('Notification.permission_prompt', WAITING);
    expect(await drawn(mark, '! 2 needs input')).toBe(2);
  });
});
