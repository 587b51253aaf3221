// Path leases, the service: claims and releases of paths (all or none, in one transaction of the
// agent's record), the edit decision of Claude Code's PreToolUse, and the ends of leases (their TTL,
// their work item no longer held, their agent's lease through the service's sweeper). The index is
// kept in step with every applied change of an agent record, whoever made it (this daemon, another
// one on PostgreSQL, a hand edit), so a decision reads it, never the records one by one.
import { isHeld, withFields, type JsonObject } from '../../shared/types.js';
import {
  PATH_LEASES_FIELD,
  PathIndex,
  leaseField,
  leaseKey,
  leasesOf,
  modesConflict,
  otherWorktree,
  overlaps,
  isDir,
  ancestorDirs,
  type CrossWorktreeAction,
  type LeaseMode,
  type PathLease,
} from '../../shared/path-leases.js';
import { ApiError } from '../errors.js';
import type { CoordinationStore, Logger, ReadView } from '../store/memory-state.js';
import type { ProposedChange } from '../store/ingest.js';
import { newAgentData } from './coordinator.js';
import type { CoordinationService, Trace } from './service.js';

/** How often leases past their TTL or tied to a finished work item are taken off their records. */
const CLEANUP_MS = 1000;

/** Where a set of paths lives: its repository id, and the checkout it was named in (when known). */
export interface PathPlace {
  repo: string;
  worktree?: string;
}

/** A path in its repository: normalised, relative to the repository's top-level. */
export interface PathTarget extends PathPlace {
  path: string;
}

export interface PathClaimInput {
  agent_id: string;
  targets: PathTarget[];
  mode: LeaseMode;
  work_id?: string;
  ttl_ms?: number;
  reason?: string;
}

/** Another agent's lease that stands in the way (or, across worktrees, is worth a word). */
export interface Holder {
  agent_id: string;
  repo: string;
  path: string;
  mode: LeaseMode;
  work_id: string | null;
  since: string;
  fencing_token: number;
  worktree?: string;
  /** What the holder is doing now (its agent's last tool and target), when known. */
  activity?: string;
}

export interface EditDecision {
  /** The lease to add for the editing agent (none: it holds one already, or leases are off). */
  add?: PathLease;
  /** Holders that refuse the edit. */
  deny: Holder[];
  /** Holders in another worktree of the same repository (a warning). */
  warn: Holder[];
}

export interface PathLeaseOptions {
  logger: Logger;
  crossWorktree: () => CrossWorktreeAction;
  /** Longest TTL a lease may ask for (ms). */
  maxTtlMs: () => number;
  onConflict?: (c: PathConflict) => void;
}

/** A conflict as it happens (for the metrics and the stream): who was refused or warned, on what, by whom. */
export interface PathConflict {
  action: 'denied' | 'warned';
  source: 'edit' | 'claim';
  agent_id: string;
  /** The paths refused (or warned about), in request order. */
  targets: PathTarget[];
  holders: Holder[];
}

export class PathLeases {
  readonly index = new PathIndex();
  private timer: NodeJS.Timeout | null = null;
  private cleaning = false;

  constructor(
    private readonly service: CoordinationService,
    private readonly opts: PathLeaseOptions,
  ) {
    const store = this.store;
    for (const [id, slot] of store.tables.maps.agents) this.index.setAgent(id, leasesOf(id, slot.data));
    store.tables.onApply((section, key, before, after) => {
      if (section !== 'agents' || before?.data[PATH_LEASES_FIELD] === after?.data[PATH_LEASES_FIELD]) return;
      this.index.setAgent(key, leasesOf(key, after?.data));
    });
    service.addHeldExtra({
      holders: () => this.index.agents(),
      holds: (agent) => this.index.ofAgent(agent).length > 0,
      expire: (view, agent) => this.dropChanges(view, agent, () => true),
    });
  }

  get store(): CoordinationStore {
    return this.service.store;
  }

  start(): void {
    this.timer = setInterval(() => void this.cleanup(), CLEANUP_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * A lease still in force: before its TTL, and its agent still holding the work item it is tied to
   * under the same claim. A lease that stopped counting never counts again: once the item is
   * released, a new claim of it (a new fencing token) does not revive the lease, which others may
   * have been granted overlapping paths against meanwhile.
   */
  isLive(l: PathLease, nowMs = Date.now(), view: Pick<ReadView, 'get'> = this.store): boolean {
    if (l.expires_at !== undefined && Date.parse(l.expires_at) <= nowMs) return false;
    if (l.work_id !== undefined) {
      const work = view.get('work', l.work_id)?.data;
      if (!work || !isHeld(work) || work.agent_id !== l.agent_id) return false;
      if (!sameClaim(l, work.fencing_token)) return false;
    }
    return true;
  }

  /** The live leases of other agents overlapping `path` in conflict with `mode`, split into refusals and warnings. */
  conflicts(
    agentId: string,
    place: PathPlace,
    path: string,
    mode: LeaseMode,
    view: Pick<ReadView, 'get'>,
    nowMs = Date.now(),
  ): { deny: PathLease[]; warn: PathLease[] } {
    const deny: PathLease[] = [];
    const warn: PathLease[] = [];
    const want = { agent_id: agentId, mode, worktree: place.worktree };
    const across = this.opts.crossWorktree();
    for (const l of this.index.overlapping(place.repo, path)) {
      if (!modesConflict(want, l) || !this.isLive(l, nowMs, view)) continue;
      if (otherWorktree(want, l)) {
        if (across === 'deny') deny.push(l);
        else if (across === 'warn') warn.push(l);
      } else deny.push(l);
    }
    return { deny, warn };
  }

  /** A holder as answers name it, with its agent's current activity. */
  holder(l: PathLease, view: Pick<ReadView, 'get'> = this.store): Holder {
    const h: Holder = {
      agent_id: l.agent_id,
      repo: l.repo,
      path: l.path,
      mode: l.mode,
      work_id: l.work_id ?? null,
      since: l.since,
      fencing_token: l.fencing_token,
    };
    if (l.worktree !== undefined) h.worktree = l.worktree;
    const act = view.get('agents', l.agent_id)?.data.activity as JsonObject | undefined;
    if (act && typeof act === 'object' && typeof act.tool === 'string')
      h.activity = `${act.tool}${typeof act.target === 'string' ? ' ' + act.target : ''}${typeof act.at === 'string' ? ' at ' + act.at : ''}`;
    return h;
  }

  /** All or none: every path gets a lease of the agent, or the claim is refused naming each holder. */
  claim(input: PathClaimInput, trace?: Trace) {
    if (input.ttl_ms !== undefined && input.ttl_ms > this.opts.maxTtlMs()) {
      throw new ApiError('lease_too_long', `ttl_ms ${input.ttl_ms} is over the daemon's maximum of ${this.opts.maxTtlMs()} ms (--max-lease-ms)`, {
        max_lease_ms: this.opts.maxTtlMs(),
      });
    }
    return this.settled(
      input.agent_id,
      this.service.apply(
        'path_claim',
        input.agent_id,
        (ctx) => {
          const nowMs = Date.now();
          let workToken: number | undefined;
          if (input.work_id !== undefined) {
            const work = ctx.view.get('work', input.work_id)?.data;
            if (!work || !isHeld(work) || work.agent_id !== input.agent_id)
              throw new ApiError('not_claim_holder', `agent ${input.agent_id} does not hold work item ${input.work_id}: a lease tied to it would end at once`);
            if (typeof work.fencing_token === 'number') workToken = work.fencing_token;
          }
          const blocking: PathLease[] = [];
          const warnings: PathLease[] = [];
          const refused: PathTarget[] = [];
          const warned: PathTarget[] = [];
          for (const t of input.targets) {
            const c = this.conflicts(input.agent_id, t, t.path, input.mode, ctx.view, nowMs);
            blocking.push(...c.deny);
            warnings.push(...c.warn);
            if (c.deny.length) refused.push(t);
            else if (c.warn.length) warned.push(t);
          }
          if (blocking.length > 0) {
            const holders = uniqueHolders(blocking).map((l) => this.holder(l, ctx.view));
            this.opts.onConflict?.({ action: 'denied', source: 'claim', agent_id: input.agent_id, targets: refused, holders });
            throw new ApiError(
              'path_held',
              `${holders.length === 1 ? 'a path is' : `${holders.length} paths are`} held by other agents: ${holders.map(describeHolder).join('; ')}`,
              { holders },
            );
          }
          const warnHolders = uniqueHolders(warnings).map((l) => this.holder(l, ctx.view));
          if (warnHolders.length > 0)
            this.opts.onConflict?.({ action: 'warned', source: 'claim', agent_id: input.agent_id, targets: warned, holders: warnHolders });
          const existing = ctx.view.get('agents', input.agent_id);
          const base = existing?.data ?? newAgentData({}, ctx.now, input.agent_id);
          const own = new Map(leasesOf(input.agent_id, base).map((l) => [leaseKey(l.repo, l.path), l]));
          const granted: PathLease[] = [];
          let changed = !existing;
          for (const t of input.targets) {
            const k = leaseKey(t.repo, t.path);
            // A lease that stopped counting is not taken up again: the path is leased anew (new token, new since).
            const held = own.get(k);
            const prev = held && this.isLive(held, nowMs, ctx.view) ? held : undefined;
            const next: PathLease = {
              agent_id: input.agent_id,
              repo: t.repo,
              path: t.path,
              mode: input.mode,
              fencing_token: prev?.fencing_token ?? 0,
              since: prev?.since ?? ctx.now,
            };
            if (input.work_id !== undefined) next.work_id = input.work_id;
            if (workToken !== undefined) next.work_token = workToken;
            if (input.ttl_ms !== undefined) next.expires_at = new Date(nowMs + input.ttl_ms).toISOString();
            if (input.reason !== undefined) next.reason = input.reason;
            if (t.worktree !== undefined) next.worktree = t.worktree;
            if (prev && sameTerms(prev, next)) {
              granted.push(prev);
              continue;
            }
            if (!prev) next.fencing_token = ctx.view.nextFencingToken();
            own.set(k, next);
            granted.push(next);
            changed = true;
          }
          const result = { leases: granted.map(publicLease), warnings: warnHolders };
          if (!changed) return { changes: [], result };
          const all = [...own.values()];
          // Seen by the next decision at once, even one made before this change is applied (a store that commits in batches).
          this.index.setAgent(input.agent_id, all);
          const data = withFields(base, { [PATH_LEASES_FIELD]: leaseField(all) });
          return { changes: [{ section: 'agents', key: input.agent_id, op: 'put', data }], result };
        },
        trace,
      ),
    );
  }

  /** Once a change is applied or refused, the agent's index entries are its record's again. */
  settled<T>(agentId: string, p: Promise<T>): Promise<T> {
    const resync = () => this.index.setAgent(agentId, leasesOf(agentId, this.store.get('agents', agentId)?.data));
    return p.then(
      (v) => {
        resync();
        return v;
      },
      (err: unknown) => {
        resync();
        throw err;
      },
    );
  }

  /** Ends the agent's leases on these paths (all of them without paths). Releasing what is not held changes nothing. */
  release(agentId: string, targets: PathTarget[] | null, trace?: Trace) {
    return this.service.apply(
      'path_release',
      agentId,
      (ctx) => {
        const keys = targets ? new Set(targets.map((t) => leaseKey(t.repo, t.path))) : null;
        const changes = this.dropChanges(ctx.view, agentId, (l) => keys === null || keys.has(leaseKey(l.repo, l.path)));
        const released = changes.length
          ? leasesOf(agentId, ctx.view.get('agents', agentId)?.data)
              .filter((l) => keys === null || keys.has(leaseKey(l.repo, l.path)))
              .map(publicLease)
          : [];
        return { changes, result: { released } };
      },
      trace,
    );
  }

  /** The change that takes the agent's leases matching `drop` off its record (none when nothing matches). */
  dropChanges(view: Pick<ReadView, 'get'>, agentId: string, drop: (l: PathLease) => boolean): ProposedChange[] {
    const entry = view.get('agents', agentId);
    if (!entry) return [];
    const all = leasesOf(agentId, entry.data);
    const kept = all.filter((l) => !drop(l));
    if (kept.length === all.length) return [];
    const data = withFields(entry.data, {});
    if (kept.length) data[PATH_LEASES_FIELD] = leaseField(kept);
    else delete data[PATH_LEASES_FIELD];
    return [{ section: 'agents', key: agentId, op: 'put', data }];
  }

  /**
   * The edit decision, inside the hook's transaction: refused by another agent's live lease on the
   * file (or a directory above it), else a new exclusive lease for the editor unless its own already
   * covers the file.
   */
  decideEdit(view: ReadView, agentId: string, place: PathPlace, path: string, now: string): EditDecision {
    const c = this.conflicts(agentId, place, path, 'exclusive', view);
    const out: EditDecision = { deny: c.deny.map((l) => this.holder(l, view)), warn: c.warn.map((l) => this.holder(l, view)) };
    if (out.deny.length > 0) return out;
    if (this.covered(agentId, place, path, view)) return out;
    const lease: PathLease = { agent_id: agentId, repo: place.repo, path, mode: 'exclusive', fencing_token: view.nextFencingToken(), since: now };
    const work = currentClaim(view, agentId);
    if (work) {
      lease.work_id = work.id;
      if (work.token !== undefined) lease.work_token = work.token;
    }
    if (place.worktree !== undefined) lease.worktree = place.worktree;
    out.add = lease;
    return out;
  }

  /** The agent holds a live exclusive lease on the path or a directory above it, in the same checkout. */
  private covered(agentId: string, place: PathPlace, path: string, view: Pick<ReadView, 'get'>): boolean {
    const own = this.index.ofAgentAt(agentId, place.repo, [...ancestorDirs(path), path]);
    return own.some((l) => l.mode === 'exclusive' && !otherWorktree(place, l) && this.isLive(l, Date.now(), view));
  }

  /** Leases, optionally of one agent and under a path prefix (a directory prefix, or the start of a path). */
  list(filter: { agent_id?: string; prefix?: string; repo?: string }): Array<ReturnType<typeof publicLease> & { live: boolean }> {
    const source = filter.agent_id !== undefined ? this.index.ofAgent(filter.agent_id) : this.index.all();
    const out = [];
    const now = Date.now();
    for (const l of source) {
      if (filter.repo !== undefined && l.repo !== filter.repo) continue;
      if (filter.prefix !== undefined && !l.path.startsWith(filter.prefix) && !(isDir(l.path) && overlaps(l.path, filter.prefix))) continue;
      out.push(Object.assign(publicLease(l), { live: this.isLive(l, now) }));
    }
    return out.sort((a, b) => a.repo.localeCompare(b.repo) || a.path.localeCompare(b.path) || a.agent_id.localeCompare(b.agent_id));
  }

  /** Takes leases past their TTL, or tied to a work item their agent no longer holds, off their records. */
  async cleanup(): Promise<number> {
    if (this.cleaning) return 0;
    this.cleaning = true;
    let ended = 0;
    try {
      const now = Date.now();
      const due = new Set<string>();
      for (const l of this.index.all()) if ((l.expires_at !== undefined || l.work_id !== undefined) && !this.isLive(l, now)) due.add(l.agent_id);
      for (const agent of due) {
        const out = await this.store.transact(
          (view) => {
            const changes = this.dropChanges(view, agent, (l) => !this.isLive(l, Date.now(), view));
            return { changes, result: null };
          },
          { op: 'path_lease_ended', source: 'lease', agent_id: agent },
        );
        if (out.revision !== null) ended++;
      }
    } catch (err) {
      this.opts.logger.error({ err: (err as Error).message }, 'path lease cleanup failed');
    } finally {
      this.cleaning = false;
    }
    return ended;
  }
}

/** The work item the agent holds (the most recently claimed when several), with its claim's fencing token. */
function currentClaim(view: ReadView, agentId: string): { id: string; token?: number } | undefined {
  let best: { id: string; token?: number } | undefined;
  let bestToken = -1;
  for (const id of view.heldBy(agentId)) {
    const t = view.get('work', id)?.data.fencing_token;
    const token = typeof t === 'number' ? t : 0;
    if (token > bestToken) {
      best = typeof t === 'number' ? { id, token: t } : { id };
      bestToken = token;
    }
  }
  return best;
}

/**
 * The item's current claim (its fencing token) is the one the lease was tied to. A lease recorded
 * before leases kept their claim's token, or tied to a claim without one (written by a script), was
 * taken after its claim: a claim with a token above the lease's own came later.
 */
function sameClaim(l: PathLease, claimToken: unknown): boolean {
  const token = typeof claimToken === 'number' ? claimToken : undefined;
  if (l.work_token !== undefined) return token === l.work_token;
  return token === undefined || token < l.fencing_token;
}

function sameTerms(a: PathLease, b: PathLease): boolean {
  return (
    a.mode === b.mode &&
    a.work_id === b.work_id &&
    a.work_token === b.work_token &&
    a.expires_at === b.expires_at &&
    a.reason === b.reason &&
    a.worktree === b.worktree
  );
}

function uniqueHolders(list: PathLease[]): PathLease[] {
  return [...new Set(list)];
}

/** A lease as the API answers it. */
export function publicLease(l: PathLease): {
  agent_id: string;
  repo: string;
  path: string;
  mode: LeaseMode;
  fencing_token: number;
  since: string;
  work_id: string | null;
  expires_at: string | null;
  reason: string | null;
  worktree: string | null;
} {
  return {
    agent_id: l.agent_id,
    repo: l.repo,
    path: l.path,
    mode: l.mode,
    fencing_token: l.fencing_token,
    since: l.since,
    work_id: l.work_id ?? null,
    expires_at: l.expires_at ?? null,
    reason: l.reason ?? null,
    worktree: l.worktree ?? null,
  };
}

/** One holder in words: who, what, for which work item, doing what, since when. */
export function describeHolder(h: Holder): string {
  const work = h.work_id ? `work item ${h.work_id}` : 'no work item';
  const doing = h.activity ? `, current activity: ${h.activity}` : '';
  return `${h.path} is held (${h.mode}) by agent ${h.agent_id} for ${work}${doing}, since ${h.since}`;
}
