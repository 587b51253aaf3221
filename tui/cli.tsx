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
import { createRequire } from 'node:module';
import v8 from 'node:v8';
import { resolveToken, resolveUrl } from '../client/config.js';
import { flagGiven, nodeArgsOf } from '../shared/node-flags.js';

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

/**
 * The console is a long-running viewer whose live heap is small (~25 MB with 10,000 claims) but whose
 * Ink frames allocate several MB each. V8's defaults, tuned for throughput, answer that by growing the
 * young generation to 32 MB and letting old-space garbage reach 2-3x the live size before collecting.
 * A fixed 1 MB semi-space, a 20% old-generation growth step, and V8's memory-saving sizing (its
 * smallest growth step between full collections is 2 MB instead of 8) keep it near its live size for
 * a few % of one core more GC work. V8 reads these at each collection, so setting them here (before
 * the snapshot arrives) takes effect; heap flags given to node (command line or NODE_OPTIONS) win.
 * V8's baseline compiler (Sparkplug) is left out too: it keeps machine code beside the bytecode of
 * every function that ran a few times (start-up and snapshot code included) and never drops it,
 * a sizeable part of the console's live heap, for no CPU the console would miss (its time goes to
 * Ink's frames, which TurboFan still optimises). Set before Ink and React are loaded, so none of
 * their code is compiled by it.
 */
function tuneHeap(): void {
  const args = nodeArgsOf(process.execArgv, process.env);
  if (!flagGiven(args, ['--semi-space-growth-factor', '--max-semi-space-size', '--min-semi-space-size', '--max-heap-size']))
    v8.setFlagsFromString('--semi-space-growth-factor=1');
  if (!flagGiven(args, ['--heap-growing-percent', '--max-old-space-size', '--max-heap-size'])) v8.setFlagsFromString('--heap-growing-percent=20');
  if (!flagGiven(args, ['--optimize-for-size', '--no-optimize-for-size'])) v8.setFlagsFromString('--optimize-for-size');
  if (!flagGiven(args, ['--sparkplug', '--no-sparkplug', '--always-sparkplug'])) v8.setFlagsFromString('--no-sparkplug');
}

/**
 * Node's ESM loader, looking for the named exports of React's CommonJS entry points, reads both of
 * their branches and keeps the source of the development builds it never runs (~0.8 MB) in the
 * require cache. Dropped once Ink and React are loaded.
 */
function dropUnrunModuleSources(): void {
  const cache = createRequire(import.meta.url).cache;
  for (const [file, mod] of Object.entries(cache)) if (mod && !mod.loaded && file.endsWith('.development.js')) delete cache[file];
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

  // Ink renders only the final frame when it believes it runs in CI (is-in-ci reads CI at import).
  // On a real terminal that would be a blank screen, so the variable must not leak into Ink.
  if (process.stdout.isTTY) {
    delete process.env.CI;
    delete process.env.CONTINUOUS_INTEGRATION;
  }
  tuneHeap();
  // React's development build keeps debug records for every render (owner stacks, timing tracks):
  // under a steady stream of deltas its heap grows by megabytes a second. Nobody debugs React here.
  process.env.NODE_ENV ??= 'production';

  // Connect before loading Ink and React (a third of a second): the snapshot, which the daemon takes
  // a while to serialize for a large state, is on its way while the UI code compiles.
  const [{ ConsoleModel }, { Connection }] = await Promise.all([import('./model/console-model.js'), import('./net/connection.js')]);
  const url = resolveUrl(values.url);
  // The shared stream client verifies the checksums against its own copy; the model shows that copy.
  // Redraws for data changes at most 4 times a second (keys redraw at once): a human watching a fleet
  // gains nothing from more, and each Ink frame costs the same whatever changed.
  const model = new ConsoleModel({ verify: false, throttleMs: 250 });
  const conn = new Connection({ url, token: resolveToken(values.token) ?? undefined, model });
  conn.start();
  const [{ render, renderToString }, React, { App }, { noColorFromEnv }] = await Promise.all([
    import('ink'),
    import('react'),
    import('./app.js'),
    import('./layout/theme.js'),
  ]);
  dropUnrunModuleSources();
  const props = { model, url, allowWrite: values['allow-write'], noColor: noColorFromEnv(), actions: conn };

  if (values.once) {
    // One clean frame (no cursor games), e.g. for scripts and smoke tests.
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline && !(model.hasSnapshot && model.stats && model.spans.size)) await new Promise((r) => setTimeout(r, 50));
    conn.stop();
    const size = { columns: process.stdout.columns || 80, rows: process.stdout.rows || 24 };
    process.stdout.write(renderToString(React.createElement(App, { ...props, interactive: false, size }), { columns: size.columns }) + '\n');
    return model.hasSnapshot ? 0 : 1;
  }

  let quitting = false;
  if (values.bell) {
    // One BEL per redraw in which any session started waiting (the model counts every transition).
    let heard = model.statuses.waitStarts;
    model.subscribe(() => {
      const n = model.statuses.waitStarts;
      if (n === heard) return;
      heard = n;
      if (!quitting) process.stdout.write('\x07');
    });
  }

  let resolveCode: (code: number) => void = () => {};
  const exitCode = new Promise<number>((r) => {
    resolveCode = r;
  });
  const quit = (code: number): void => {
    if (quitting) return;
    quitting = true;
    conn.stop();
    // Leave the shell as it was: erase our frame (no alternate screen is used), then let Ink
    // restore raw mode and the cursor on unmount.
    instance.clear();
    instance.unmount();
    void exited.finally(() => resolveCode(code));
  };

  const instance = render(
    React.createElement(App, { ...props, interactive: process.stdin.isTTY === true, onQuit: () => quit(0) }),
    // Not incrementalRendering: in Ink 6.8 it leaves the previous first line behind with our frame
    // height (one line short of the screen), so every frame is written whole.
    { exitOnCtrlC: false, patchConsole: true },
  );
  const exited = instance.waitUntilExit().catch(() => undefined);
  // ctrl-c arrives as a key in raw mode; the signals cover a non-TTY stdin, kill and a dropped SSH link.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => quit(sig === 'SIGINT' ? 0 : 128 + (sig === 'SIGTERM' ? 15 : 1)));
  return exitCode;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`ai-console: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
