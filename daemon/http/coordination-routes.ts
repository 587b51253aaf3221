// The coordination API: agents, work, claims. Handlers only translate HTTP to service calls.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { stateSha256 } from '../../shared/checksum.js';
import type { StatusResponse } from '../../shared/protocol.js';
import { ApiError } from '../errors.js';
import type { CoordinationService, Trace } from '../core/service.js';
import * as S from './schemas.js';
import { Readable } from 'node:stream';
import { captureState, stateJsonChunks } from '../store/state-json.js';
import { dependsOn, readiness } from '../../shared/work-graph.js';

type Body<T> = FastifyRequest<{ Body: T }>;

export interface CoordinationRouteOptions {
  service: CoordinationService;
  /** The trace of the current request, if tracing is on (set by the tracing hook). */
  traceOf?: (request: FastifyRequest) => Trace | undefined;
  /** Extra fields for GET /api/coordination/status (entropy, ...). */
  statusExtras?: () => Record<string, unknown>;
}

export async function coordinationRoutes(app: FastifyInstance, opts: CoordinationRouteOptions): Promise<void> {
  const { service } = opts;
  const store = service.store;
  const traceOf = (r: FastifyRequest) => opts.traceOf?.(r);

  app.post('/api/agents', { schema: { body: S.registerBody } }, async (req: Body<Parameters<CoordinationService['register']>[0]>, reply) => {
    const out = await service.register(req.body ?? {}, traceOf(req));
    return reply.code(out.result.created ? 201 : 200).send({ agent: out.result.agent, created: out.result.created, revision: out.revision ?? store.revision });
  });

  app.get('/api/agents', async () => {
    const agents = [...store.tables.maps.agents.values()].map((s) => s.data);
    return { agents, revision: store.revision };
  });

  app.get('/api/agents/:agent_id', { schema: { params: S.agentParams } }, async (req) => {
    const { agent_id } = req.params as { agent_id: string };
    const entry = store.get('agents', agent_id);
    if (!entry) throw new ApiError('unknown_agent', `no agent ${agent_id}`);
    return { agent: entry.data, version: entry.v, claims: [...(store.heldIndex().get(agent_id) ?? [])] };
  });

  app.post('/api/agents/:agent_id/heartbeat', { schema: { params: S.agentParams, body: S.heartbeatBody } }, async (req, reply) => {
    const { agent_id } = req.params as { agent_id: string };
    const out = await service.heartbeat(agent_id, (req.body as { status?: string; current_workload?: number } | null) ?? {}, traceOf(req));
    const deadline = service.leaseDeadline(agent_id);
    return reply.send({
      agent: out.result.agent,
      revision: out.revision ?? store.revision,
      lease_expires_at: deadline ? new Date(deadline).toISOString() : null,
    });
  });

  app.post('/api/work', { schema: { body: S.createWorkBody } }, async (req: Body<Parameters<CoordinationService['createWork']>[0]>, reply) => {
    const out = await service.createWork(req.body, traceOf(req));
    return reply.code(201).send({ work: out.result.work, revision: out.revision });
  });

  app.get('/api/work', { schema: { querystring: S.listWorkQuery } }, async (req) => {
    const q = req.query as { status?: string; agent_id?: string; team?: string; limit?: string };
    const limit = q.limit ? Number(q.limit) : Infinity;
    const work = [];
    for (const slot of store.tables.maps.work.values()) {
      const d = slot.data;
      if (q.status && d.status !== q.status) continue;
      if (q.agent_id && d.agent_id !== q.agent_id) continue;
      if (q.team && d.team !== q.team) continue;
      work.push(d);
      if (work.length >= limit) break;
    }
    return { work, revision: store.revision };
  });

  app.get('/api/work/:work_id', { schema: { params: S.workParams } }, async (req) => {
    const { work_id } = req.params as { work_id: string };
    const entry = store.get('work', work_id);
    if (!entry) throw new ApiError('unknown_work', `no work item ${work_id}`);
    // Items with prerequisites also say whether they are ready, waiting or blocked (docs/work-graph.md).
    if (dependsOn(entry.data).length)
      return { work: entry.data, version: entry.v, revision: entry.rev, readiness: readiness(entry.data, (id) => store.get('work', id)?.data) };
    return { work: entry.data, version: entry.v, revision: entry.rev };
  });

  app.post('/api/coordination/claim', { schema: { body: S.claimBody } }, async (req: Body<Parameters<CoordinationService['claim']>[0]>) => {
    const out = await service.claim(req.body, traceOf(req));
    const entry = store.get('work', req.body.work_id);
    return {
      claim: out.result.claim,
      version: entry?.v ?? null,
      revision: out.revision ?? store.revision,
      idempotent: out.result.idempotent,
      ...service.claimLease(req.body.work_id),
    };
  });

  app.post('/api/coordination/progress', { schema: { body: S.progressBody } }, async (req: Body<Parameters<CoordinationService['progress']>[0]>) => {
    const out = await service.progress(req.body, traceOf(req));
    return { work: out.result.work, version: store.get('work', req.body.work_id)?.v ?? null, revision: out.revision, ...service.claimLease(req.body.work_id) };
  });

  app.post('/api/coordination/complete', { schema: { body: S.completeBody } }, async (req: Body<Parameters<CoordinationService['complete']>[0]>) => {
    const out = await service.complete(req.body, traceOf(req));
    return { work: out.result.work, log: out.result.log, revision: out.revision };
  });

  app.post('/api/coordination/release', { schema: { body: S.releaseBody } }, async (req: Body<Parameters<CoordinationService['release']>[0]>) => {
    const out = await service.release(req.body, traceOf(req));
    return { work: out.result.work, revision: out.revision ?? store.revision };
  });

  app.get('/api/coordination/status', { schema: { querystring: S.statusQuery } }, async (req, reply) => {
    const q = req.query as { sha256?: string };
    if (q.sha256 === '1' || q.sha256 === 'true') {
      // The plain sha256 needs the whole canonical state at once: on request only (costly at scale).
      const state = store.state();
      const body: StatusResponse = {
        revision: store.revision,
        checksum: store.checksum(),
        state,
        counts: { work: store.tables.count('work'), agents: store.tables.count('agents'), log: store.tables.count('log') },
        ...(opts.statusExtras?.() ?? {}),
      };
      body.sha256 = stateSha256(state);
      return body;
    }
    // Revision, checksum and records are taken at one instant and belong together; the text is
    // written a chunk at a time (state-json.ts), so a large state does not stall the claims.
    const capture = captureState(store.tables, store.revision);
    const extras = JSON.stringify(opts.statusExtras?.() ?? {});
    const head = `{"revision":${capture.revision},"checksum":"${capture.checksum}","counts":${JSON.stringify(capture.counts)}${extras === '{}' ? '' : ',' + extras.slice(1, -1)},"state":`;
    async function* body(): AsyncGenerator<string> {
      yield head;
      yield* stateJsonChunks(capture);
      yield '}';
    }
    return reply.type('application/json; charset=utf-8').send(Readable.from(body(), { objectMode: false }));
  });
}
