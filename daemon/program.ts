// ai-processor's commands: the daemon (`start`) and the client commands agents and scripts use.
// The entry point is cli.ts, which loads this module for everything but the legacy fast path.
// Exit codes: 0 done, 1 refused by the daemon (conflict, not holder, unknown id), 2 usage error,
// 3 daemon unreachable or failing.
import { Command, CommanderError, Option } from 'commander';
import { EXIT, agentOf, call, clientOptions, num, print } from './commands/client-io.js';
import { ConfigError, loadConfig, type DaemonConfig } from './config.js';
import { VERSION } from './version.js';
import { commandModules } from './commands/index.js';

export function buildProgram(): Command {
  const program = new Command('ai-processor')
    .description('Agent-coordination daemon and its client commands.\nExit codes: 0 ok, 1 refused (conflict, not holder), 2 usage, 3 daemon unreachable.')
    .version(VERSION, '-v, --version')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

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
    .option('--budget-usd-per-agent <usd>', 'Claude Code cost per session above which it is marked over budget and alerted, 0 = none (env AI_PROCESSOR_BUDGET_USD_PER_AGENT)', num('--budget-usd-per-agent'))
    .option('--budget-usd-per-team-day <usd>', 'Claude Code cost per team per UTC day above which it is alerted, 0 = none (env AI_PROCESSOR_BUDGET_USD_PER_TEAM_DAY)', num('--budget-usd-per-team-day'))
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
        budget_usd_per_agent: o.budgetUsdPerAgent,
        budget_usd_per_team_day: o.budgetUsdPerTeamDay,
      };
      await runDaemon(flags);
    });

  clientOptions(program.command('claim <work_id>'))
    .description('claim a work item (created if unknown); exit 1 if another agent holds it')
    .option('--agent <id>', 'agent id (else AGENT_ID)')
    .option('--type <work_type>', 'work type, for a new item')
    .option('--description <text>', 'description, for a new item')
    .option('--priority <p>', 'low|medium|high|critical, for a new item')
    .option('--team <team>', 'team, for a new item')
    .action(async (workId: string, o) => {
      const res = await call(o, 'POST', '/api/coordination/claim', { work_id: workId, agent_id: agentOf(o), work_type: o.type, description: o.description, priority: o.priority, team: o.team });
      print(o, res, (b) => `claimed ${workId} for ${b.claim.agent_id} (fencing token ${b.claim.fencing_token}${b.idempotent ? ', already held' : ''})`);
    });

  clientOptions(program.command('progress <work_id> <percent>'))
    .description('report progress (0-100) on a held claim')
    .option('--agent <id>', 'agent id (else AGENT_ID)')
    .option('--status <status>', 'status to set (default in_progress)')
    .action(async (workId: string, percent: string, o) => {
      const res = await call(o, 'POST', '/api/coordination/progress', { work_id: workId, agent_id: agentOf(o), progress: num('percent')(percent), status: o.status });
      print(o, res, (b) => `${workId}: ${b.work.progress}% ${b.work.status}`);
    });

  clientOptions(program.command('complete <work_id>'))
    .description('complete a held claim; it moves to the coordination log')
    .option('--agent <id>', 'agent id (else AGENT_ID)')
    .option('--result <text>', 'result (default success)')
    .option('--points <n>', 'velocity points (default 5)', num('--points'))
    .option('--failed', 'mark the work failed instead of completed')
    .action(async (workId: string, o) => {
      const res = await call(o, 'POST', '/api/coordination/complete', { work_id: workId, agent_id: agentOf(o), result: o.result, velocity_points: o.points, status: o.failed ? 'failed' : undefined });
      print(o, res, (b) => `${workId}: ${b.work.status} (${b.log.velocity_points} points)`);
    });

  clientOptions(program.command('release <work_id>'))
    .description('give a held claim back (pending for others)')
    .option('--agent <id>', 'agent id (else AGENT_ID)')
    .option('--reason <text>', 'why')
    .action(async (workId: string, o) => {
      const res = await call(o, 'POST', '/api/coordination/release', { work_id: workId, agent_id: agentOf(o), reason: o.reason });
      print(o, res, () => `${workId}: released`);
    });

  clientOptions(program.command('register [agent_id]'))
    .description('register an agent (id generated when omitted); idempotent')
    .option('--team <team>', 'team')
    .option('--specialization <s>', 'specialization')
    .option('--capacity <n>', 'capacity', num('--capacity'))
    .action(async (agentId: string | undefined, o) => {
      const res = await call(o, 'POST', '/api/agents', { agent_id: agentId ?? process.env.AGENT_ID, team: o.team, specialization: o.specialization, capacity: o.capacity });
      print(o, res, (b) => `${b.created ? 'registered' : 'already registered'} ${b.agent.agent_id} (${b.agent.team})`);
    });

  clientOptions(program.command('heartbeat [agent_id]'))
    .description('renew an agent\'s lease')
    .option('--status <status>', 'agent status to set')
    .option('--workload <n>', 'current workload', num('--workload'))
    .action(async (agentId: string | undefined, o) => {
      const id = agentId ?? agentOf(o);
      const res = await call(o, 'POST', `/api/agents/${encodeURIComponent(id)}/heartbeat`, { status: o.status, current_workload: o.workload });
      print(o, res, (b) => `${id}: lease until ${b.lease_expires_at}`);
    });

  clientOptions(program.command('create-work <work_type>'))
    .description('create a pending work item')
    .option('--id <work_id>', 'work id (default work_<nanoseconds>)')
    .option('--description <text>', 'description')
    .option('--priority <p>', 'low|medium|high|critical')
    .option('--team <team>', 'team')
    .action(async (workType: string, o) => {
      const res = await call(o, 'POST', '/api/work', { work_id: o.id, work_type: workType, description: o.description, priority: o.priority, team: o.team });
      print(o, res, (b) => b.work.work_item_id);
    });

  clientOptions(program.command('status'))
    .description('revision, checksum and counts of the daemon\'s state')
    .action(async (o) => {
      const res = await call(o, 'GET', '/api/coordination/status');
      print(o, res, (b) => `revision ${b.revision}  checksum ${String(b.checksum).slice(0, 16)}  work ${b.counts.work}  agents ${b.counts.agents}  log ${b.counts.log}`);
    });

  for (const register of commandModules) register(program);
  return program;
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
  const { startDaemon } = await import('./daemon.js');
  const { DataDirInUseError } = await import('./store/instance-lock.js');
  const { Reloader } = await import('./reload.js');
  const { SystemdNotifier } = await import('./sd-notify.js');
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

export async function main(argv = process.argv): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') process.exit(0);
      if (err.code === 'usage') process.stderr.write(`error: ${err.message}\n`);
      process.exit(EXIT.usage);
    }
    process.stderr.write(`ai-processor: ${(err as Error).message}\n`);
    process.exit(EXIT.unavailable);
  }
}
