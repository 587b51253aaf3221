// The heap policy's hooks while the store loads records (see StoreOptions.loadHooks). Loading runs
// without yielding, so timers do not fire there: the loops call in instead.

export interface LoadHooks {
  /** Every few thousand records: the young generation may be resized now. */
  tick(): void;
  /** Long work without ticks follows: no growth until the next check. */
  hold(): void;
}

/** Records loaded between two ticks. */
const LOAD_EVERY = 2048;

/** Runs `fn` for each i in [from, to), ticking `hooks` every LOAD_EVERY records, and holds after. */
export function loadEach(hooks: LoadHooks | undefined, from: number, to: number, fn: (i: number) => void): void {
  for (let i = from; i < to; i++) {
    if (i % LOAD_EVERY === 0) hooks?.tick();
    fn(i);
  }
  hooks?.hold();
}
