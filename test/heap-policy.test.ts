// The daemon's heap policy follows its load: a quiet daemon (a dozen agents) does not carry the
// 16 MB old-generation floor that keeps a busy one's full collections rare (issue 16's memory budget).
// Runs the policy in this test process: the flags it sets are V8's of this process.
import { describe, expect, it } from 'vitest';
import v8 from 'node:v8';
import { applyHeapPolicy, BUSY_SCAVENGES_PER_S, OLD_GROWING_PERCENT, oldGrowingPercent } from '../daemon/observability/heap-policy.js';
import { flagGiven, nodeArgsOf } from '../shared/node-flags.js';

const MB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Allocates short-lived objects for `ms`, yielding often: dozens of young-generation collections a second. */
async function churn(ms: number): Promise<void> {
  let sink: unknown[] = [];
  for (const end = Date.now() + ms; Date.now() < end;) {
    for (let i = 0; i < 20_000; i++) sink.push({ i, s: `value ${i}` });
    sink = [];
    await sleep(1);
  }
}

describe('heap policy by load', () => {
  it('quiet: the old generation grows by its percentage only; no floor', () => {
    expect(oldGrowingPercent(10 * MB, false)).toBe(OLD_GROWING_PERCENT);
    expect(oldGrowingPercent(500 * MB, false)).toBe(OLD_GROWING_PERCENT);
    // Busy, a small heap keeps its 16 MB of headroom.
    expect(oldGrowingPercent(10 * MB, true)).toBeGreaterThan(OLD_GROWING_PERCENT);
  });

  it('drops the floor once the process is quiet, and takes it back under load', async () => {
    // The floor is only visible for a heap smaller than 16 MB / 30%: this test process's is.
    expect(oldGrowingPercent(v8.getHeapStatistics().used_heap_size)).toBeGreaterThan(OLD_GROWING_PERCENT);
    const p = applyHeapPolicy({ off: false, nodeArgs: [] });
    try {
      p.loaded();
      // Nothing allocates here: within a few seconds the collections fall under BUSY_SCAVENGES_PER_S.
      for (const end = Date.now() + 20_000; p.applied.old_growing_percent !== OLD_GROWING_PERCENT; await sleep(100)) {
        if (Date.now() > end) throw new Error(`still ${p.applied.old_growing_percent}% after 20 s idle`);
      }
      expect(BUSY_SCAVENGES_PER_S).toBeGreaterThan(0);
      // Under allocation the floor is back.
      for (const end = Date.now() + 30_000; p.applied.old_growing_percent === OLD_GROWING_PERCENT;) {
        if (Date.now() > end) throw new Error('the floor did not come back after 30 s of allocation');
        await churn(500);
      }
      expect(p.applied.old_growing_percent).toBeGreaterThan(OLD_GROWING_PERCENT);
    } finally {
      p.stop();
    }
  });

  it('node flags: given ones are found on the command line and in NODE_OPTIONS, - and _ alike', () => {
    const args = nodeArgsOf(['--max_semi_space_size=2'], { NODE_OPTIONS: ' --optimize-for-size  --v8-pool-size=1' });
    expect(args).toEqual(['--max_semi_space_size=2', '--optimize-for-size', '--v8-pool-size=1']);
    expect(flagGiven(args, ['--max-semi-space-size'])).toBe(true);
    expect(flagGiven(args, ['--optimize_for_size'])).toBe(true);
    expect(flagGiven(args, ['--heap-growing-percent'])).toBe(false);
  });
});
