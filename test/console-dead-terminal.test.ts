// The console when its terminal goes away (an SSH link dropped, a tmux pane closed): SIGHUP, then
// every write to the terminal fails with EIO. The console closes as on SIGHUP and exits 129; it used
// to die on the unhandled stream error, and node then aborted restoring the dead terminal's modes.
// A shell that ignores SIGHUP outlives the pane and writes the console's exit status to a file.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_CLI, startDaemon, tempDir, type DaemonHandle } from './helpers/daemon.js';
import { requireTool } from './helpers/system-tools.js';
import { Terminal } from './helpers/terminal.js';

const HAS_TMUX = requireTool('tmux');

describe.skipIf(!HAS_TMUX)('ai-console on a terminal that goes away', () => {
  let daemon: DaemonHandle;
  const term = new Terminal('aic-dead');
  const dir = tempDir('aic-dead-');

  beforeAll(async () => {
    daemon = await startDaemon();
  });

  afterAll(async () => {
    term.close();
    await daemon?.stop();
  });

  it('exits 129 with its error output empty, no crash', async () => {
    const status = path.join(dir, 'status');
    const errors = path.join(dir, 'stderr');
    const q = JSON.stringify;
    const console = `env -u AI_PROCESSOR_TOKEN -u AI_PROCESSOR_URL -u NO_COLOR ${q(process.execPath)} ${q(CONSOLE_CLI)} --url ${daemon.url} 2>${q(errors)}`;
    // Single quotes: the status is the inner shell's $?, not expanded by the shell tmux runs.
    term.start(`sh -c 'trap "" HUP; ${console}; echo $? > ${q(status)}'`, 100, 30);
    await term.waitForScreen((s) => s.includes('connected') && s.includes('q:quit'), 'the console');
    term.tmux('kill-session', '-t', term.session);
    const code = await term.waitFor(() => existsSync(status) && readFileSync(status, 'utf8').trim(), 'the exit status', 30_000);
    expect(code).toBe('129');
    expect(readFileSync(errors, 'utf8')).not.toMatch(/Error|Assertion/);
  });
});
