// At most `max` holders at once; the others wait in arrival order. Used to bound how many snapshots
// are being written at the same time (each holds a captured state and the event loop in turns).
export class Slots {
  private busy = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly max: number) {}

  /** Resolves with the release function once a slot is free. Release exactly once. */
  acquire(): Promise<() => void> {
    return new Promise((resolve) => {
      const grant = (): void => {
        this.busy++;
        let released = false;
        resolve(() => {
          if (released) return;
          released = true;
          this.busy--;
          this.waiting.shift()?.();
        });
      };
      if (this.busy < this.max) grant();
      else this.waiting.push(grant);
    });
  }

  get queued(): number {
    return this.waiting.length;
  }
}
