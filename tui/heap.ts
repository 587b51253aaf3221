// The console's V8 heap sizing (ai-console, and npm start's whole process).
import v8 from 'node:v8';
import { flagGiven, nodeArgsOf } from '../shared/node-flags.js';

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
 *
 * V8's flags are per process: in `npm start` they hold for the daemon's thread too, whose own heap
 * policy is then off (scripts/start.ts). Its data, loaded at start, is then not given a young
 * generation grown to 2 x 16 MB that V8 would keep.
 */
export function tuneHeapForMemory(): void {
  const args = nodeArgsOf(process.execArgv, process.env);
  if (!flagGiven(args, ['--semi-space-growth-factor', '--max-semi-space-size', '--min-semi-space-size', '--max-heap-size']))
    v8.setFlagsFromString('--semi-space-growth-factor=1');
  if (!flagGiven(args, ['--heap-growing-percent', '--max-old-space-size', '--max-heap-size'])) v8.setFlagsFromString('--heap-growing-percent=20');
  if (!flagGiven(args, ['--optimize-for-size', '--no-optimize-for-size'])) v8.setFlagsFromString('--optimize-for-size');
  if (!flagGiven(args, ['--sparkplug', '--no-sparkplug', '--always-sparkplug'])) v8.setFlagsFromString('--no-sparkplug');
}
