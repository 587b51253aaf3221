// `ai-processor hooks install|uninstall|status`: our http hooks in a Claude Code settings file.
// The merging is shared/claude-code/settings.ts; this is the file I/O around it.
import { Command, Option } from 'commander';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  HOOK_EVENTS,
  HOOK_TIMEOUT_S,
  SettingsError,
  TOKEN_ENV,
  hookUrl,
  hooksStatus,
  REPO_CONTEXT_EVENTS,
  REPO_CONTEXT_VERB,
  installHooks,
  installRepoContext,
  installTelemetry,
  telemetryStatus,
  uninstallHooks,
  uninstallTelemetry,
  type EditResult,
} from '../shared/claude-code/settings.js';
import { homeDir, processEnv, resolveUrl } from '../client/config.js';
import { EXIT } from './client-io.js';
import { runRepoContext } from './repo-context.js';

interface TargetFlags {
  user?: boolean;
  project?: string;
  settings?: string;
}

/**
 * --user: ~/.claude/settings.json, every session of this user. --project DIR:
 * DIR/.claude/settings.local.json, the project's personal file that Claude Code keeps out of git:
 * the daemon's URL is this machine's, not the team's (the shared .claude/settings.json is for what
 * the whole team runs). --settings FILE: that file.
 */
function targetFile(o: TargetFlags): string {
  const given = [o.user, o.project !== undefined, o.settings !== undefined].filter(Boolean).length;
  if (given > 1) fail('choose one of --user, --project DIR, --settings FILE', EXIT.usage);
  if (o.settings) return path.resolve(o.settings);
  if (o.project !== undefined) {
    const dir = path.resolve(o.project);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) fail(`--project ${o.project}: no such directory`, EXIT.usage);
    return path.join(dir, '.claude', 'settings.local.json');
  }
  return path.join(homeDir(), '.claude', 'settings.json');
}

function fail(message: string, code: number = EXIT.refused): never {
  process.stderr.write(`ai-processor hooks: ${message}\n`);
  process.exit(code);
}

function readText(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    fail(`cannot read ${file}: ${(err as Error).message}`);
  }
}

/** One edit after the other on the same text; the events (and telemetry keys) of both. */
function both(first: EditResult, then: (text: string | null) => EditResult, original: string | null): EditResult {
  const second = then(first.changed ? first.text : original);
  if (!second.changed) return first;
  return { text: second.text, changed: true, events: [...first.events, ...second.events] };
}

/** Replaces the file in one step (a session reading it never sees half a file), keeping its mode. */
function writeText(file: string, text: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const mode = existsSync(file) ? statSync(file).mode & 0o777 : 0o600;
  const tmp = `${file}.ai-processor-${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode });
  renameSync(tmp, file);
}

function edit(file: string, dryRun: boolean, fn: (text: string | null) => { text: string; changed: boolean; events: string[] }, verb: string): void {
  const before = readText(file);
  let result;
  try {
    result = fn(before);
  } catch (err) {
    if (err instanceof SettingsError) fail(err.message);
    throw err;
  }
  if (dryRun) {
    process.stdout.write(result.changed ? result.text : (before ?? ''));
    process.stderr.write(result.changed ? `would ${verb} ${result.events.length} event(s) in ${file}\n` : `nothing to do in ${file}\n`);
    return;
  }
  if (!result.changed) {
    process.stdout.write(`${file}: nothing to do (${verb === 'install' ? 'already installed' : 'none of ours'})\n`);
    return;
  }
  writeText(file, result.text);
  process.stdout.write(`${file}: ${verb === 'install' ? 'installed' : 'removed'} on ${result.events.join(', ')}\n`);
}

/** Quoted for the shell Claude Code runs a command hook with. */
function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The command hook's command line: this very program (node and its script), so no PATH is needed. */
function repoContextCommand(url: string): string {
  return [process.execPath, path.resolve(process.argv[1] ?? 'ai-processor')].map(shellQuote).join(' ') + ` ${REPO_CONTEXT_VERB} --url ${shellQuote(url)}`;
}

function targetOptions(cmd: Command): Command {
  return cmd
    .option('--user', "the user's settings, ~/.claude/settings.json (default)")
    .option('--project <dir>', "the project's personal settings, DIR/.claude/settings.local.json (kept out of git by Claude Code)")
    .option('--settings <file>', 'this settings file');
}

export function registerHooksCommand(program: Command): void {
  const hooks = program.command('hooks').description('Claude Code sessions as agents: http hooks that report to this daemon (docs/claude-code.md)');

  targetOptions(hooks.command('install'))
    .description(
      `add our http hooks (${HOOK_EVENTS.length} events, ${HOOK_TIMEOUT_S} s timeout, non-blocking) to a Claude Code settings file, merged; idempotent`,
    )
    .option('--url <url>', "the daemon's URL (else AI_PROCESSOR_URL, else http://127.0.0.1:4001)")
    .addOption(
      new Option(
        '--token',
        `send the token (Authorization: Bearer $${TOKEN_ENV}, filled by Claude Code from its environment; default: when ${TOKEN_ENV} is set here)`,
      ),
    )
    .option('--no-token', 'send no token')
    .option(
      '--repo-context',
      `also write a command hook on ${REPO_CONTEXT_EVENTS.join(' and ')} that reports the session's git top-level and origin (for sessions on another host than the daemon)`,
    )
    .option('--telemetry', "also write the env block that sends Claude Code's OpenTelemetry metrics and logs (tokens, cost) to the daemon")
    .option('--dry-run', 'print the resulting file instead of writing it')
    .action((o) => {
      const file = targetFile(o);
      const token = o.token ?? Boolean(processEnv()[TOKEN_ENV]);
      const url = resolveUrl(o.url);
      edit(
        file,
        Boolean(o.dryRun),
        (text) => {
          let out = installHooks(text, { url, token }, file);
          if (o.repoContext) out = both(out, (t) => installRepoContext(t, repoContextCommand(url), file), text);
          return o.telemetry ? both(out, (t) => installTelemetry(t, { url }, file), text) : out;
        },
        'install',
      );
      if (o.telemetry && token) {
        process.stderr.write(
          `telemetry: the exporter needs the token too; start Claude Code with OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer $${TOKEN_ENV}" in its environment (it is never written into the file)\n`,
        );
      }
    });

  hooks
    .command('repo-context')
    .description(
      'Claude Code command hook: reads the hook event on stdin, sends the git top-level and origin of its cwd to the daemon; always exits 0, prints nothing',
    )
    .option('--url <url>', "the daemon's URL (else AI_PROCESSOR_URL, else http://127.0.0.1:4001)")
    .action((o: { url?: string }) => runRepoContext(o.url));

  targetOptions(hooks.command('uninstall'))
    .description('remove exactly the hooks (and telemetry env keys) install added, and the groups and events that leaves empty')
    .option('--dry-run', 'print the resulting file instead of writing it')
    .action((o) => {
      const file = targetFile(o);
      edit(file, Boolean(o.dryRun), (text) => both(uninstallHooks(text, file), (t) => uninstallTelemetry(t, file), text), 'uninstall');
    });

  targetOptions(hooks.command('status'))
    .description("which of our hooks are installed where (the user's and this directory's project files, or the one given)")
    .option('--json', 'print JSON')
    .action((o) => {
      const explicit = o.user || o.project !== undefined || o.settings !== undefined;
      const files = explicit ? [targetFile(o)] : [targetFile({}), path.resolve('.claude', 'settings.json'), path.resolve('.claude', 'settings.local.json')];
      const report = files.map((file) => {
        const text = readText(file);
        if (text === null) return { file, exists: false, installed: [], missing: [...HOOK_EVENTS], telemetry: null };
        try {
          return { file, exists: true, ...hooksStatus(text, file), telemetry: telemetryStatus(text, file) };
        } catch (err) {
          return { file, exists: true, error: (err as Error).message, installed: [], missing: [...HOOK_EVENTS], telemetry: null };
        }
      });
      if (o.json) return void process.stdout.write(JSON.stringify({ expected_url: hookUrl(resolveUrl()), files: report }) + '\n');
      for (const r of report) {
        if (!r.exists) process.stdout.write(`${r.file}: no file\n`);
        else if ('error' in r) process.stdout.write(`${r.file}: ${r.error}\n`);
        else if (r.installed.length === 0) process.stdout.write(`${r.file}: not installed\n`);
        else {
          const urls = [...new Set(r.installed.map((i) => i.url))].join(', ');
          const token = r.installed.every((i) => i.token) ? `token from $${TOKEN_ENV}` : r.installed.some((i) => i.token) ? 'token on some events' : 'no token';
          process.stdout.write(
            `${r.file}: installed on ${r.installed.length} event(s) -> ${urls} (${token})${r.missing.length ? `; missing: ${r.missing.join(', ')}` : ''}\n`,
          );
        }
        if ('repo_context' in r && r.repo_context.length > 0) process.stdout.write(`${r.file}: repo-context hook on ${r.repo_context.join(', ')}\n`);
        if (r.telemetry) process.stdout.write(`${r.file}: telemetry -> ${r.telemetry.endpoint ?? '(no endpoint)'} (${r.telemetry.keys.join(', ')})\n`);
      }
    });
}
