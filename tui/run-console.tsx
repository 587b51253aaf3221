// The console's life once its options are known: connect, load Ink, render until quit. Shared by
// the `ai-console` bin (tui/cli.tsx, its own process) and `npm start` (scripts/start.ts, which runs
// the daemon in a worker thread of the same process and the console here, on the main thread:
// Ink needs the terminal's raw mode, which only the main thread has).
import { closeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolveToken, resolveUrl } from '../client/config.js';
import { tuneHeapForMemory } from './heap.js';

export interface ConsoleOptions {
  url?: string;
  token?: string;
  allowWrite: boolean;
  bell: boolean;
  once: boolean;
  /** Size the heap for memory (heap.ts). Off when the process has done it already (`npm start`). */
  tuneHeap: boolean;
}

export interface RunningConsole {
  /** Resolves once the console is gone and the terminal restored. */
  readonly exitCode: Promise<number>;
  /** Closes the console (idempotent): erases its frame and restores the terminal. */
  quit(code: number): void;
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

let terminalLost = false;

/**
 * Ends the process. Node restores the terminal's modes at exit and aborts when that fails with
 * anything but EPERM, as it does on a terminal that went away (EIO): then the standard descriptors
 * are closed first, which makes node skip them.
 */
export function exitProcess(code: number): never {
  if (terminalLost) for (const fd of [0, 1, 2]) closeQuietly(fd);
  process.exit(code);
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

export async function runConsole(options: ConsoleOptions): Promise<RunningConsole> {
  // Ink renders only the final frame when it believes it runs in CI (is-in-ci reads CI at import).
  // On a real terminal that would be a blank screen, so the variable must not leak into Ink.
  if (process.stdout.isTTY) {
    delete process.env.CI;
    delete process.env.CONTINUOUS_INTEGRATION;
  }
  if (options.tuneHeap) tuneHeapForMemory();
  // React's development build keeps debug records for every render (owner stacks, timing tracks):
  // under a steady stream of deltas its heap grows by megabytes a second. Nobody debugs React here.
  process.env.NODE_ENV ??= 'production';

  // Connect before loading Ink and React (a third of a second): the snapshot, which the daemon takes
  // a while to serialize for a large state, is on its way while the UI code compiles.
  const [{ ConsoleModel }, { Connection }] = await Promise.all([import('./model/console-model.js'), import('./net/connection.js')]);
  const url = resolveUrl(options.url);
  // The shared stream client verifies the checksums against its own copy; the model shows that copy.
  // Redraws for data changes at most 4 times a second (keys redraw at once): a human watching a fleet
  // gains nothing from more, and each Ink frame costs the same whatever changed.
  const model = new ConsoleModel({ verify: false, throttleMs: 250 });
  const conn = new Connection({ url, token: resolveToken(options.token) ?? undefined, model });
  conn.start();
  const [{ render, renderToString }, React, { App }, { noColorFromEnv }] = await Promise.all([
    import('ink'),
    import('react'),
    import('./app.js'),
    import('./layout/theme.js'),
  ]);
  dropUnrunModuleSources();
  const props = { model, url, allowWrite: options.allowWrite, noColor: noColorFromEnv(), actions: conn };

  if (options.once) {
    // One clean frame (no cursor games), e.g. for scripts and smoke tests.
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline && !(model.hasSnapshot && model.stats && model.spans.size)) await new Promise((r) => setTimeout(r, 50));
    conn.stop();
    const size = { columns: process.stdout.columns || 80, rows: process.stdout.rows || 24 };
    process.stdout.write(renderToString(React.createElement(App, { ...props, interactive: false, size }), { columns: size.columns }) + '\n');
    return { exitCode: Promise.resolve(model.hasSnapshot ? 0 : 1), quit: () => {} };
  }

  let quitting = false;
  if (options.bell) {
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

  // A terminal that went away (SSH link dropped, pane closed) fails every later write with EIO or
  // EPIPE: close the console as on SIGHUP instead of dying on the unhandled stream error.
  for (const stream of [process.stdout, process.stdin])
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EIO' && err.code !== 'EPIPE') throw err;
      terminalLost = true;
      quit(129);
    });
  const instance = render(
    React.createElement(App, { ...props, interactive: process.stdin.isTTY === true, onQuit: () => quit(0) }),
    // Not incrementalRendering: in Ink 6.8 it leaves the previous first line behind with our frame
    // height (one line short of the screen), so every frame is written whole.
    { exitOnCtrlC: false, patchConsole: true },
  );
  const exited = instance.waitUntilExit().then(
    () => true,
    () => false,
  );
  // Ink ends by itself on an error in a component (after showing it): the console is gone, exit 1.
  void exited.then((clean) => {
    if (quitting) return;
    quitting = true;
    conn.stop();
    resolveCode(clean ? 0 : 1);
  });
  return { exitCode, quit };
}
