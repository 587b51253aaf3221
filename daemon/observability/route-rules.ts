// Which requests are traced, and under what name: one rule per route, worked out once when the route
// is declared (request-spans.ts attaches it), never looked up per request.
//
// What is recorded: every mutating API call and analyzer call (parent-based: a caller's traceparent
// with flag 00 means "don't record"); reads only when the caller sends a sampled trace context;
// /metrics, /health, /ready and the telemetry and entropy endpoints never (measuring must not change
// what it measures).

/** always: every call; asked: only when the caller sends a sampled trace context; never. */
export type RecordPolicy = 'always' | 'asked' | 'never';

export interface RouteRule {
  /** Span name: the legacy operation names where there is one. */
  name: string;
  /** s2s.operation attribute (the legacy helper's words). */
  operation: string;
  record: RecordPolicy;
  route: string;
}

/** Legacy names for the API's operations (routes as fastify declares them). */
const OPERATIONS: Record<string, [name: string, operation: string]> = {
  'POST /api/agents': ['s2s.agent.register', 'agent_register'],
  'POST /api/agents/:agent_id/heartbeat': ['s2s.agent.heartbeat', 'agent_heartbeat'],
  'POST /api/work': ['s2s.work.create', 'work_create'],
  'POST /api/coordination/claim': ['s2s.work.claim', 'work_claim'],
  'POST /api/coordination/progress': ['s2s.work.progress', 'progress_update'],
  'POST /api/coordination/complete': ['s2s.work.complete', 'work_complete'],
  'POST /api/coordination/release': ['s2s.work.release', 'work_release'],
  'POST /api/claude/analyze-priorities': ['s2s.claude.priority_analysis', 'priority_analysis'],
  'POST /api/claude/stream': ['s2s.claude_headless.stream_analyze', 'stream_analyze'],
};

const NEVER = [/^\/metrics$/, /^\/health$/, /^\/ready$/, /^\/api\/telemetry(\/|$)/, /^\/api\/entropy(\/|$)/, /\/stream$/];

export function ruleFor(method: string, route: string | undefined): RouteRule {
  if (!route) return { name: method, operation: 'unknown_route', record: 'never', route: '' };
  const known = OPERATIONS[`${method} ${route}`];
  if (known) return { name: known[0], operation: known[1], record: 'always', route };
  if (NEVER.some((re) => re.test(route))) return { name: `${method} ${route}`, operation: 'internal', record: 'never', route };
  const mutating = method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS';
  return {
    name: `${method} ${route}`,
    operation: `${method.toLowerCase()}_${route.replace(/^\/api\//, '').replace(/[^a-z0-9]+/gi, '_')}`,
    record: mutating ? 'always' : 'asked',
    route,
  };
}
