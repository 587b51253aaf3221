// A local copy of the daemon's coordination state, kept from the stream's snapshots and deltas: the
// one implementation of revision-gap and checksum checking, used by the stream client
// (client/stream-client.ts) and by the console model's own feed (tui/model/console-model.ts). Pure:
// what to do about a gap or a mismatch (ask for a snapshot, when, how often) is the caller's.
import { applyChanges, StateDigest } from './checksum.js';
import type { DeltaMessage, SnapshotMessage } from './protocol.js';
import { emptyState, type CoordinationState } from './types.js';

/** applied: in order and (when verified) matching; duplicate: already held; gap: revisions missed. */
export type DeltaOutcome = 'applied' | 'duplicate' | 'gap' | 'mismatch';

export interface DeltaPolicy {
  /** Compare the daemon's checksum with the local digest (off for feeds verified elsewhere). */
  verify?: boolean;
  /** Apply a delta after a gap anyway (the view stays live, unverified, until a snapshot). */
  applyAfterGap?: boolean;
}

export class StateReplica {
  state: CoordinationState = emptyState();
  revision = 0;
  private digest = new StateDigest();
  private hex: string | null = null;

  /** The checksum of the local copy, as computed here. */
  checksum(): string {
    return (this.hex ??= this.digest.hex());
  }

  /** Takes ownership of `msg.state` (later deltas mutate it). True when its checksum matches. */
  snapshot(msg: SnapshotMessage): boolean {
    this.state = msg.state;
    this.digest = StateDigest.of(msg.state);
    this.hex = null;
    this.revision = msg.revision;
    return this.checksum() === msg.checksum;
  }

  delta(msg: DeltaMessage, policy: DeltaPolicy = {}): DeltaOutcome {
    if (msg.revision <= this.revision) return 'duplicate'; // overlap after a ?since= replay
    const gap = msg.revision !== this.revision + 1;
    if (gap && !policy.applyAfterGap) return 'gap';
    applyChanges(this.state, msg.changes, this.digest);
    this.hex = null;
    this.revision = msg.revision;
    if (gap) return 'gap';
    return (policy.verify ?? true) && this.checksum() !== msg.checksum ? 'mismatch' : 'applied';
  }
}
