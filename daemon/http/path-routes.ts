// The path lease API: POST /api/paths/claim, POST /api/paths/release, GET /api/paths. Handlers
// check the paths (nothing is stored for a bad one), place them in their repository, and call the
// path lease service. Also the place of an absolute path, which the Claude Code hook uses too.
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { MAX_PATHS_PER_REQUEST, MAX_PATH_CHARS, MAX_REPO_CHARS, normalizeAbsPath, normalizeOrigin, normalizeRelPath } from '../../shared/path-leases.js';
import { isLoopback } from '../config.js';
import type { DaemonContext } from '../context.js';
import { PathLeases, type PathConflict, type PathTarget } from '../core/path-leases.js';
import { ApiError } from '../errors.js';
import type { ProjectResolver } from '../claude-code/project.js';
import { idSchema } from './schemas.js';
import { MAX_CONFLICT_HOLDERS, PATH_CONFLICT_EVENT, type PathConflictDetail } from '../../shared/protocol.js';
import type { StuckPairs } from '../observability/stuck-pairs.js';

/** How long a lease waits for its repository's first lookup (then cached): a wrong place would miss a conflict. */
const LOCATE_WAIT_MS = 2000;

const pathList = { type: 'array', minItems: 1, maxItems: MAX_PATHS_PER_REQUEST, items: { type: 'string', minLength: 1, maxLength: MAX_PATH_CHARS } } as const;
const repoField = { type: 'string', minLength: 1, maxLength: MAX_REPO_CHARS } as const;
const claimBody = {
  type: 'object',
  additionalProperties: false,
  required: ['agent_id', 'paths'],
  properties: {
    agent_id: idSchema,
    paths: pathList,
    mode: { type: 'string', enum: ['exclusive', 'shared'] },
    work_id: idSchema,
    ttl_ms: { type: 'integer', minimum: 1 },
    reason: { type: 'string', maxLength: 512 },
    repo: repoField,
  },
} as const;
const releaseBody = {
  type: 'object',
  additionalProperties: false,
  required: ['agent_id'],
  properties: { agent_id: idSchema, paths: pathList, repo: repoField },
} as const;
const listQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { agent_id: idSchema, prefix: { type: 'string', maxLength: MAX_PATH_CHARS }, repo: repoField },
} as const;

interface ClaimBody {
  agent_id: string;
  paths: string[];
  mode?: 'exclusive' | 'shared';
  work_id?: string;
  ttl_ms?: number;
  reason?: string;
  repo?: string;
}

/** The request comes from this host: the paths it names are paths the daemon can look at. */
export function sameHost(req: FastifyRequest): boolean {
  return isLoopback(req.ip.replace(/^::ffff:/, ''));
}

/** Where paths are: found through the repository on this host, or keyed by the caller's host. */
export class PathLocator {
  private readonly host = os.hostname();

  constructor(private readonly projects: ProjectResolver) {}

  /** The host part of ids for a request: this host's name, or the remote caller's address. */
  hostOf(local: boolean, ip: string): string {
    return local ? this.host : `remote:${ip}`;
  }

  /** An absolute path placed in its repository (its git top-level, looked at on this host only). */
  async locate(abs: string, local: boolean, ip: string, waitMs = LOCATE_WAIT_MS): Promise<PathTarget> {
    const n = normalizeAbsPath(abs);
    if (!n.ok) throw new ApiError('invalid_request', n.message);
    const host = this.hostOf(local, ip);
    const full = '/' + n.path.replace(/\/$/, '');
    const info = local ? await this.projects.repo(n.dir ? full : path.posix.dirname(full), waitMs) : undefined;
    if (info) {
      const rel = path.posix.relative(info.toplevel, full);
      if (rel !== '' && !rel.startsWith('..')) {
        const worktree = `${host}:${info.toplevel}`;
        return { repo: info.origin ?? worktree, worktree, path: rel + (n.dir ? '/' : '') };
      }
    }
    // Outside any repository (or not visible from here): the absolute path on its host.
    return { repo: `${host}:/`, path: n.path };
  }

  /** The repository id a caller named: an origin URL (normalised), or a top-level directory on this host. */
  async repoOf(repo: string, local: boolean, ip: string): Promise<{ repo: string; worktree?: string }> {
    if (repo.includes('\0')) throw new ApiError('invalid_request', 'repo must not contain NUL bytes');
    if (!repo.startsWith('/')) return { repo: normalizeOrigin(repo) };
    const host = this.hostOf(local, ip);
    const top = path.posix.normalize(repo).replace(/\/+$/, '') || '/';
    const info = local ? await this.projects.repo(top, LOCATE_WAIT_MS) : undefined;
    const worktree = `${host}:${top}`;
    return { repo: info && info.toplevel === top && info.origin ? info.origin : worktree, worktree };
  }

  /** The targets of a request: relative paths in `repo`, or absolute paths placed one by one. */
  async targets(paths: unknown[], repo: string | undefined, req: FastifyRequest): Promise<PathTarget[]> {
    const local = sameHost(req);
    const place = repo !== undefined ? await this.repoOf(repo, local, req.ip) : null;
    const out: PathTarget[] = [];
    for (const p of paths) {
      if (place) {
        const n = normalizeRelPath(p);
        if (!n.ok) throw new ApiError('invalid_request', n.message);
        out.push({ ...place, path: n.path });
        continue;
      }
      if (typeof p !== 'string' || !p.startsWith('/'))
        throw new ApiError(
          'invalid_request',
          'without repo, every path must be absolute (or give repo: an origin URL or the top-level directory, and paths relative to it)',
        );
      if (p.includes('\0')) throw new ApiError('invalid_request', 'a path must not contain NUL bytes');
      out.push(await this.locate(p, local, req.ip));
    }
    return out;
  }
}

/**
 * A conflict as stream clients get it: refusals are tallied per (agent, path) first, so the event
 * says how often this agent met this path in the stuck-pair window (the most, over a claim's paths).
 */
export function conflictDetail(c: PathConflict, refusals: StuckPairs, nowMs: number): PathConflictDetail {
  let count = 0;
  if (c.action === 'denied') for (const t of c.targets) count = Math.max(count, refusals.record(c.agent_id, t.repo, t.path, nowMs));
  const first = c.targets[0];
  return {
    action: c.action,
    source: c.source,
    agent_id: c.agent_id,
    repo: first?.repo ?? '',
    path: first?.path ?? '',
    paths: c.targets.length,
    holders: c.holders.slice(0, MAX_CONFLICT_HOLDERS).map((h) => ({ agent_id: h.agent_id, path: h.path, mode: h.mode, work_id: h.work_id, since: h.since })),
    refusals: count,
    stuck: count >= refusals.threshold,
    at: new Date(nowMs).toISOString(),
  };
}

/** Wires path leases: the service (with the sweeper's part), its routes, its metrics, its conflict events. */
export function installPathLeases(
  ctx: DaemonContext,
  projects: ProjectResolver,
): { leases: PathLeases; locator: PathLocator; report: (c: PathConflict) => void } {
  const report = (c: PathConflict): void => {
    ctx.metrics.pathConflicts.inc({ action: c.action });
    ctx.events.emit('event', PATH_CONFLICT_EVENT, { ...conflictDetail(c, ctx.metrics.pathRefusals, Date.now()) });
  };
  const leases = new PathLeases(ctx.service, {
    logger: ctx.logger.child({ component: 'path-leases' }),
    crossWorktree: () => ctx.config.path_conflicts_across_worktrees,
    maxTtlMs: () => ctx.service.maxLeaseMs,
    onConflict: report,
  });
  const locator = new PathLocator(projects);
  leases.start();
  ctx.onClose.push(() => leases.stop());
  // Registered after the index's own listener: the gauge follows every change of an agent record.
  const gauge = () => {
    for (const mode of ['exclusive', 'shared'] as const) ctx.metrics.pathLeases.set({ mode }, leases.index.count(mode));
  };
  gauge();
  ctx.store.tables.onApply((section) => {
    if (section === 'agents') gauge();
  });
  void ctx.app.register(async (app: FastifyInstance) => {
    app.post('/api/paths/claim', { schema: { body: claimBody } }, async (req, reply) => {
      const b = req.body as ClaimBody;
      const targets = await locator.targets(b.paths, b.repo, req);
      const out = await leases.claim(
        { agent_id: b.agent_id, targets, mode: b.mode ?? 'exclusive', work_id: b.work_id, ttl_ms: b.ttl_ms, reason: b.reason },
        ctx.traceOf(req),
      );
      return reply.send({ ...out.result, revision: out.revision ?? ctx.store.revision });
    });
    app.post('/api/paths/release', { schema: { body: releaseBody } }, async (req, reply) => {
      const b = req.body as { agent_id: string; paths?: string[]; repo?: string };
      const targets = b.paths ? await locator.targets(b.paths, b.repo, req) : null;
      const out = await leases.release(b.agent_id, targets, ctx.traceOf(req));
      return reply.send({ ...out.result, revision: out.revision ?? ctx.store.revision });
    });
    app.get('/api/paths', { schema: { querystring: listQuery } }, async (req) => {
      const q = req.query as { agent_id?: string; prefix?: string; repo?: string };
      if (q.prefix?.includes('\0')) throw new ApiError('invalid_request', 'prefix must not contain NUL bytes');
      const repo = q.repo !== undefined ? (await locator.repoOf(q.repo, sameHost(req), req.ip)).repo : undefined;
      return { leases: leases.list({ agent_id: q.agent_id, prefix: q.prefix, repo }), revision: ctx.store.revision };
    });
  });
  return { leases, locator, report };
}
