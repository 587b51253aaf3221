// Heap sizing for a daemon that keeps its whole state in memory.
//
// V8's defaults suit short programs: the old generation may grow to several times the live data
// before a full collection (with plenty of RAM the growth factor goes up to 4), and the young
// generation to 2 x 16 MB. With 50k records (~55 MB live) the daemon then sits at 210+ MB resident.
// This policy keeps the heap near its live size without capping it (a hard --max-old-space-size
// would crash the daemon on a big data dir):
//   - between full collections the old generation may grow by 20% of what survived the last one
//     (V8 --heap-growing-percent); the limit still follows the live data up, however large. (Not
//     more while the data is loaded: the limit set then would stand until the next full collection,
//     which under load may be long after.) Costs ~0.1 s of a 50k-record start (more collections);
//   - the young generation does not grow past 2 x 8 MB (the size loading the modules leaves it at):
//     V8 would double it to 2 x 16 MB under load, for little gain. If V8 shrinks it (after an idle
//     period) it may grow back to 2 x 8 MB; checks are periodic, so it can overshoot by a doubling.
// Both are V8 flags set at run time (v8.setFlagsFromString): V8 reads them each time it sizes the
// heap. Node keeps run-time flag changes allowed (it turns V8's flag freezing off for this API).
// Flags given to node by the operator (command line or NODE_OPTIONS) win: what they set is left
// alone. AI_PROCESSOR_HEAP_POLICY=off turns the policy off.
//
// Measured (50k records, 32 HTTP clients, 2 cores): RSS after load ~150 MB instead of ~200 MB, for
// ~10-15% more CPU per claim (more frequent, smaller collections).
import v8 from 'node:v8';

/** Old generation growth between full collections, in percent of the live size. */
export const OLD_GROWING_PERCENT = 20;
/** Largest semi-space the young generation may grow to (MB; V8's default is 16). */
export const YOUNG_SEMI_SPACE_MB = 8;
/** How often the young generation's size is checked: often while it may grow, seldom once at its cap. */
const CHECK_GROWING_MS = 20;
const CHECK_CAPPED_MS = 1000;

export interface HeapPolicy {
  /** What was applied (for the log and /api/stats). */
  readonly applied: { old_growing_percent: number | null; young_semi_space_mb: number | null };
  /** The data is loaded: let the young generation grow to its cap from now on. */
  loaded(): void;
  stop(): void;
}

const OLD_FLAGS = ['--heap-growing-percent', '--max-old-space-size', '--max-heap-size', '--optimize-for-size'];
const YOUNG_FLAGS = ['--semi-space-growth-factor', '--max-semi-space-size', '--min-semi-space-size', '--max-heap-size', '--optimize-for-size'];

/** True when node was started with one of `flags` (V8 accepts - and _ alike). */
function given(args: string[], flags: string[]): boolean {
  const norm = (s: string) => s.replace(/_/g, '-').split('=')[0];
  const set = new Set(args.map(norm));
  return flags.some((f) => set.has(norm(f)));
}

export function applyHeapPolicy(env: NodeJS.ProcessEnv = process.env, nodeArgs: string[] = [...process.execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/).filter(Boolean)]): HeapPolicy {
  const off = (env.AI_PROCESSOR_HEAP_POLICY ?? '').trim().toLowerCase() === 'off';
  const old = !off && !given(nodeArgs, OLD_FLAGS);
  const young = !off && !given(nodeArgs, YOUNG_FLAGS);
  if (old) v8.setFlagsFromString(`--heap-growing-percent=${OLD_GROWING_PERCENT}`);
  // Growth factor 1: the young generation keeps its present size at every collection.
  if (young) v8.setFlagsFromString('--semi-space-growth-factor=1');
  let timer: NodeJS.Timeout | null = null;
  let growing: boolean | null = null;
  const setGrowing = (on: boolean) => {
    if (growing === on) return;
    growing = on;
    v8.setFlagsFromString(`--semi-space-growth-factor=${on ? 2 : 1}`);
  };
  // V8 grows the young generation (doubling) when much of it survives its collections, and shrinks
  // it after idle periods: allow doubling while below the cap, none at or above it. Checked every
  // 20 ms while it may grow, every second once at the cap (then it can only shrink).
  let stopped = false;
  const check = () => {
    timer = null;
    if (stopped) return;
    const space = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    if (space) setGrowing(space.space_size < 2 * YOUNG_SEMI_SPACE_MB * 1024 * 1024);
    timer = setTimeout(check, growing ? CHECK_GROWING_MS : CHECK_CAPPED_MS);
    timer.unref();
  };
  return {
    applied: { old_growing_percent: old ? OLD_GROWING_PERCENT : null, young_semi_space_mb: young ? YOUNG_SEMI_SPACE_MB : null },
    loaded() {
      if (young && !timer && !stopped) check();
    },
    /** Stops adjusting, and gives the heap back to V8's own sizing. */
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      if (young) setGrowing(true);
      if (old) v8.setFlagsFromString('--heap-growing-percent=0'); // 0: V8's dynamic factor
    },
  };
}
