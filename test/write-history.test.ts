// The stale-copy memory of the legacy view (pure): what we replaced and added within the window.
import { describe, expect, it } from 'vitest';
import { textHash } from '../daemon/store/ingest.js';
import { MAX_KEPT_RECORDS, WriteHistory, hashFingerprint } from '../daemon/store/write-history.js';

const WINDOW = 30_000;

describe('write history (stale-copy checks)', () => {
  it('knows a replaced version of a key within the window, and nothing else', () => {
    const h = new WriteHistory(WINDOW);
    const v1 = textHash('{"a":1}');
    const v2 = textHash('{"a":2}');
    h.replaced('w1', v1, 1_000);
    expect(h.isStale('w1', v1, 2_000)).toBe(true);
    expect(h.isStale('w1', v2, 2_000)).toBe(false); // another version
    expect(h.isStale('w2', v1, 2_000)).toBe(false); // another key
    expect(h.recentlyAdded('w1', 2_000)).toBe(false);
    expect(h.isStale('w1', v1, 1_000 + WINDOW + 1)).toBe(false); // too old
  });

  it('knows recently added keys, and forgets them after the window', () => {
    const h = new WriteHistory(WINDOW);
    h.added('w1', 5_000);
    expect(h.recentlyAdded('w1', 6_000)).toBe(true);
    expect(h.recentlyAdded('w1', 5_000 + WINDOW + 1)).toBe(false);
    h.expire(5_000 + WINDOW + 1);
    expect(h.size).toBe(0);
  });

  it('keeps every event of the window through expiry and compaction, under sustained load', () => {
    const h = new WriteHistory(WINDOW);
    // 100 changes a second for 100 s: 3,000 events in any window, 10,000 in all.
    for (let i = 0; i < 10_000; i++) {
      const now = i * 10;
      h.replaced(`w${i % 500}`, textHash(`v${i}`), now);
      h.expire(now);
    }
    const now = 9_999 * 10;
    expect(h.size).toBe(WINDOW / 10 + 1);
    expect(h.isStale(`w${9_999 % 500}`, textHash('v9999'), now)).toBe(true);
    expect(h.isStale(`w${7_000 % 500}`, textHash('v7000'), now)).toBe(true); // 29.99 s ago
    expect(h.isStale(`w${6_000 % 500}`, textHash('v6000'), now)).toBe(false); // 39.99 s ago
  });

  it("fingerprints are the hash's first 48 bits", () => {
    expect(hashFingerprint('AAAAAAAB')).toBe(1);
    expect(hashFingerprint('________')).toBe(2 ** 48 - 1);
    const a = hashFingerprint(textHash('x'));
    expect(a).toBe(hashFingerprint(textHash('x')));
    expect(a).not.toBe(hashFingerprint(textHash('y')));
  });
});

describe('write history: replaced records kept as merge bases', () => {
  it('returns the replaced records of a key in the window, newest first, and forgets them with the window', () => {
    const h = new WriteHistory(WINDOW);
    const v1 = { id: 'w1', progress: 0 };
    const v2 = { id: 'w1', progress: 30 };
    h.added('w1', 1_000);
    h.replaced('w1', textHash(JSON.stringify(v1)), 2_000, v1);
    h.replaced('w1', textHash(JSON.stringify(v2)), 3_000, v2);
    h.replaced('w2', textHash('{}'), 3_000, { id: 'w2' });
    expect(h.versions('w1', 4_000)).toEqual([v2, v1]);
    expect(h.versions('w1', 4_000)[0]).toBe(v2); // the record itself, not a copy
    expect(h.versions('w3', 4_000)).toEqual([]);
    expect(h.versions('w1', 2_000 + WINDOW + 1)).toEqual([v2]);
    h.expire(3_000 + WINDOW + 1);
    expect(h.versions('w1', 3_000 + WINDOW + 1)).toEqual([]);
  });

  it('keeps the records of the newest MAX_KEPT_RECORDS events only (the fingerprints of all)', () => {
    const h = new WriteHistory(WINDOW);
    const n = MAX_KEPT_RECORDS + 10;
    for (let i = 0; i < n; i++) h.replaced(`k${i}`, textHash(`v${i}`), 1_000, { i });
    expect(h.versions('k0', 2_000)).toEqual([]);
    expect(h.isStale('k0', textHash('v0'), 2_000)).toBe(true);
    expect(h.versions(`k${n - 1}`, 2_000)).toEqual([{ i: n - 1 }]);
  });
});
