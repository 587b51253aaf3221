// Agent statuses the daemon itself acts on (any other status is free text it only shows and counts).

/** Waiting for a human (a permission prompt, a question): shown, and its claims keep their lease. */
export const NEEDS_INPUT = 'needs_input';

export function isWaitingForInput(agent: { status?: unknown } | undefined): boolean {
  return agent?.status === NEEDS_INPUT;
}

/** Seconds the agent waiting longest for input has waited (by its `needs_input.since`); 0 when none waits. */
export function longestWaitSeconds(agents: Iterable<{ data: { status?: unknown; needs_input?: unknown } }>, nowMs: number): number {
  let earliest = Infinity;
  for (const { data } of agents) {
    if (data.status !== NEEDS_INPUT) continue;
    const since = (data.needs_input as { since?: unknown } | null | undefined)?.since;
    const t = typeof since === 'string' ? Date.parse(since) : NaN;
    if (t < earliest) earliest = t;
  }
  return earliest === Infinity ? 0 : Math.max(0, (nowMs - earliest) / 1000);
}
