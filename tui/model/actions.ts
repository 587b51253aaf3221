/** Outcome of a mutating call, as the footer shows it. */
export interface ActionResult {
  ok: boolean;
  message: string;
}

/** Mutating calls (only offered with --allow-write); implemented by the network layer. */
export interface Actions {
  release(workId: string, agentId: string): Promise<ActionResult>;
  markOffline(agentId: string): Promise<ActionResult>;
}
