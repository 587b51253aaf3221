// `ai-processor start`: the daemon's command line and its life in the process (signals, reload,
// systemd notifications). The rest of the program's commands are the clients' (cli/).
import type { Command } from 'commander';
import { Option } from 'commander';
import { isMainThread, parentPort } from 'node:worker_threads';
import { isStopDaemonThread, type DaemonThreadReady } from '../shared/daemon-thread.js';
import { num } from '../shared/cli-args.js';
import { EXIT } from '../shared/exit-codes.js';
import { ConfigError, START_FLAGS, flagHelp, loadConfig, processEnv, type DaemonConfig } from './config.js';

export function registerStartCommand(program: Command): void {
  const cmd = program.command('start').description('run the daemon in the foreground (logs: JSON lines on stdout)');
  // One table (config.ts START_FLAGS): the parser's keys, the help text and its defaults agree.
  const options = START_FLAGS.map((f) => {
    const option = new Option(f.flag, flagHelp(f));
    if (f.number) option.argParser(num(f.flag.split(' ')[0]));
    if (f.choices) option.choices(f.choices);
    cmd.addOption(option);
    return [f.key, option.attributeName()] as const;
  });
  cmd.action(async (o: Record<string, unknown>) => {
    const flags: Partial<Record<keyof DaemonConfig, unknown>> = Object.fromEntries(options.map(([key, attr]) => [key, o[attr]]));
    await runDaemon(flags);
  });
}

export async function runDaemon(flags: Partial<Record<keyof DaemonConfig, unknown>>): Promise<void> {
  let config: DaemonConfig;
  try {
    config = loadConfig(flags);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`ai-processor: ${err.message}\n`);
      process.exit(EXIT.usage);
    }
    throw err;
  }
  // Loaded only here: agents' client commands stay fast (no fastify/OpenTelemetry at start-up).
  const { startDaemon, createLogger } = await import('../daemon/daemon.js');
  const { DataDirInUseError } = await import('../daemon/store/instance-lock.js');
  const { Reloader } = await import('../daemon/reload.js');
  const { SystemdNotifier } = await import('../daemon/sd-notify.js');
  const notifier = new SystemdNotifier(processEnv()); // takes NOTIFY_SOCKET out of the children's environment
  let daemon;
  try {
    // In a worker thread (`npm start`: the console draws on the terminal from the main thread) the
    // logs go to the thread's stdout stream, which the launcher keeps, not straight to fd 1.
    daemon = await startDaemon(config, isMainThread ? undefined : createLogger(config, process.stdout));
  } catch (err) {
    process.stderr.write(`ai-processor: ${(err as Error).message}\n`);
    process.exit(err instanceof DataDirInUseError ? EXIT.refused : err instanceof ConfigError ? EXIT.usage : EXIT.unavailable);
  }
  // Type=notify: ready only now, with the API listening and the store open.
  void notifier.ready(`listening on ${daemon.url}, revision ${daemon.store.revision}`);
  // SIGHUP (systemctl reload): read the configuration again and apply what can change at run time.
  const reloader = new Reloader(daemon.ctx, () => loadConfig(flags));
  process.on('SIGHUP', () => {
    daemon.logger.info({ signal: 'SIGHUP' }, 'reloading the configuration');
    void reloader
      .reload()
      .then((r) =>
        notifier.status(
          `listening on ${daemon.url}; reload ${reloader.count}: ${r.ok ? 'ok' : 'failed'}${r.refused.length ? ', refused ' + r.refused.map((x) => x.key).join(' ') : ''}`,
        ),
      );
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    daemon.logger.info({ signal }, 'shutting down');
    void notifier.stopping();
    // Keeps the process alive until close() is done (an empty event loop would exit 0 before the
    // views are flushed), and bounds it below systemd's TimeoutStopSec=30.
    setTimeout(() => {
      daemon.logger.error({ signal }, 'shutdown did not finish within 25 s; exiting');
      process.exit(1);
    }, 25_000);
    daemon.close().then(
      () => process.exit(0),
      (err) => {
        daemon.logger.error({ err: (err as Error).message }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  if (parentPort) {
    // A worker thread gets no signals: its launcher forwards them, and the console's quit.
    parentPort.on('message', (m: unknown) => {
      if (isStopDaemonThread(m)) stop(m.signal);
    });
    parentPort.postMessage({ type: 'ready', url: daemon.url } satisfies DaemonThreadReady);
    return;
  }
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
