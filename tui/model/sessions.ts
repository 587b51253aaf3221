// Claude Code sessions as the console sees them: what a session's agent record says (project,
// activity, wait, cost) and a per-status index of the fleet kept from the deltas (the header's counts
// and the bell's "a session started waiting"). Pure: no I/O, no drawing.
import { NEEDS_INPUT } from '../../shared/agent-status.js';
import type { CoordinationState, Entry, Json, JsonObject, RecordChange } from '../../shared/types.js';

export const CLAUDE_CODE = 'claude-code';
export { NEEDS_INPUT };

const str = (v: Json | undefined): string | null => (typeof v === 'string' && v !== '' ? v : null);
const num = (v: Json | undefined): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const obj = (v: Json | undefined): JsonObject | null => (v !== null && typeof v === 'object' && !Array.isArray(v) ? v : null);

export const isSession = (d: JsonObject): boolean => d.source === CLAUDE_CODE;

/** A path under the session's cwd is shown relative to it (`src/db.ts`), others as given. */
function relativeTo(target: string, cwd: string | null): string {
  if (!cwd) return target;
  const base = cwd.endsWith('/') ? cwd : cwd + '/';
  return target.startsWith(base) && target.length > base.length ? target.slice(base.length) : target;
}

/** "Edit src/db.ts", "Bash npm test", or the tool alone; null when the session has used none. */
export function activityText(d: JsonObject): string | null {
  const a = obj(d.activity);
  const tool = a && str(a.tool);
  if (!tool) return null;
  const target = str(a.target);
  return target ? `${tool} ${relativeTo(target, str(d.cwd))}` : tool;
}

/** When the current wait for a human began (ms), null when the agent is not waiting. */
export function waitingSince(d: JsonObject): number | null {
  if (d.status !== NEEDS_INPUT) return null;
  const since = str(obj(d.needs_input)?.since);
  const t = since ? Date.parse(since) : NaN;
  return Number.isNaN(t) ? null : t;
}

export function waitingMessage(d: JsonObject): string | null {
  return d.status === NEEDS_INPUT ? str(obj(d.needs_input)?.message) : null;
}

/** The session's cost so far (USD), null when no telemetry has reported any usage. */
export function costOf(d: JsonObject): number | null {
  return num(obj(d.usage)?.cost_usd);
}

export interface StatusCounts {
  agents: number;
  sessions: number;
  /** Agents per status ('' for none). */
  byStatus: ReadonlyMap<string, number>;
}

/**
 * Each agent's status, kept from the deltas like the held-claim index: the header's counts cost
 * nothing per frame, and every transition into needs_input is seen, even one followed by another
 * change before the next redraw. `waitStarts` counts those transitions; the first snapshot only
 * seeds the index (a session already waiting when the console starts is not news), a later one
 * (a resync, a reconnect) counts the sessions waiting now that were not before.
 */
export class StatusIndex {
  /** Transitions into needs_input seen since the first snapshot. */
  waitStarts = 0;
  private readonly statuses = new Map<string, string>();
  private readonly sessionKeys = new Set<string>();
  private readonly counts = new Map<string, number>();
  private seeded = false;

  rebuild(state: CoordinationState): void {
    const before = this.seeded ? new Set([...this.statuses].filter(([, s]) => s === NEEDS_INPUT).map(([k]) => k)) : null;
    this.statuses.clear();
    this.sessionKeys.clear();
    this.counts.clear();
    const agents = state.agents;
    for (const key in agents) this.set(key, agents[key]);
    if (before) for (const [k, s] of this.statuses) if (s === NEEDS_INPUT && !before.has(k)) this.waitStarts++;
    this.seeded = true;
  }

  /** Call with each delta's changes (only the new entries are read). */
  apply(changes: readonly RecordChange[]): void {
    for (const ch of changes) {
      if (ch.section !== 'agents') continue;
      const was = this.statuses.get(ch.key);
      this.set(ch.key, ch.op === 'del' ? undefined : ch.entry);
      if (this.seeded && was !== NEEDS_INPUT && this.statuses.get(ch.key) === NEEDS_INPUT) this.waitStarts++;
    }
  }

  snapshot(): StatusCounts {
    return { agents: this.statuses.size, sessions: this.sessionKeys.size, byStatus: this.counts };
  }

  count(status: string): number {
    return this.counts.get(status) ?? 0;
  }

  private set(key: string, e: Entry | undefined): void {
    const prev = this.statuses.get(key);
    if (prev !== undefined) {
      const n = (this.counts.get(prev) ?? 1) - 1;
      if (n > 0) this.counts.set(prev, n);
      else this.counts.delete(prev);
      this.statuses.delete(key);
      this.sessionKeys.delete(key);
    }
    if (!e) return;
    const status = str(e.data.status) ?? '';
    this.statuses.set(key, status);
    this.counts.set(status, (this.counts.get(status) ?? 0) + 1);
    if (isSession(e.data)) this.sessionKeys.add(key);
  }
}
