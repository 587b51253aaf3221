// systemd readiness for Type=notify units. Node has no unix datagram sockets, so the `systemd-notify`
// tool sends the message (the unit has NotifyAccess=all; --pid names this process as the main one, and
// the tool waits until systemd processed the message, so its early exit loses nothing). Only when
// NOTIFY_SOCKET is set: outside systemd this does nothing at all.
import { spawn } from 'node:child_process';
import { processEnv } from './config.js';

export interface NotifyLogger {
  warn(obj: object, msg?: string): void;
  debug?(obj: object, msg?: string): void;
}

export class SystemdNotifier {
  private readonly socket: string | null;
  private missing = false;

  /** Takes NOTIFY_SOCKET out of `env` (children such as analyzer commands must not speak for us). */
  constructor(
    env: NodeJS.ProcessEnv = processEnv(),
    private readonly logger?: NotifyLogger,
    private readonly tool = 'systemd-notify',
  ) {
    this.socket = env.NOTIFY_SOCKET || null;
    delete env.NOTIFY_SOCKET;
  }

  get enabled(): boolean {
    return this.socket !== null;
  }

  /** READY=1 with a status line: the API listens and the store is open. */
  ready(status: string): Promise<boolean> {
    return this.notify({ READY: '1', STATUS: status });
  }

  status(status: string): Promise<boolean> {
    return this.notify({ STATUS: status });
  }

  stopping(): Promise<boolean> {
    return this.notify({ STOPPING: '1', STATUS: 'draining requests and flushing the journal' });
  }

  /** Sends `fields`; resolves true once systemd has them, false otherwise (never rejects). */
  notify(fields: Record<string, string>): Promise<boolean> {
    if (!this.socket || this.missing) return Promise.resolve(false);
    const args = [`--pid=${process.pid}`, ...Object.entries(fields).map(([k, v]) => `${k}=${v.replace(/\n/g, ' ')}`)];
    return new Promise((resolve) => {
      const child = spawn(this.tool, args, { env: { ...processEnv(), NOTIFY_SOCKET: this.socket! }, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (c) => (stderr += c));
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      timer.unref();
      child.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (err.code === 'ENOENT') {
          this.missing = true;
          this.logger?.warn(
            { tool: this.tool },
            'NOTIFY_SOCKET is set but systemd-notify is not installed: systemd will not learn that the daemon is ready (install systemd, or use Type=simple)',
          );
        } else this.logger?.warn({ err: err.message }, 'systemd notification failed');
        resolve(false);
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        if (code !== 0) this.logger?.warn({ code, stderr: stderr.trim().slice(0, 300) }, 'systemd-notify failed');
        resolve(code === 0);
      });
    });
  }
}
