// Which hook changes may be answered before they are on disk (pure). A tool event of a session that
// is already working changes only when it was last heard of and what it is doing: losing that in a
// crash costs nothing the session's next event does not restore, and waiting for the journal's
// fsync on every tool call is most of the hook's latency. Anything else (a status, needs-input, a
// path lease, subagents, the session's first record, claims) waits for the disk before the answer.
import type { JsonObject } from '../../shared/types.js';

/** The fields a heartbeat changes. */
export const HEARTBEAT_FIELDS: ReadonlySet<string> = new Set(['last_heartbeat', 'last_event', 'last_event_at', 'activity']);

/**
 * True when `after` differs from `before` only in heartbeat fields. Other values are compared by
 * identity: the mapping copies the record shallowly, so a nested value it did not touch is the
 * same object, and one it rebuilt counts as changed (the safe side).
 */
export function heartbeatOnly(before: JsonObject | undefined, after: JsonObject): boolean {
  if (!before) return false;
  let same = 0;
  for (const k of Object.keys(after)) {
    if (HEARTBEAT_FIELDS.has(k)) continue;
    if (!Object.hasOwn(before, k) || before[k] !== after[k]) return false;
    same++;
  }
  // Every other field of `before` is still there (none was deleted).
  let others = 0;
  for (const k of Object.keys(before)) if (!HEARTBEAT_FIELDS.has(k)) others++;
  return others === same;
}
