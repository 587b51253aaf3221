// The work graph's API (docs/work-graph.md): batch creation with dependencies, claim-next with
// long polling, readiness of an item, retry and dependency removal by an operator. Installs the
// index, the dispatcher and their metrics.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { DaemonContext } from '../context.js';
import { ApiError } from '../errors.js';
import { PRIORITIES } from '../../shared/types.js';
import { dependsOn, readiness } from '../../shared/work-graph.js';
import { WorkIndex } from '../core/work-index.js';
import { ClaimNextDispatcher, MAX_WAIT_MS, type Connection } from '../core/claim-next.js';
import { createWorkItems, removeDependency, retryWork, type ClaimNextInput, type GraphWorkInput } from '../core/work-graph-ops.js';
import * as S from './schemas.js';

const names = { type: 'array', items: { type: 'string', minLength: 1, maxLength: 128 }, maxItems: 64 } as const;
const claimNextBody = {
  type: 'object',
  additionalProperties: false,
  required: ['agent_id'],
  properties: {
    agent_id: S.idSchema,
    work_types: names,
    teams: names,
    min_priority: { type: 'string', enum: [...PRIORITIES] },
    wait_ms: { type: 'integer', minimum: 0, maximum: MAX_WAIT_MS },
    // As for claim: at most the daemon's --max-lease-ms, checked by the claim itself.
    lease_ms: { type: 'integer', minimum: 1 },
    lease_from_estimate: { type: 'boolean' },
  },
} as const;
/** Most items one batch may create (one transaction, one journal line). */
const MAX_BATCH_ITEMS = 5000;
/** A batch's body may exceed the API's usual body limit (a thousand items with dependencies are ~100 KiB). */
const BATCH_BODY_LIMIT = 4 * 1024 * 1024;
const batchBody = {
  type: 'object',
  additionalProperties: false,
  required: ['items'],
  properties: { items: { type: 'array', items: S.createWorkBody, minItems: 1, maxItems: MAX_BATCH_ITEMS } },
} as const;
const depParams = { type: 'object', additionalProperties: false, required: ['work_id', 'dep'], properties: { work_id: S.idSchema, dep: S.idSchema } } as const;

/** The request's connection: open until the client goes away (or the answer is sent). */
function connectionOf(reply: FastifyReply): Connection {
  const res = reply.raw;
  let closed = false;
  const listeners: Array<() => void> = [];
  res.once('close', () => {
    closed = true;
    for (const fn of listeners) fn();
  });
  return {
    isOpen: () => !closed && !res.destroyed && !(res.socket?.destroyed ?? true),
    onClose: (fn) => listeners.push(fn),
  };
}

export function installWorkGraph(ctx: DaemonContext): { index: WorkIndex; dispatcher: ClaimNextDispatcher } {
  const { store, service, metrics: m, app } = ctx;
  const index = new WorkIndex(store.tables);
  const dispatcher = new ClaimNextDispatcher(service, index);

  const setGauges = () => {
    m.workReady.set(index.counts.ready);
    m.workBlocked.set(index.counts.blocked);
  };
  setGauges();
  store.on('commit', setGauges);
  index.on('claimed', (seconds: number) => m.readyToClaimed.observe(seconds));
  dispatcher.on('outcome', (o: string) => m.claimNext.inc({ outcome: o }));
  // Waiting requests are answered (204) before the server stops, or close would wait for them.
  app.addHook('preClose', (done) => {
    dispatcher.close();
    done();
  });

  const traceOf = (r: FastifyRequest) => ctx.traceOf(r);
  const readinessOf = (data: Parameters<typeof readiness>[0]) => readiness(data, (id) => store.get('work', id)?.data);

  app.post('/api/work/batch', { schema: { body: batchBody }, bodyLimit: Math.max(ctx.config.body_limit, BATCH_BODY_LIMIT) }, async (req, reply) => {
    const { items } = req.body as { items: GraphWorkInput[] };
    const out = await service.run('create_work_batch', { op: 'create_work_batch', source: 'api' }, (c) => createWorkItems(c, items), traceOf(req));
    return reply.code(201).send({ work: out.result.work, revision: out.revision });
  });

  app.post('/api/coordination/claim-next', { schema: { body: claimNextBody } }, async (req, reply) => {
    const body = req.body as ClaimNextInput & { wait_ms?: number };
    const conn = connectionOf(reply);
    const got = await dispatcher.request(body, body.wait_ms ?? 0, conn, traceOf(req));
    // Answered because the daemon stops: close the connection too, or the server would wait for it (keep-alive).
    if (dispatcher.closing) reply.header('connection', 'close');
    if (!got) return reply.code(204).send();
    if (!conn.isOpen()) {
      await dispatcher.giveBack(got).catch(() => {});
      return reply.code(204).send(); // to nobody
    }
    // Sent, or given back: a claim nobody heard of would sit until its lease ran out.
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) void dispatcher.giveBack(got).catch(() => {});
    });
    return reply.send({
      claim: got.claim,
      work_id: got.work_id,
      version: store.get('work', got.work_id)?.v ?? null,
      revision: got.revision ?? store.revision,
      idempotent: false,
      ...service.claimLease(got.work_id),
    });
  });

  app.get('/api/work/:work_id/dependencies', { schema: { params: S.workParams } }, async (req) => {
    const { work_id } = req.params as { work_id: string };
    const entry = store.get('work', work_id);
    if (!entry) throw new ApiError('unknown_work', `no work item ${work_id}`);
    const brief = (id: string) => {
      const d = store.get('work', id)?.data;
      return { work_id: id, status: d ? (d.status ?? null) : 'missing', state: d ? readinessOf(d).state : null };
    };
    return {
      work_id,
      readiness: readinessOf(entry.data),
      depends_on: dependsOn(entry.data).map(brief),
      dependents: index.dependentsOf(work_id).map(brief),
      revision: store.revision,
    };
  });

  app.post('/api/work/:work_id/retry', { schema: { params: S.workParams } }, async (req) => {
    const { work_id } = req.params as { work_id: string };
    const out = await service.run('retry_work', { op: 'retry_work', source: 'api', work_id }, (c) => retryWork(c, work_id), traceOf(req));
    return { work: out.result.work, readiness: readinessOf(out.result.work), revision: out.revision };
  });

  app.delete('/api/work/:work_id/depends_on/:dep', { schema: { params: depParams } }, async (req) => {
    const { work_id, dep } = req.params as { work_id: string; dep: string };
    const out = await service.run(
      'remove_dependency',
      { op: 'remove_dependency', source: 'api', work_id },
      (c) => removeDependency(c, work_id, dep),
      traceOf(req),
    );
    return { work: out.result.work, readiness: readinessOf(out.result.work), revision: out.revision };
  });

  app.get('/api/work-graph', async () => ({ ...index.counts, waiters: dispatcher.waiting, revision: store.revision }));

  return { index, dispatcher };
}
