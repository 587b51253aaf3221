// Claim leases, pure: how long a claim's lease lasts (from its record), and when each holder was
// last seen alive. Times here are monotonic milliseconds given by the caller (performance.now()),
// never the wall clock: a clock step must neither expire a live holder nor keep a silent one.
import { LEGACY_ESTIMATED_DURATION, parseDuration } from '../../shared/duration.js';
import type { JsonObject } from '../../shared/types.js';

export interface LeaseLimits {
  /** The lease of a claim that names none (--lease-ms). */
  defaultMs: number;
  /** The longest lease a claim may carry (--max-lease-ms). */
  maxMs: number;
}

/**
 * Claims without a heartbeat (the legacy helper's, imported ones) last this many times their
 * `estimated_duration`: legacy agents overrun their estimates, and losing a claim costs more than
 * holding a dead one a while longer.
 */
export const ESTIMATE_FACTOR = 3;

/** The legacy helper's own estimate (30m), in ms. */
const LEGACY_ESTIMATE_MS = parseDuration(LEGACY_ESTIMATED_DURATION) ?? 0;

/**
 * The lease of a claim sized from its estimate: factor x estimate, at least the default, at most the
 * maximum. A missing or unparseable estimate counts as the legacy helper's own, 30m.
 */
export function estimateLeaseMs(estimate: unknown, limits: LeaseLimits): number {
  const est = parseDuration(estimate) ?? LEGACY_ESTIMATE_MS;
  return Math.min(limits.maxMs, Math.max(limits.defaultMs, ESTIMATE_FACTOR * est));
}

/**
 * The lease of a held claim: its own `lease_ms` when it was claimed with one; the estimate's when
 * no daemon made the claim (no fencing token: imported, or written by a legacy script); the default
 * otherwise.
 */
export function claimLeaseMs(data: JsonObject, limits: LeaseLimits): number {
  const own = data.lease_ms;
  if (typeof own === 'number' && Number.isFinite(own) && own > 0) return Math.min(own, limits.maxMs);
  if (data.fencing_token === undefined || data.fencing_token === null) return estimateLeaseMs(data.estimated_duration, limits);
  return limits.defaultMs;
}

export interface HolderLease {
  /** Last sign of life (monotonic ms): a call by the agent, a change to its records, or the takeover. */
  aliveAt: number;
  /** The highest store revision among its records then: a later one (another daemon, a script) is life too. */
  rev: number;
  /** The default lease when it was last seen (a reload applies from its next sign of life). */
  defaultMs: number;
  /** The shortest lease among its claims, as far as known (Infinity: none shorter than the default). */
  shortestMs: number;
  /** Nothing of this holder can expire before this (monotonic ms): the sweeper skips it until then. */
  checkAt: number;
}

/** One holder's claims at a check: which expired, the shortest lease of the others, when to look again. */
export function dueClaims(
  h: HolderLease,
  now: number,
  claims: Iterable<{ id: string; leaseMs: number }>,
): { expired: string[]; shortestMs: number; checkAt: number } {
  const expired: string[] = [];
  let shortestMs = Infinity;
  // Look again within one default period at most: claims may join the holder without a call here.
  let checkAt = now + h.defaultMs;
  for (const c of claims) {
    const end = h.aliveAt + c.leaseMs;
    if (end <= now) {
      expired.push(c.id);
      continue;
    }
    if (end < checkAt) checkAt = end;
    if (c.leaseMs < shortestMs) shortestMs = c.leaseMs;
  }
  return { expired, shortestMs, checkAt };
}

/** The lease table: one entry per agent seen alive or holding claims. */
export class HolderLeases {
  private readonly holders = new Map<string, HolderLease>();

  get(agent: string): HolderLease | undefined {
    return this.holders.get(agent);
  }

  /** A sign of life at `now`: every claim of the agent starts a new lease period. */
  alive(agent: string, now: number, rev: number, defaultMs: number): HolderLease {
    let h = this.holders.get(agent);
    if (!h) {
      h = { aliveAt: now, rev, defaultMs, shortestMs: Infinity, checkAt: now };
      this.holders.set(agent, h);
    }
    h.aliveAt = now;
    h.rev = Math.max(h.rev, rev);
    h.defaultMs = defaultMs;
    h.checkAt = now + Math.min(defaultMs, h.shortestMs);
    return h;
  }

  /** A claim with a lease of its own: a short one moves the holder's next check earlier. */
  claimed(agent: string, leaseMs: number): void {
    const h = this.holders.get(agent);
    if (!h) return;
    if (leaseMs < h.shortestMs) h.shortestMs = leaseMs;
    if (h.aliveAt + leaseMs < h.checkAt) h.checkAt = h.aliveAt + leaseMs;
  }

  delete(agent: string): void {
    this.holders.delete(agent);
  }

  entries(): IterableIterator<[string, HolderLease]> {
    return this.holders.entries();
  }
}
