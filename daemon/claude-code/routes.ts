// POST /api/hooks/claude-code: every Claude Code hook event, as its http hook sends it. On the path
// of every tool call, so it makes one change of the session's agent and answers `{}` (a 2xx with an
// empty JSON object: no decision, nothing added to the session). A heartbeat (hook-durability.ts) is
// answered once applied; every other change once it is on disk. Rare events that move claims
// (SessionEnd, agent-team tasks) run the usual claim operations before the answer.
import path from 'node:path';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { HOOK_OPERATION, agentIdFor, mapHookEvent, parseHookPayload, type HookPlan, type TaskChange } from '../../shared/claude-code/hook-mapping.js';
import { HOOK_PATH, REPO_CONTEXT_PATH } from '../../shared/claude-code/settings.js';
import { isClaimable, isHeld, type JsonObject } from '../../shared/types.js';
import {
  MAX_PATH_CHARS,
  MAX_REPO_CHARS,
  PATH_LEASES_FIELD,
  leaseRecord,
  normalizeAbsPath,
  normalizeOrigin,
  type PathLeaseEnforcement,
} from '../../shared/path-leases.js';
import { contextAnswer, denyAnswer, editedPath } from '../../shared/claude-code/pre-tool-use.js';
import { isLoopback } from '../config.js';
import { describeHolder, type EditDecision, type Holder, type PathConflict, type PathLeases, type PathTarget } from '../core/path-leases.js';
import type { PathLocator } from '../http/path-routes.js';
import { newAgentData } from '../core/coordinator.js';
import type { CoordinationService, Trace } from '../core/service.js';
import { ApiError } from '../errors.js';
import type { Logger } from '../store/memory-state.js';
import { REPO_CONTEXT_FIELD, placeInContext, repoContextOf, type ProjectResolver, type RepoInfo } from './project.js';
import { heartbeatOnly } from './hook-durability.js';

/** A PostToolUse body carries the tool's response (a file read, a command's output): larger than other writes. */
export const HOOK_BODY_LIMIT = 2 * 1024 * 1024;
const TASK_WORK_TYPE = 'claude_code_task';

export interface ClaudeCodeRouteOptions {
  service: CoordinationService;
  logger: Logger;
  projects: ProjectResolver;
  traceOf: (request: FastifyRequest) => Trace | undefined;
  /** Path leases at edits (PreToolUse of Edit, Write, MultiEdit, NotebookEdit). */
  paths?: { leases: PathLeases; locator: PathLocator; enforcement: () => PathLeaseEnforcement; onConflict: (c: PathConflict) => void };
}

/** The operation of a repo-context report (journaled like the hooks' changes). */
const REPO_CONTEXT_OPERATION = 'claude_code_repo_context';

/** What the repo-context command hook sends: the session, and its git top-level and origin on the session's host. */
const repoContextBody = {
  type: 'object',
  additionalProperties: false,
  required: ['session_id', 'toplevel'],
  properties: {
    session_id: { type: 'string', minLength: 1, maxLength: 200 },
    toplevel: { type: 'string', minLength: 1, maxLength: MAX_PATH_CHARS, pattern: '^/' },
    origin: { type: ['string', 'null'], minLength: 1, maxLength: MAX_REPO_CHARS },
  },
} as const;

interface RepoContextBody {
  session_id: string;
  toplevel: string;
  origin?: string | null;
}

/** How long an edit waits for its repository's first lookup (then cached). */
const EDIT_LOCATE_WAIT_MS = 1000;

function holdersText(holders: Holder[]): string {
  return holders.map(describeHolder).join('; ');
}

/** The session runs on this host: its cwd is a path the daemon can look at. */
function sameHost(req: FastifyRequest): boolean {
  return isLoopback(req.ip.replace(/^::ffff:/, ''));
}

/** The file an edit names, placed in its repository; null for other events, or a path that cannot be leased (the edit goes on). */
async function editTarget(
  locator: PathLocator,
  payload: { hook_event_name: string; cwd?: string; tool_name?: unknown; tool_input?: unknown },
  req: FastifyRequest,
  context: RepoInfo | null,
): Promise<PathTarget | null> {
  const edited = editedPath(payload);
  if (!edited) return null;
  const abs = path.isAbsolute(edited) ? edited : payload.cwd && path.isAbsolute(payload.cwd) ? path.join(payload.cwd, edited) : null;
  if (!abs) return null;
  try {
    const local = sameHost(req);
    // The repository the session reported, where the daemon cannot look at the session's files.
    const reported = context && (await placeInContext(abs, context, local, locator.hostOf(local, req.ip)));
    if (reported) return reported;
    return await locator.locate(abs, local, req.ip, EDIT_LOCATE_WAIT_MS);
  } catch {
    return null;
  }
}

export function claudeCodeRoutes(opts: ClaudeCodeRouteOptions): FastifyPluginAsync {
  const { service, logger, projects } = opts;
  const store = service.store;

  /** Never fails the hook: a claim the rules refuse is logged and the event still counts. */
  async function attempt(what: string, fn: () => Promise<unknown>): Promise<boolean> {
    try {
      await fn();
      return true;
    } catch (err) {
      const level = err instanceof ApiError && err.status < 500 ? 'info' : 'warn';
      logger[level]({ err: (err as Error).message, code: (err as ApiError).code }, `claude-code: ${what} refused`);
      return false;
    }
  }

  async function releaseAll(agentId: string, trace?: Trace): Promise<void> {
    for (const work_id of [...(store.heldIndex().get(agentId) ?? [])]) {
      await attempt(`release of ${work_id}`, () => service.release({ work_id, agent_id: agentId, reason: 'session_ended' }, trace));
    }
  }

  async function applyTask(task: TaskChange, agentId: string, team: string | undefined, trace?: Trace): Promise<void> {
    const claim = () => service.claim({ work_id: task.work_id, agent_id: agentId, work_type: TASK_WORK_TYPE, description: task.description, team }, trace);
    if (task.kind === 'created') return void (await attempt(`claim of ${task.work_id}`, claim));
    const work = store.get('work', task.work_id)?.data;
    let holder = work && isHeld(work) ? (work.agent_id as string) : null;
    if (!holder) {
      if (work && !isClaimable(work)) return; // finished already
      if (!(await attempt(`claim of ${task.work_id}`, claim))) return;
      holder = agentId;
    }
    // Claude Code's task list says it is done: whoever holds it (a teammate's session) completes it.
    const by = holder;
    await attempt(`completion of ${task.work_id}`, () => service.complete({ work_id: task.work_id, agent_id: by }, trace));
  }

  return async (app) => {
    app.post(HOOK_PATH, { bodyLimit: HOOK_BODY_LIMIT }, async (req, reply) => {
      const parsed = parseHookPayload(req.body);
      if (!parsed.ok) throw new ApiError('invalid_request', parsed.message);
      const payload = parsed.payload;
      const agentId = agentIdFor(payload.session_id) as string;
      const project = payload.project || (payload.cwd && sameHost(req) ? await projects.resolve(payload.cwd) : undefined);
      const trace = opts.traceOf(req);
      const paths = opts.paths;
      const enforcement = paths?.enforcement() ?? 'off';
      const context = repoContextOf(store.get('agents', agentId)?.data);
      const target = paths && enforcement !== 'off' ? await editTarget(paths.locator, payload, req, context) : null;
      let decision: EditDecision | null = null;
      const apply = service.apply<HookPlan>(
        HOOK_OPERATION,
        agentId,
        (ctx) => {
          const existing = ctx.view.get('agents', agentId)?.data;
          const current = existing ?? newAgentData({ specialization: 'claude-code' }, ctx.now, agentId);
          const plan = mapHookEvent(payload, current, { now: ctx.now, project });
          // SessionEnd: the session's path leases end with it, in the same change.
          if (plan.releaseClaims) delete plan.agent[PATH_LEASES_FIELD];
          if (paths && target) {
            decision = paths.leases.decideEdit(ctx.view, agentId, target, target.path, ctx.now);
            if (decision.add) {
              // Replaces the session's own lease at that path (a shared one, or one taken in another worktree).
              const add = decision.add;
              const list = Array.isArray(current[PATH_LEASES_FIELD]) ? (current[PATH_LEASES_FIELD] as JsonObject[]) : [];
              plan.agent[PATH_LEASES_FIELD] = [
                ...list.filter((l) => l === null || typeof l !== 'object' || l.repo !== add.repo || l.path !== add.path),
                leaseRecord(add),
              ];
              paths.leases.index.setAgent(agentId, [...paths.leases.index.ofAgent(agentId), decision.add]);
            }
          }
          // A granted lease, a status, a release or a task is answered only once durable.
          const ack = !plan.releaseClaims && !plan.task && heartbeatOnly(existing, plan.agent) ? 'applied' : 'durable';
          return { changes: [{ section: 'agents', key: agentId, op: 'put', data: plan.agent }], result: plan, ack };
        },
        trace,
      );
      const out = await (paths ? paths.leases.settled(agentId, apply) : apply);
      const plan = out.result;
      if (plan.releaseClaims) await releaseAll(agentId, trace);
      if (plan.task) await applyTask(plan.task, agentId, typeof plan.agent.team === 'string' ? plan.agent.team : undefined, trace);
      const d = decision as EditDecision | null;
      if (paths && d && target) {
        const file = target.path;
        if (d.deny.length > 0 && enforcement === 'enforce') {
          reply
            .code(200)
            .send(denyAnswer(`Another agent is editing ${file}: ${holdersText(d.deny)}. Pick other work, or wait until that agent is done with the file.`));
          // Counted, streamed and logged once the answer is written: the session need not wait for them.
          paths.onConflict({ action: 'denied', source: 'edit', agent_id: agentId, targets: [target], holders: d.deny });
          logger.info(
            { agent_id: agentId, repo: target.repo, path: file, holders: d.deny.map((h) => h.agent_id) },
            'claude-code: edit refused, the file is leased',
          );
          return reply;
        }
        const others = [...d.deny, ...d.warn];
        if (others.length > 0) {
          paths.onConflict({ action: 'warned', source: 'edit', agent_id: agentId, targets: [target], holders: others });
          const where = d.deny.length > 0 ? '' : ' in another worktree of this repository';
          return reply
            .code(200)
            .send(contextAnswer(`Another agent is also editing ${file}${where}: ${holdersText(others)}. Expect a merge conflict unless you coordinate.`));
        }
      }
      return reply.code(200).send({});
    });

    // The session's repository, reported by the repo-context command hook: kept on its agent record.
    app.post(REPO_CONTEXT_PATH, { schema: { body: repoContextBody } }, async (req, reply) => {
      const body = req.body as RepoContextBody;
      const agentId = agentIdFor(body.session_id);
      if (!agentId) throw new ApiError('invalid_request', 'session_id is not a valid session id');
      const top = normalizeAbsPath(body.toplevel);
      if (!top.ok) throw new ApiError('invalid_request', `toplevel: ${top.message}`);
      if (body.origin?.includes('\0')) throw new ApiError('invalid_request', 'origin must not contain NUL bytes');
      const context = { toplevel: '/' + top.path.replace(/\/$/, ''), origin: body.origin ? normalizeOrigin(body.origin) : null };
      await service.apply(
        REPO_CONTEXT_OPERATION,
        agentId,
        (ctx) => {
          const current = ctx.view.get('agents', agentId)?.data ?? newAgentData({ specialization: 'claude-code' }, ctx.now, agentId);
          return {
            changes: [{ section: 'agents', key: agentId, op: 'put', data: { ...current, [REPO_CONTEXT_FIELD]: context } }],
            result: null,
            ack: 'durable',
          };
        },
        opts.traceOf(req),
      );
      return reply.code(200).send({});
    });
  };
}
