// `ai-processor start`: the daemon's command line and its life in the process (signals, reload,
// systemd notifications). The rest of the program's commands are the clients' (cli/).
import type { Command } from 'commander';
import { Option } from 'commander';
import { num } from '../shared/cli-args.js';
import { EXIT } from '../shared/exit-codes.js';
import { ConfigError, loadConfig, type DaemonConfig } from './config.js';

export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description('run the daemon in the foreground (logs: JSON lines on stdout)')
    .option('--data-dir <dir>', 'data directory (env AI_PROCESSOR_DATA_DIR; default $STATE_DIRECTORY or ~/.local/state/ai-processor)')
    .option('--port <port>', 'port, 0 for any free one (env AI_PROCESSOR_PORT; default 4001)', num('--port'))
    .option('--host <host>', 'address to bind (env AI_PROCESSOR_HOST; default 127.0.0.1)')
    .option('--lease-ms <ms>', 'lease period for claims (env AI_PROCESSOR_LEASE_MS; default 60000)', num('--lease-ms'))
    .option('--store <store>', 'store: "file" (default, embedded) or a postgres:// URL shared by several daemons (env AI_PROCESSOR_STORE)')
    .option('--config <file>', 'JSON config file; keys as the env names without prefix, lower case (env AI_PROCESSOR_CONFIG)')
    .option('--token-file <file>', 'file holding the bearer token (or env AI_PROCESSOR_TOKEN)')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace (env AI_PROCESSOR_LOG_LEVEL; default info)')
    .option('--analyzer-command <cmd>', 'command the analysis bridge pipes state into (env AI_PROCESSOR_ANALYZER_COMMAND)')
    .addOption(new Option('--analyzer-mode <mode>', 'auto|builtin|command|claude').choices(['auto', 'builtin', 'command', 'claude']))
    .option('--analyzer-timeout-ms <ms>', 'time limit of one analyzer run (env AI_PROCESSOR_ANALYZER_TIMEOUT_MS; default 30000)', num('--analyzer-timeout-ms'))
    .option('--analyzer-max-concurrent <n>', 'analyzer runs at once (env AI_PROCESSOR_ANALYZER_MAX_CONCURRENT; default 2)', num('--analyzer-max-concurrent'))
    .option('--analyzer-max-queue <n>', 'analyzer requests waiting, beyond which 429 (env AI_PROCESSOR_ANALYZER_MAX_QUEUE; default 8)', num('--analyzer-max-queue'))
    .option('--stream-analyzer-command <cmd>', 'long-running JSON-lines analyzer for /api/claude/stream (env AI_PROCESSOR_STREAM_ANALYZER_COMMAND)')
    .option('--tls-cert <file>', 'PEM certificate: serve https/wss (with --tls-key; env AI_PROCESSOR_TLS_CERT)')
    .option('--tls-key <file>', 'PEM private key for --tls-cert (env AI_PROCESSOR_TLS_KEY)')
    .option('--rate-limit-per-s <n>', 'mutating requests per second per client IP, 0 = off (env AI_PROCESSOR_RATE_LIMIT_PER_S; default 0)', num('--rate-limit-per-s'))
    .action(async (o) => {
      const flags: Partial<Record<keyof DaemonConfig, unknown>> = {
        data_dir: o.dataDir,
        port: o.port,
        host: o.host,
        lease_ms: o.leaseMs,
        store: o.store,
        config_file: o.config,
        token_file: o.tokenFile,
        log_level: o.logLevel,
        analyzer_command: o.analyzerCommand,
        analyzer_mode: o.analyzerMode,
        analyzer_timeout_ms: o.analyzerTimeoutMs,
        analyzer_max_concurrent: o.analyzerMaxConcurrent,
        analyzer_max_queue: o.analyzerMaxQueue,
        stream_analyzer_command: o.streamAnalyzerCommand,
        tls_cert: o.tlsCert,
        tls_key: o.tlsKey,
        rate_limit_per_s: o.rateLimitPerS,
      };
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
  const { startDaemon } = await import('../daemon/daemon.js');
  const { DataDirInUseError } = await import('../daemon/store/instance-lock.js');
  const { Reloader } = await import('../daemon/reload.js');
  const { SystemdNotifier } = await import('../daemon/sd-notify.js');
  const notifier = new SystemdNotifier(process.env); // takes NOTIFY_SOCKET out of the children's environment
  let daemon;
  try {
    daemon = await startDaemon(config);
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
    void reloader.reload().then((r) => notifier.status(`listening on ${daemon.url}; reload ${reloader.count}: ${r.ok ? 'ok' : 'failed'}${r.refused.length ? ', refused ' + r.refused.map((x) => x.key).join(' ') : ''}`));
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
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  daemon.store.on('fatal', () => {
    daemon.logger.fatal('journal unwritable; exiting so the supervisor restarts us');
    process.exit(EXIT.unavailable);
  });
}
