/** Fixed-capacity FIFO: the console's memory stays bounded however long it runs. */
export class Ring<T> {
  private buf: T[] = [];
  private start = 0;

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.buf.length;
  }

  /** Appends; returns the evicted oldest item when full. */
  push(item: T): T | undefined {
    if (this.buf.length < this.capacity) {
      this.buf.push(item);
      return undefined;
    }
    const old = this.buf[this.start];
    this.buf[this.start] = item;
    this.start = (this.start + 1) % this.capacity;
    return old;
  }

  /** Oldest first. */
  toArray(): T[] {
    return this.buf.slice(this.start).concat(this.buf.slice(0, this.start));
  }

  last(): T | undefined {
    if (this.buf.length === 0) return undefined;
    return this.buf[(this.start + this.buf.length - 1) % this.buf.length];
  }

  clear(): void {
    this.buf = [];
    this.start = 0;
  }
}
