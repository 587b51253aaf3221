// The pure lease rules: durations as the legacy data writes them, a claim's lease from its record,
// and which claims of a holder are due at a given monotonic instant.
import { describe, expect, it } from 'vitest';
import { claimLeaseMs, dueClaims, estimateLeaseMs, HolderLeases } from '../daemon/core/leases.js';
import { parseDuration } from '../shared/duration.js';
import { textOf } from '../shared/text.js';

const MIN = 60_000;
const limits = { defaultMs: 60_000, maxMs: 24 * 60 * MIN };

describe('parseDuration', () => {
  it('reads the legacy estimates and the usual forms', () => {
    expect(parseDuration('30m')).toBe(30 * MIN);
    expect(parseDuration('15m')).toBe(15 * MIN);
    expect(parseDuration('45m')).toBe(45 * MIN);
    expect(parseDuration('5m')).toBe(5 * MIN);
    expect(parseDuration('1h')).toBe(60 * MIN);
    expect(parseDuration('2h')).toBe(120 * MIN);
    expect(parseDuration('1h30m')).toBe(90 * MIN);
    expect(parseDuration('1.5h')).toBe(90 * MIN);
    expect(parseDuration(' 45 min ')).toBe(45 * MIN);
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('1500ms')).toBe(1500);
    expect(parseDuration('2 hours')).toBe(120 * MIN);
    expect(parseDuration('1d')).toBe(24 * 60 * MIN);
  });

  it('refuses what is not a duration', () => {
    for (const bad of ['', ' ', '30', 'soon', 'm30', '30x', '-5m', '0m', '1h-', 'h', '30m and more', null, undefined, 30, {}, 'x'.repeat(100)]) {
      expect(parseDuration(bad), textOf(bad)).toBeNull();
    }
  });
});

describe("a claim's lease", () => {
  it('from the estimate: 3x, at least the default, at most the maximum; unparseable counts as 30m', () => {
    expect(estimateLeaseMs('30m', limits)).toBe(90 * MIN);
    expect(estimateLeaseMs('10s', limits)).toBe(60_000);
    expect(estimateLeaseMs('12h', limits)).toBe(24 * 60 * MIN);
    expect(estimateLeaseMs('soon', limits)).toBe(90 * MIN);
    expect(estimateLeaseMs(undefined, limits)).toBe(90 * MIN);
  });

  it('own lease_ms first; no fencing token (legacy) from the estimate; else the default', () => {
    expect(claimLeaseMs({ lease_ms: 5000, fencing_token: 3, estimated_duration: '30m' }, limits)).toBe(5000);
    expect(claimLeaseMs({ lease_ms: 48 * 60 * MIN, fencing_token: 3 }, limits)).toBe(24 * 60 * MIN);
    expect(claimLeaseMs({ estimated_duration: '15m', status: 'active' }, limits)).toBe(45 * MIN);
    expect(claimLeaseMs({ estimated_duration: '15m', fencing_token: 4 }, limits)).toBe(60_000);
    expect(claimLeaseMs({ lease_ms: 'long', fencing_token: 4 }, limits)).toBe(60_000);
  });
});

describe('holders', () => {
  it('a claim is due one lease after the last sign of life; the next check is the earliest end', () => {
    const t = new HolderLeases();
    const h = t.alive('a', 1000, 5, 60_000);
    expect(h.checkAt).toBe(61_000);
    t.claimed('a', 10_000);
    expect(h.checkAt).toBe(11_000);
    const claims = [
      { id: 'short', leaseMs: 10_000 },
      { id: 'plain', leaseMs: 60_000 },
      { id: 'long', leaseMs: 90 * MIN },
    ];
    expect(dueClaims(h, 10_999, claims).expired).toEqual([]);
    const due = dueClaims(h, 11_000, claims);
    expect(due.expired).toEqual(['short']);
    expect(due.checkAt).toBe(61_000);
    expect(due.shortestMs).toBe(60_000);
    // A sign of life renews every claim from then.
    t.alive('a', 50_000, 6, 60_000);
    expect(dueClaims(h, 61_000, claims.slice(1)).expired).toEqual([]);
    expect(dueClaims(h, 110_000, claims.slice(1)).expired).toEqual(['plain']);
  });
});
