// Agent statuses the daemon itself acts on (any other status is free text it only shows and counts).

/** Waiting for a human (a permission prompt, a question): shown, and its claims keep their lease. */
export const NEEDS_INPUT = 'needs_input';

export function isWaitingForInput(agent: { status?: unknown } | undefined): boolean {
  return agent?.status === NEEDS_INPUT;
}
