// Stuck pairs: one agent refused again and again on the same path (it retries instead of picking
// other work, or its holder never lets go). The refusals of each (agent, repository, path) are kept
// for a sliding window; coordination_path_stuck_pairs counts the pairs at or over the threshold.
// Pure (the clock is passed in) and bounded: a fleet refused on many paths costs at most
// MAX_PAIRS pairs of at most MAX_TIMES refusal times each, and the gauge has no label at all, so no
// path or agent id ever becomes a series.

/** Refusals of one agent on one path within the window that make the pair stuck. */
export const STUCK_PAIR_REFUSALS = 5;
/** How far back refusals count. */
export const STUCK_PAIR_WINDOW_MS = 10 * 60_000;
/** Pairs remembered; the least recently refused is forgotten first. */
const MAX_PAIRS = 10_000;
/** Refusal times kept per pair (counts above it are shown as this many). */
const MAX_TIMES = 64;

export class StuckPairs {
  /** pair key -> refusal times (ms), oldest first; Map order is least recently refused first. */
  private readonly pairs = new Map<string, number[]>();

  constructor(
    readonly threshold = STUCK_PAIR_REFUSALS,
    readonly windowMs = STUCK_PAIR_WINDOW_MS,
    private readonly maxPairs = MAX_PAIRS,
  ) {}

  /** Records a refusal; returns the pair's refusals within the window, this one included. */
  record(agentId: string, repo: string, path: string, nowMs: number): number {
    const key = `${agentId}\0${repo}\0${path}`;
    const times = this.pairs.get(key) ?? [];
    this.pairs.delete(key); // re-inserted last: the most recently refused
    times.push(nowMs);
    this.trim(times, nowMs);
    if (times.length > MAX_TIMES) times.splice(0, times.length - MAX_TIMES);
    this.pairs.set(key, times);
    for (const oldest of this.pairs.keys()) {
      if (this.pairs.size <= this.maxPairs) break;
      this.pairs.delete(oldest);
    }
    return times.length;
  }

  /** Pairs refused at least `threshold` times within the window; forgets pairs with no refusal left in it. */
  stuck(nowMs: number): number {
    let n = 0;
    for (const [key, times] of this.pairs) {
      this.trim(times, nowMs);
      if (times.length === 0) this.pairs.delete(key);
      else if (times.length >= this.threshold) n++;
    }
    return n;
  }

  /** Pairs remembered (for tests of the bound). */
  get size(): number {
    return this.pairs.size;
  }

  private trim(times: number[], nowMs: number): void {
    const from = nowMs - this.windowMs;
    let drop = 0;
    while (drop < times.length && times[drop] <= from) drop++;
    if (drop) times.splice(0, drop);
  }
}
