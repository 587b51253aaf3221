#!/bin/sh
//usr/bin/env true; case " $NODE_OPTIONS" in *--v8-pool-size*) exec node "$0" "$@";; esac; exec node --v8-pool-size=1 "$0" "$@"
// ^ A command for sh, a comment for node: the bin runs node with one V8 helper thread
//   (shared/node-flags.ts) unless NODE_OPTIONS sets the pool size. `node <this file>` runs as is.
// ai-console: the operator's live view of the fleet (Ink). Flags are parsed before Ink is loaded so
// --help/--version stay instant and never touch the terminal.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { exitProcess, runConsole } from './run-console.js';

const USAGE = `Usage: ai-console [--url URL] [--token TOKEN] [--allow-write] [--bell] [--once]

Live view of an ai-processor daemon: agents, claims, latency, entropy, traces, health.

Options:
  --url URL       daemon URL (else AI_PROCESSOR_URL, else http://127.0.0.1:4001)
  --token TOKEN   bearer token for the streams and API (else AI_PROCESSOR_TOKEN)
  --allow-write   enable mutating keys: r (release claim), o (mark agent offline), each confirmed
  --bell          ring the terminal bell when a session starts waiting for input (needs_input);
                  not for sessions already waiting when the console starts. It is a BEL
                  character in the output, so it reaches the terminal over SSH and in tmux
  --once          print one frame once the state has arrived (or after 3 s) and exit;
                  exit code 1 if no state could be fetched
  -h, --help      show this help
  -v, --version   show the version

Keys: arrows/j/k move, tab/1-7 panels, / filter, s sort, enter drill down, esc back, ? help, q quit.
Honours NO_COLOR.`;

function version(): string {
  // dist/tui/cli.js and tui/cli.tsx sit at different depths: walk up to our package.json.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++, dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === 'ai-processor') return pkg.version ?? '0.0.0';
  }
  return '0.0.0';
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        url: { type: 'string' },
        token: { type: 'string' },
        'allow-write': { type: 'boolean', default: false },
        bell: { type: 'boolean', default: false },
        once: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        version: { type: 'boolean', short: 'v', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    process.stderr.write(`ai-console: ${(e as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (values.version) {
    process.stdout.write(version() + '\n');
    return 0;
  }

  const running = await runConsole({
    url: values.url,
    token: values.token,
    allowWrite: values['allow-write'],
    bell: values.bell,
    once: values.once,
    tuneHeap: true,
  });
  // ctrl-c arrives as a key in raw mode; the signals cover a non-TTY stdin, kill and a dropped SSH link.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => running.quit(sig === 'SIGINT' ? 0 : 128 + (sig === 'SIGTERM' ? 15 : 1)));
  return running.exitCode;
}

main().then(
  (code) => exitProcess(code),
  (e: unknown) => {
    process.stderr.write(`ai-console: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
