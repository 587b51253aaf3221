// The sync failures the daemon counts (client resyncs, slow clients dropped, unreadable or unwritable
// legacy files): one tally that feeds both state_sync_failures_total and /api/stats, so the two
// figures cannot disagree.
import type { Counter } from 'prom-client';
import { SYNC_FAILURE_REASONS, type SyncFailureReason } from '../../shared/protocol.js';

export class SyncFailures {
  private readonly counts = Object.fromEntries(SYNC_FAILURE_REASONS.map((r) => [r, 0])) as Record<SyncFailureReason, number>;

  constructor(private readonly counter: Counter<'reason'>) {}

  record(reason: SyncFailureReason): void {
    this.counts[reason]++;
    this.counter.inc({ reason });
  }

  total(): number {
    return SYNC_FAILURE_REASONS.reduce((sum, r) => sum + this.counts[r], 0);
  }

  byReason(): Record<SyncFailureReason, number> {
    return { ...this.counts };
  }
}
