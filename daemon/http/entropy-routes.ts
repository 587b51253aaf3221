// GET /api/entropy[?keys=1]: the entropy report now, counts, and the comparison with the stored
// baseline. POST /api/entropy/baseline {include_state?}: capture a baseline daemon-side, store it,
// return it. GET /api/entropy/baseline: the stored one (404 when none). None of these is traced:
// measuring must not add spans to the telemetry it measures.
import type { DaemonContext } from '../context.js';
import { ApiError } from '../errors.js';
import type { DaemonBaseline, EntropyNow } from '../../shared/baseline-format.js';

/** What the routes need of the baselines (observability/baseline.ts implements it; no import back: no cycle). */
export interface EntropyBaselines {
  readonly baseline: DaemonBaseline | null;
  now(withKeys: boolean): EntropyNow;
  captureAndStore(): Promise<DaemonBaseline>;
}

const entropyQuery = {
  type: 'object',
  properties: { keys: { type: 'string', enum: ['0', '1', 'true', 'false'] } },
  additionalProperties: false,
} as const;

const baselineBody = {
  type: ['object', 'null'],
  properties: { include_state: { type: 'boolean' } },
  additionalProperties: false,
} as const;

export async function entropyRoutes(ctx: DaemonContext, baselines: EntropyBaselines): Promise<void> {
  const { app } = ctx;

  app.get('/api/entropy', { schema: { querystring: entropyQuery } }, async (req) => {
    const q = req.query as { keys?: string };
    return baselines.now(q.keys === '1' || q.keys === 'true');
  });

  app.post('/api/entropy/baseline', { schema: { body: baselineBody } }, async (req, reply) => {
    const body = (req.body ?? {}) as { include_state?: boolean };
    const b = await baselines.captureAndStore();
    if (body.include_state === false) delete b.state;
    return reply.code(201).send(b);
  });

  app.get('/api/entropy/baseline', async () => {
    const b = baselines.baseline;
    if (!b) throw new ApiError('not_found', 'No baseline captured yet: POST /api/entropy/baseline (or run `ai-processor baseline --out FILE`)');
    return b;
  });
}
