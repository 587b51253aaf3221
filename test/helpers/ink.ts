// Waiting for an Ink app rendered by ink-testing-library to take a key and draw.
//
// React runs its work (renders, the effect that attaches Ink's input listener) in slices scheduled
// with setImmediate. On a loaded machine a plain timer can fire before those slices ran, so a key
// pressed "after 40 ms" could reach an app that had not attached its listener yet, or a frame be
// read before the render. These helpers wait for the condition, or past the scheduled slices.
import type { EventEmitter } from 'node:events';

const immediate = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Waits `ms`, then lets React's scheduled slices run (each setImmediate round runs every queued one). */
export async function tick(ms = 40): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
  for (let i = 0; i < 20; i++) await immediate();
}

/** Resolves once Ink listens to stdin (its input effect ran), so no key typed after it is lost. */
export async function inputReady(stdin: EventEmitter, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (stdin.listenerCount('readable') === 0) {
    if (Date.now() > deadline) throw new Error(`Ink attached no stdin listener within ${timeoutMs} ms`);
    await tick(10);
  }
}
