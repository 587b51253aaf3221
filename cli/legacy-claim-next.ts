// `coordination_helper.sh claim-next [work_type|any] [wait_seconds] [team]`: claims the best ready
// work item (priority, then age) for AGENT_ID, optionally waiting for one (docs/work-graph.md).
import type { ApiResponse } from '../client/api.js';
import { generateId } from '../shared/ids.js';

/** The legacy session's part this command uses (legacy-helper.ts's Session; not imported: no cycle). */
export interface LegacySession {
  readonly opts: { json: boolean };
  readonly io: { env: NodeJS.ProcessEnv };
  say(line: string): void;
  json(value: unknown, pretty?: boolean): void;
  fail(line: string, code: number): never;
  usage(text: string): never;
  refused(res: ApiResponse<any>, what: string): never; // eslint-disable-line @typescript-eslint/no-explicit-any -- as the session declares it
  call<T = any>(method: string, p: string, body?: unknown, headers?: Record<string, string>): Promise<ApiResponse<T>>; // eslint-disable-line @typescript-eslint/no-explicit-any -- answers are read loosely, as the session does
}

/** The session's requests give up after 60 s: the wait stays well below. */
const MAX_WAIT_S = 50;

export async function claimNextCommand(s: LegacySession, args: string[], refusedCode: number): Promise<void> {
  const [typeArg = 'any', waitArg = '0', team] = args;
  const wait = Number(waitArg);
  if (waitArg.trim() === '' || !Number.isFinite(wait) || wait < 0 || wait > MAX_WAIT_S)
    s.usage(`wait_seconds must be a number from 0 to ${MAX_WAIT_S}, got "${waitArg}"`);
  const agentId = s.io.env.AGENT_ID || generateId('agent');
  s.say(`🤖 Agent ${agentId} claiming the next ready work item${typeArg !== 'any' ? ` of type ${typeArg}` : ''}${wait ? ` (waiting up to ${wait}s)` : ''}`);
  const res = await s.call('POST', '/api/coordination/claim-next', {
    agent_id: agentId,
    ...(typeArg !== 'any' ? { work_types: [typeArg] } : {}),
    ...(team ? { teams: [team] } : {}),
    ...(wait ? { wait_ms: Math.round(wait * 1000) } : {}),
  });
  if (res.status === 204) s.fail('⚠️ NOTHING READY: no ready work item for this agent', refusedCode);
  if (res.status !== 200) s.refused(res, 'claim-next failed');
  const c = res.body.claim ?? {};
  s.say(
    `✅ SUCCESS: Claimed work item ${res.body.work_id} (${c.priority ?? 'medium'} priority, ${c.work_type ?? 'general'}) for team ${c.team ?? 'autonomous_team'}`,
  );
  s.say(`CURRENT_WORK_ITEM=${res.body.work_id}`);
  if (s.opts.json) s.json(res.body);
}
