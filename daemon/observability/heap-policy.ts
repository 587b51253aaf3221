// Heap sizing for a daemon that keeps its whole state in memory.
//
// V8's defaults suit short programs: the old generation may grow to several times the live data
// before a full collection (with plenty of RAM the growth factor goes up to 4), and the young
// generation to 2 x 16 MB, so a daemon with a large state sits far above its live size.
// This policy keeps the heap near its live size without capping it (a hard --max-old-space-size
// would crash the daemon on a big data dir), while keeping full collections rare enough not to
// decide the latency tail (each one's marking shows in the p99 under load):
//   - between full collections the old generation may grow by 30% of what survived the last one,
//     and by at least 16 MB (V8 --heap-growing-percent, worked out again after each full
//     collection, at most 100%). Less meant full collections often enough to lift the p99; more
//     took the resident size past the budget. A small heap gets the floor: at 30% alone its full
//     collections would come several times a second. Figures in docs/performance.md.
//   - the young generation grows to 2 x 4 MB at most (V8 would double it to 2 x 16 MB under load).
//     The bytes saved against 2 x 8 MB pay for the larger old-generation headroom; scavenges come
//     twice as often but each takes about half as long. `holdYoungGeneration()` at the top of
//     `ai-processor start` keeps it from growing while the modules load (they would leave it at
//     2 x 8 MB, and V8 does not shrink it again under load).
//   - both are for a busy daemon. A quiet one (fewer than BUSY_SCAVENGES_PER_S young-generation
//     collections a second, e.g. a dozen agents) gains nothing from them and would carry the 16 MB
//     of old-generation headroom and a grown young generation for ever: quiet, the old generation
//     grows by OLD_GROWING_PERCENT only (no floor), V8 sizes the heap for memory rather than speed
//     (--optimize-for-size: its own smallest growth step between full collections is 2 MB instead
//     of 8) and the young generation is held where it is (V8 shrinks it by itself when little is
//     allocated). The mode follows the collection rate, checked
//     every second; a burst of work is busy again within a second.
// All are V8 flags set at run time (v8.setFlagsFromString): V8 reads them each time it sizes the
// heap. Node keeps run-time flag changes allowed (it turns V8's flag freezing off for this API).
// Flags given to node by the operator (command line or NODE_OPTIONS) win: what they set is left
// alone. AI_PROCESSOR_HEAP_POLICY=off turns the policy off (both read by config.ts heapPolicyInputs).
import v8 from 'node:v8';
import { PerformanceObserver, constants, performance } from 'node:perf_hooks';
import type { HeapPolicyInputs } from '../config.js';
import { flagGiven } from '../../shared/node-flags.js';

/** Old generation growth between full collections, in percent of the live size (the floor). */
export const OLD_GROWING_PERCENT = 30;
/** ... and in MB at least, up to doubling the live size. */
export const OLD_MIN_HEADROOM_MB = 16;
const OLD_MAX_PERCENT = 100;
/** Young-generation collections a second from which the daemon counts as busy (see above). */
export const BUSY_SCAVENGES_PER_S = 10;
/** Window over which the collection rate is taken. */
const RATE_WINDOW_MS = 1000;
/** Largest semi-space the young generation may grow to (MB; V8's default is 16). */
export const YOUNG_SEMI_SPACE_MB = 4;
/** How often the young generation's size is checked: often while it may grow, seldom once at its cap. */
const CHECK_GROWING_MS = 20;
const CHECK_CAPPED_MS = 1000;

export interface HeapPolicy {
  /** What was applied (for the log and /api/stats). */
  readonly applied: { old_growing_percent: number | null; young_semi_space_mb: number | null };
  /**
   * Checks the young generation now. The loading store calls it every few thousand records: while
   * it loads, timers do not run, and unchecked V8 would double the young generation several times over.
   */
  tick(): void;
  /** No growth of the young generation until the next check: long work without ticks follows. */
  hold(): void;
  /** The data is loaded: the young generation is checked by timer, the old one's growth follows its live size. */
  loaded(): void;
  stop(): void;
}

const OLD_FLAGS = ['--heap-growing-percent', '--max-old-space-size', '--max-heap-size', '--optimize-for-size'];
const YOUNG_FLAGS = ['--semi-space-growth-factor', '--max-semi-space-size', '--min-semi-space-size', '--max-heap-size', '--optimize-for-size'];

/**
 * Called first thing by `ai-processor start`, before the daemon's modules load: holds the young
 * generation at its start size (1 MB) so that loading them does not grow it past the policy's cap.
 */
export function holdYoungGeneration({ off, nodeArgs }: HeapPolicyInputs): void {
  if (!off && !flagGiven(nodeArgs, YOUNG_FLAGS)) v8.setFlagsFromString('--semi-space-growth-factor=1');
}

/**
 * The old generation's growth for a live size: OLD_GROWING_PERCENT, or, when busy, the floor's share
 * of a small heap.
 */
export function oldGrowingPercent(liveBytes: number, busy = true): number {
  if (!busy) return OLD_GROWING_PERCENT;
  const floor = Math.ceil((100 * OLD_MIN_HEADROOM_MB * 1024 * 1024) / Math.max(liveBytes, 1));
  return Math.min(OLD_MAX_PERCENT, Math.max(OLD_GROWING_PERCENT, floor));
}

export function applyHeapPolicy({ off, nodeArgs }: HeapPolicyInputs): HeapPolicy {
  const old = !off && !flagGiven(nodeArgs, OLD_FLAGS);
  const young = !off && !flagGiven(nodeArgs, YOUNG_FLAGS);
  let percent = 0;
  const setPercent = (p: number) => {
    if (p === percent) return;
    percent = p;
    v8.setFlagsFromString(`--heap-growing-percent=${p}`);
  };
  let observer: PerformanceObserver | null = null;
  // Busy until the first second of collections says otherwise: a start under load keeps its headroom.
  let busy = true;
  let minors = 0;
  let windowStart = 0;
  // While the data loads: the floor percentage only. A limit worked out from the small heap of a
  // start (the 16 MB floor is 100% of it) would stand until the next full collection, which under
  // load may come long after: 170+ MB resident at 50k records instead of ~147.
  if (old) setPercent(OLD_GROWING_PERCENT);
  const adapt = () => {
    if (!old || observer) return;
    setPercent(oldGrowingPercent(v8.getHeapStatistics().used_heap_size, busy));
    windowStart = performance.now();
    // After each full collection the heap holds about its live data: size the next growth from it.
    // (It takes effect from the collection after: V8 set the present limit as this one ended.)
    observer = new PerformanceObserver((list) => {
      let major = false;
      for (const e of list.getEntries()) {
        const kind = (e.detail as { kind?: number } | undefined)?.kind;
        if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) major = true;
        else if (kind === constants.NODE_PERFORMANCE_GC_MINOR) minors++;
      }
      if (major) setPercent(oldGrowingPercent(v8.getHeapStatistics().used_heap_size, busy));
    });
    observer.observe({ entryTypes: ['gc'] });
  };
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
  // it after idle periods: allow a doubling only where it stays within the cap. Checked every 20 ms
  // while it may grow, every second once at the cap (then it can only shrink), and at every tick().
  let stopped = false;
  /** Busy or quiet, from the collections of the last window (once it is over). */
  const rate = () => {
    if (!observer) return;
    const now = performance.now();
    if (now - windowStart < RATE_WINDOW_MS) return;
    const next = (minors * 1000) / (now - windowStart) >= BUSY_SCAVENGES_PER_S;
    minors = 0;
    windowStart = now;
    if (next === busy) return;
    busy = next;
    if (!old) return;
    v8.setFlagsFromString(busy ? '--no-optimize-for-size' : '--optimize-for-size');
    setPercent(oldGrowingPercent(v8.getHeapStatistics().used_heap_size, busy));
  };
  const tick = () => {
    if (stopped) return;
    rate();
    if (!young) return;
    const space = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    if (space) setGrowing(busy && space.space_size * 2 <= 2 * YOUNG_SEMI_SPACE_MB * 1024 * 1024);
  };
  const check = () => {
    timer = null;
    if (stopped) return;
    tick();
    timer = setTimeout(check, growing ? CHECK_GROWING_MS : CHECK_CAPPED_MS);
    timer.unref();
  };
  // While the data loads, only the store's ticks let it grow: loading 50k records in a young
  // generation at its cap instead of the 1 MB the modules were loaded in saves ~0.25 s of a start.
  return {
    get applied() {
      return { old_growing_percent: old ? percent : null, young_semi_space_mb: young ? YOUNG_SEMI_SPACE_MB : null };
    },
    tick,
    hold() {
      if (young && !stopped) setGrowing(false);
    },
    loaded() {
      if (stopped) return;
      adapt();
      if ((young || old) && !timer) check();
    },
    /** Stops adjusting, and gives the heap back to V8's own sizing. */
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      observer?.disconnect();
      observer = null;
      if (young) setGrowing(true);
      if (old) v8.setFlagsFromString('--heap-growing-percent=0'); // 0: V8's dynamic factor
      if (old && !busy) v8.setFlagsFromString('--no-optimize-for-size');
    },
  };
}
