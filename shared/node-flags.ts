// Flags for the node processes of the daemon and the console. The bins apply them themselves (the
// sh line at the top of daemon/cli.ts and tui/cli.tsx, unless NODE_OPTIONS sets the pool size);
// `npm start`, the systemd unit (as NODE_OPTIONS, for ExecStart lines that run node directly) and
// the bench and tests (which run the programs as shipped) give them too.
//
// --v8-pool-size=1: V8's helper threads (concurrent marking, sweeping, compilation) are one
// instead of Node's four. On a small machine the four take the cores the event loop needs while a
// full collection marks, and requests wait for the whole marking instead of interleaving with it;
// fewer threads also mean fewer malloc arenas. One helper keeps up with heaps of this size on any
// machine. Figures in docs/performance.md ("Where the time goes").
export const NODE_FLAGS = ['--v8-pool-size=1'];

/** True when node was started with a V8 pool size of the operator's (command line or NODE_OPTIONS). */
export function poolSizeGiven(execArgv: readonly string[], env: Readonly<Record<string, string | undefined>>): boolean {
  return [...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)].some((a) => a.startsWith('--v8-pool-size'));
}

/** The node flags of a process: its command line's, then NODE_OPTIONS'. */
export function nodeArgsOf(execArgv: readonly string[], env: Readonly<Record<string, string | undefined>>): string[] {
  return [...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/).filter(Boolean)];
}

/** True when `args` hold one of `flags` (V8 takes - and _ alike; a value after = does not matter). */
export function flagGiven(args: readonly string[], flags: readonly string[]): boolean {
  const norm = (s: string) => s.replace(/_/g, '-').split('=')[0];
  const set = new Set(args.map(norm));
  return flags.some((f) => set.has(norm(f)));
}
