// `ai-processor install-service [--user] [--prefix DIR] [--dry-run] [--config FILE] [--token-file FILE]
// [--data-dir DIR]`: writes the systemd unit of this installation (absolute paths of this node and of
// dist/daemon/cli.js) and prints the systemctl commands that enable it. --dry-run prints the unit.
// renderUnit() is the one source of the unit: daemon/ai-processor.service is its output for a global
// npm install (test/systemd.test.ts holds the two together).
import { mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { EXIT } from './client-io.js';
import { NODE_FLAGS } from '../shared/node-flags.js';
import { processEnv, type Env } from '../client/config.js';

export const UNIT_NAME = 'ai-processor.service';

/** ExecStart of the shipped unit: the bin of a global npm install (`npm prefix -g` = /usr). */
export const SHIPPED_EXEC_START = ['/usr/bin/ai-processor', 'start'];

export interface UnitOptions {
  /** The command line, unescaped: [executable, ...args]. */
  execStart: string[];
  /** A per-user unit (systemctl --user) instead of a system service. */
  user?: boolean;
  /** JSON config file (--config); SIGHUP reloads it. */
  config?: string | null;
  /** Token file: a system unit hands it over as a systemd credential (readable by the service alone). */
  tokenFile?: string | null;
  /** Data directory other than the StateDirectory. */
  dataDir?: string | null;
  /** ProtectHome= value (system units): "yes" unless the installation lives under a home directory. */
  protectHome?: 'yes' | 'read-only';
}

/** One ExecStart word: quoted when needed, with systemd's specifier (%) and variable ($) characters escaped. */
export function systemdWord(word: string): string {
  const escaped = word.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(escaped)) return escaped;
  return '"' + escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
}

export function renderUnit(o: UnitOptions): string {
  const user = o.user ?? false;
  const exec = o.execStart.map(systemdWord);
  if (o.config) exec.push('--config', systemdWord(o.config));
  if (o.dataDir) exec.push('--data-dir', systemdWord(o.dataDir));
  // %d: the service's credentials directory (LoadCredential below), a specifier: not escaped.
  if (o.tokenFile) exec.push('--token-file', user ? systemdWord(o.tokenFile) : '%d/token');
  const lines: string[] = [
    `# ai-processor: the agent-coordination daemon, as a ${user ? 'per-user (systemctl --user)' : 'system'} service.`,
    '# Written by `ai-processor install-service`, which puts the absolute paths of the installation in',
    '# ExecStart; the shipped copy (daemon/ai-processor.service) assumes a global npm install under /usr.',
    '# Logs: JSON lines on stdout, into the journal: journalctl -u ai-processor -o cat',
    '# Reload (config file, token file, lease, log level, services, analyzer, rate limit): systemctl reload ai-processor',
    '',
    '[Unit]',
    'Description=ai-processor agent-coordination daemon',
    'After=network-online.target',
    'Wants=network-online.target',
    'StartLimitIntervalSec=60',
    'StartLimitBurst=5',
    '',
    '[Service]',
    '# Ready once the API listens and the store is open. The daemon tells systemd with systemd-notify,',
    '# a child process: hence NotifyAccess=all.',
    'Type=notify',
    'NotifyAccess=all',
    "# One V8 helper thread instead of four: on a small machine the garbage collector's helpers would",
    '# take the cores the event loop needs (see shared/node-flags.ts). Overridable in the EnvironmentFile.',
    `Environment=NODE_OPTIONS=${NODE_FLAGS.join(' ')}`,
    `ExecStart=${exec.join(' ')}`,
    'ExecReload=/bin/kill -HUP $MAINPID',
    '# SIGTERM drains requests, flushes the journal and the legacy files, closes streams with 1001',
    "# (clients resume from their revision), then exits 0. Analyzer commands are the daemon's to stop.",
    'KillMode=mixed',
    'TimeoutStopSec=30',
    'Restart=on-failure',
    'RestartSec=2',
    '# Exit 2 is a configuration error: restarting would not help.',
    'RestartPreventExitStatus=2',
    '# Settings as AI_PROCESSOR_* variables (AI_PROCESSOR_CONFIG, AI_PROCESSOR_PORT, ...); optional.',
    `EnvironmentFile=-${user ? '%h/.config/ai-processor/ai-processor.env' : '/etc/ai-processor/ai-processor.env'}`,
    'Environment=NODE_ENV=production',
    `# Data: ${user ? '~/.local/state/ai-processor' : '/var/lib/ai-processor'}, handed to the daemon as $STATE_DIRECTORY.`,
    'StateDirectory=ai-processor',
    'StateDirectoryMode=0750',
    'SyslogIdentifier=ai-processor',
    'UMask=0027',
    'LimitNOFILE=65536',
  ];
  if (o.dataDir) lines.push(`ReadWritePaths=${systemdWord(o.dataDir)}`);
  if (o.tokenFile && !user) lines.push(`LoadCredential=token:${systemdWord(o.tokenFile)}`);
  lines.push('', '# Hardening', 'NoNewPrivileges=yes');
  if (user) {
    lines.push(
      '# A per-user manager can only sandbox further with unprivileged user namespaces, which many hosts',
      '# disable: the system unit (install-service without --user) is the hardened one.',
    );
  } else {
    lines.push(
      '# A transient user of its own; the state directory belongs to it.',
      'DynamicUser=yes',
      'ProtectSystem=strict',
      `ProtectHome=${o.protectHome ?? 'yes'}`,
      'PrivateTmp=yes',
      'PrivateDevices=yes',
      'ProtectKernelTunables=yes',
      'ProtectKernelModules=yes',
      'ProtectKernelLogs=yes',
      'ProtectControlGroups=yes',
      'ProtectClock=yes',
      'ProtectHostname=yes',
      'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6',
      'RestrictNamespaces=yes',
      'RestrictRealtime=yes',
      'RestrictSUIDSGID=yes',
      'LockPersonality=yes',
      'SystemCallArchitectures=native',
      'CapabilityBoundingSet=',
      '# Not MemoryDenyWriteExecute=: the V8 JIT needs writable code pages.',
    );
  }
  lines.push('', '[Install]', `WantedBy=${user ? 'default.target' : 'multi-user.target'}`, '');
  return lines.join('\n');
}

/** This installation: the running node and the compiled CLI next to this module, symlinks resolved. */
export function installationPaths(): { node: string; cli: string } {
  const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'daemon', 'cli.js');
  const real = (p: string) => {
    try {
      return realpathSync(p);
    } catch {
      return p;
    }
  };
  return { node: real(process.execPath), cli: real(cli) };
}

export function defaultUnitDir(user: boolean, env: Env = processEnv()): string {
  if (!user) return '/etc/systemd/system';
  return path.join(env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config'), 'systemd', 'user');
}

const underHome = (p: string) => /^\/(root|home)(\/|$)/.test(p) || p.startsWith('/run/user/');

export function registerInstallServiceCommand(program: Command): void {
  program
    .command('install-service')
    .description('write the systemd unit for this installation (absolute node and dist/daemon/cli.js paths) and print the systemctl commands')
    .option('--user', 'a per-user unit (systemctl --user) instead of a system service')
    .option('--prefix <dir>', 'directory to write the unit into (default /etc/systemd/system, or ~/.config/systemd/user with --user)')
    .option('--dry-run', 'print the unit instead of writing it')
    .option('--config <file>', 'JSON config file the service starts with (and reloads on systemctl reload)')
    .option('--token-file <file>', 'bearer token file (a system unit passes it as a systemd credential)')
    .option('--data-dir <dir>', 'data directory (default: the StateDirectory, /var/lib/ai-processor)')
    .action((o: { user?: boolean; prefix?: string; dryRun?: boolean; config?: string; tokenFile?: string; dataDir?: string }) => {
      const user = Boolean(o.user);
      const { node, cli } = installationPaths();
      const abs = (p?: string) => (p ? path.resolve(p) : null);
      const homeInstall = underHome(node) || underHome(cli);
      const unit = renderUnit({
        execStart: [node, cli, 'start'],
        user,
        config: abs(o.config),
        tokenFile: abs(o.tokenFile),
        dataDir: abs(o.dataDir),
        protectHome: homeInstall ? 'read-only' : 'yes',
      });
      if (homeInstall && !user) {
        process.stderr.write(
          `warning: ${underHome(node) ? node : cli} is under a home directory: the unit uses ProtectHome=read-only, and the service's dynamic user must be able to read it (install node and ai-processor system-wide, or use --user)\n`,
        );
      }
      const dir = path.resolve(o.prefix ?? defaultUnitDir(user));
      const file = path.join(dir, UNIT_NAME);
      if (o.dryRun) {
        process.stdout.write(unit);
        process.stderr.write(`# dry run: would write ${file}\n`);
        process.exit(EXIT.ok);
      }
      try {
        mkdirSync(dir, { recursive: true });
        writeFileSync(file, unit, { mode: 0o644 });
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        const hint = e.code === 'EACCES' || e.code === 'EPERM' ? (user ? '' : ' (run as root, or use --user, or --prefix DIR)') : '';
        process.stderr.write(`ai-processor: cannot write ${file}: ${e.message}${hint}\n`);
        process.exit(EXIT.unavailable);
      }
      const sc = user ? 'systemctl --user' : 'systemctl';
      const standard = dir === path.resolve(defaultUnitDir(user));
      const steps = [
        ...(standard ? [] : [`${sc} link ${file}`]),
        `${sc} daemon-reload`,
        `${sc} enable --now ai-processor.service`,
        `${sc} status ai-processor.service`,
        `journalctl ${user ? '--user-unit' : '-u'} ai-processor -f -o cat`,
        ...(user ? [`loginctl enable-linger ${os.userInfo().username}   # keep it running after you log out`] : []),
      ];
      process.stdout.write(`wrote ${file}\nnext:\n${steps.map((s) => `  ${s}`).join('\n')}\nreload the configuration: ${sc} reload ai-processor   (SIGHUP)\n`);
      process.exit(EXIT.ok);
    });
}
