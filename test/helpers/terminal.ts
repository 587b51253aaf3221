// A real terminal for the console's end-to-end tests: a tmux server of its own (one socket per test
// file), the screen read with capture-pane, keys sent one at a time as typed.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';

export class Terminal {
  readonly socket: string;

  constructor(
    prefix: string,
    readonly session = 'console',
  ) {
    this.socket = `${prefix}-${process.pid}-${Date.now().toString(36)}`;
  }

  tmux(...args: string[]): string {
    return execFileSync('tmux', ['-L', this.socket, ...args], { encoding: 'utf8', env: { ...process.env, TERM: 'xterm-256color' } });
  }

  /** Starts `cmd` in a detached session of the given size. */
  start(cmd: string, width: number, height: number): void {
    this.tmux('new-session', '-d', '-s', this.session, '-x', String(width), '-y', String(height), cmd);
  }

  screen(): string {
    return this.tmux('capture-pane', '-p', '-t', this.session);
  }

  paneSize(): string {
    return this.tmux('display-message', '-p', '-t', this.session, '#{pane_width}x#{pane_height}').trim();
  }

  /** Keys one at a time, as typed (a single send-keys string would arrive as one chunk). */
  keys(...k: string[]): void {
    for (const key of k) this.tmux('send-keys', '-t', this.session, key);
  }

  /** Polls until `probe` gives a value; fails with the last screen in the message. */
  async waitFor<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, what: string, ms = 15_000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; screen:\n${this.screen()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Polls the screen until `pred` holds (E2E_SHOW_SCREENS=1 prints each screen waited for). */
  async waitForScreen(pred: (s: string) => boolean, what: string, ms?: number): Promise<string> {
    const s = await this.waitFor(
      () => {
        const x = this.screen();
        return pred(x) ? x : undefined;
      },
      what,
      ms,
    );
    if (process.env.E2E_SHOW_SCREENS === '1') process.stderr.write(`--- ${what} (${this.paneSize()})\n${s}\n`);
    return s;
  }

  /** Ends the tmux server (tmux 3.3 leaves its socket file behind on kill-server: removed too). */
  close(): void {
    try {
      const socketPath = this.tmux('display-message', '-p', '#{socket_path}').trim();
      this.tmux('kill-server');
      if (socketPath) rmSync(socketPath, { force: true });
    } catch {
      // already gone
    }
  }
}
