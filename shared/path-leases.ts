// Path leases, pure: how a leased path is written (relative to its repository, `/`-separated, a
// trailing `/` for a directory), which leases overlap and which of them conflict, and an index that
// finds the leases overlapping one path by its ancestors, never by a scan of all leases.
// Leases live on their agent's record (`path_leases`), so they are journaled, streamed and merged
// like every other change of the agent; the index is derived from the records.
import type { Json, JsonObject } from './types.js';

export const LEASE_MODES = ['exclusive', 'shared'] as const;
export type LeaseMode = (typeof LEASE_MODES)[number];

/** The field of an agent record that holds its path leases. */
export const PATH_LEASES_FIELD = 'path_leases';
/** Longest path accepted (characters). */
export const MAX_PATH_CHARS = 4096;
/** Most paths in one claim or release. */
export const MAX_PATHS_PER_REQUEST = 256;
/** Longest repository id (an origin URL, or host:top-level). */
export const MAX_REPO_CHARS = 4096 + 256;

/** One lease as held (on its agent's record, plus the agent's id). */
export interface PathLease {
  agent_id: string;
  /** The repository: its normalised origin URL, else `<host>:<top-level>`. */
  repo: string;
  /** Relative to the repository's top-level; a trailing `/` for a directory (everything under it). */
  path: string;
  mode: LeaseMode;
  fencing_token: number;
  /** ISO UTC seconds. */
  since: string;
  /** The work item it is tied to: it ends when the agent no longer holds that item. */
  work_id?: string;
  /** The fencing token of the claim of `work_id` it is tied to: a later claim of the item does not revive it. */
  work_token?: number;
  /** Its own end (ISO UTC), when it was given a TTL. */
  expires_at?: string;
  reason?: string;
  /** `<host>:<top-level>` of the checkout it was taken in (two worktrees of one repository differ here). */
  worktree?: string;
}

export type PathCheck = { ok: true; path: string; dir: boolean } | { ok: false; message: string };

/**
 * A path relative to its repository, normalised: `.` and empty segments dropped, `..` applied; one
 * that climbs out of the repository, holds a NUL, is empty or too long is refused.
 */
export function normalizeRelPath(input: unknown): PathCheck {
  if (typeof input !== 'string') return { ok: false, message: 'each path must be a string' };
  if (input.length === 0) return { ok: false, message: 'a path must not be empty' };
  if (input.length > MAX_PATH_CHARS) return { ok: false, message: `a path is at most ${MAX_PATH_CHARS} characters` };
  if (input.includes('\0')) return { ok: false, message: 'a path must not contain NUL bytes' };
  if (input.startsWith('/')) return { ok: false, message: `"${clipText(input)}" is absolute: give paths relative to the repository` };
  const dir = input.endsWith('/') || /(^|\/)\.{1,2}$/.test(input);
  const out: string[] = [];
  for (const seg of input.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length === 0) return { ok: false, message: `"${clipText(input)}" climbs out of its repository` };
      out.pop();
      continue;
    }
    out.push(seg);
  }
  if (out.length === 0) return { ok: false, message: `"${clipText(input)}" names the repository itself: name a file or directory in it` };
  return { ok: true, path: out.join('/') + (dir ? '/' : ''), dir };
}

/** An absolute path normalised the same way (`..` may not climb above the root). */
export function normalizeAbsPath(input: string): PathCheck {
  if (!input.startsWith('/')) return { ok: false, message: 'not an absolute path' };
  return normalizeRelPath(input.replace(/^\/+/, ''));
}

function clipText(s: string, max = 120): string {
  return s.length <= max ? s : s.slice(0, max - 1) + '…';
}

/** A directory path always ends with `/`. */
export function isDir(p: string): boolean {
  return p.endsWith('/');
}

/** The directories above a path, outermost first: `a/b/c.ts` -> `a/`, `a/b/`. */
export function ancestorDirs(p: string): string[] {
  const out: string[] = [];
  let i = p.indexOf('/');
  while (i >= 0 && i < p.length - 1) {
    out.push(p.slice(0, i + 1));
    i = p.indexOf('/', i + 1);
  }
  return out;
}

/** One path covers (or is) the other: same path, or one a directory above the other. */
export function overlaps(a: string, b: string): boolean {
  if (a === b) return true;
  return (isDir(a) && b.startsWith(a)) || (isDir(b) && a.startsWith(b));
}

/** Leases of two agents conflict unless both are shared; one agent's leases never conflict with each other. */
export function modesConflict(a: { agent_id: string; mode: LeaseMode }, b: { agent_id: string; mode: LeaseMode }): boolean {
  return a.agent_id !== b.agent_id && (a.mode === 'exclusive' || b.mode === 'exclusive');
}

/**
 * An origin URL as a repository id, so two clones match whatever the transport:
 * `git@github.com:o/r.git`, `https://user@GitHub.com/o/r/`, `ssh://git@github.com/o/r` -> `github.com/o/r`.
 */
export function normalizeOrigin(url: string): string {
  const u = url.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):\/\/([^/]*)(\/.*)?$/i.exec(u);
  const scp = /^(?:[^@/]+@)?([^:/]+):(?!\/\/)(.*)$/.exec(u);
  let host: string;
  let rest: string;
  if (scheme) {
    if (scheme[1].toLowerCase() === 'file') return 'file://' + (scheme[3] ?? '').replace(/\/+$/, '').replace(/\.git$/, '');
    host = scheme[2].replace(/^[^@]*@/, '').replace(/:\d+$/, '');
    rest = scheme[3] ?? '';
  } else if (scp && !u.startsWith('/')) {
    host = scp[1];
    rest = scp[2];
  } else {
    return u.replace(/\/+$/, '').replace(/\.git$/, '');
  }
  rest = rest
    .replace(/^\/+/, '')
    .replace(/\/+$/, '')
    .replace(/\.git$/, '');
  return `${host.toLowerCase()}/${rest}`;
}

/** The leases on an agent record (malformed entries, from a hand edit, are skipped). */
export function leasesOf(agentId: string, data: JsonObject | undefined): PathLease[] {
  const list = data?.[PATH_LEASES_FIELD];
  if (!Array.isArray(list)) return [];
  const out: PathLease[] = [];
  for (const item of list) {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) continue;
    const l = item;
    if (typeof l.repo !== 'string' || typeof l.path !== 'string' || (l.mode !== 'exclusive' && l.mode !== 'shared')) continue;
    const lease: PathLease = {
      agent_id: agentId,
      repo: l.repo,
      path: l.path,
      mode: l.mode,
      fencing_token: typeof l.fencing_token === 'number' ? l.fencing_token : 0,
      since: typeof l.since === 'string' ? l.since : '',
    };
    if (typeof l.work_id === 'string') lease.work_id = l.work_id;
    if (typeof l.work_token === 'number') lease.work_token = l.work_token;
    if (typeof l.expires_at === 'string') lease.expires_at = l.expires_at;
    if (typeof l.reason === 'string') lease.reason = l.reason;
    if (typeof l.worktree === 'string') lease.worktree = l.worktree;
    out.push(lease);
  }
  return out;
}

/** The highest fencing token among the path leases of an agent record (0: none). */
export function maxLeaseToken(data: JsonObject | undefined): number {
  const list = data?.[PATH_LEASES_FIELD];
  if (!Array.isArray(list)) return 0;
  let max = 0;
  for (const l of list) {
    const t = l !== null && typeof l === 'object' && !Array.isArray(l) ? l.fencing_token : undefined;
    if (typeof t === 'number' && t > max) max = t;
  }
  return max;
}

/** A lease as stored on its agent's record (the agent id is the record's). */
export function leaseRecord(l: PathLease): JsonObject {
  const out: JsonObject = { repo: l.repo, path: l.path, mode: l.mode, fencing_token: l.fencing_token, since: l.since };
  if (l.work_id !== undefined) out.work_id = l.work_id;
  if (l.work_token !== undefined) out.work_token = l.work_token;
  if (l.expires_at !== undefined) out.expires_at = l.expires_at;
  if (l.reason !== undefined) out.reason = l.reason;
  if (l.worktree !== undefined) out.worktree = l.worktree;
  return out;
}

/** The agent's record field value for a list of leases. */
export function leaseField(leases: PathLease[]): Json {
  return leases.map(leaseRecord);
}

export function leaseKey(repo: string, p: string): string {
  return repo + '\0' + p;
}

/**
 * Every lease by its exact path, and by each directory above it: the leases overlapping a path are
 * found from its own depth (its ancestors, itself, and for a directory what is beneath it).
 */
export class PathIndex {
  /** repo\0path -> agent -> lease. */
  private exact = new Map<string, Map<string, PathLease>>();
  /** repo\0dir/ -> leases strictly beneath that directory. */
  private under = new Map<string, Set<PathLease>>();
  /** agent -> repo\0path -> lease. */
  private byAgent = new Map<string, Map<string, PathLease>>();
  private counts: Record<LeaseMode, number> = { exclusive: 0, shared: 0 };

  /** Replaces an agent's leases with those of its record (unchanged ones stay as they are). */
  setAgent(agentId: string, leases: PathLease[]): void {
    const old = this.byAgent.get(agentId);
    const next = new Map<string, PathLease>();
    for (const l of leases) next.set(leaseKey(l.repo, l.path), l);
    if (old) {
      for (const [k, l] of old) {
        const n = next.get(k);
        if (n && sameLease(n, l)) next.set(k, l);
        else this.remove(l);
      }
    }
    for (const [k, l] of next) if (old?.get(k) !== l) this.add(l);
    if (next.size) this.byAgent.set(agentId, next);
    else this.byAgent.delete(agentId);
  }

  private add(l: PathLease): void {
    const k = leaseKey(l.repo, l.path);
    let m = this.exact.get(k);
    if (!m) this.exact.set(k, (m = new Map()));
    m.set(l.agent_id, l);
    for (const d of ancestorDirs(l.path)) {
      const dk = leaseKey(l.repo, d);
      let s = this.under.get(dk);
      if (!s) this.under.set(dk, (s = new Set()));
      s.add(l);
    }
    this.counts[l.mode]++;
  }

  private remove(l: PathLease): void {
    const k = leaseKey(l.repo, l.path);
    const m = this.exact.get(k);
    if (m?.get(l.agent_id) === l) {
      m.delete(l.agent_id);
      if (m.size === 0) this.exact.delete(k);
    }
    for (const d of ancestorDirs(l.path)) {
      const dk = leaseKey(l.repo, d);
      const s = this.under.get(dk);
      if (!s) continue;
      s.delete(l);
      if (s.size === 0) this.under.delete(dk);
    }
    this.counts[l.mode]--;
  }

  /** Every lease whose path overlaps `p` in `repo`, whoever holds it. */
  overlapping(repo: string, p: string): PathLease[] {
    const out: PathLease[] = [];
    for (const d of ancestorDirs(p)) {
      const m = this.exact.get(leaseKey(repo, d));
      if (m) for (const l of m.values()) out.push(l);
    }
    const same = this.exact.get(leaseKey(repo, p));
    if (same) for (const l of same.values()) out.push(l);
    if (isDir(p)) {
      const below = this.under.get(leaseKey(repo, p));
      if (below) for (const l of below) out.push(l);
    }
    return out;
  }

  ofAgent(agentId: string): PathLease[] {
    return [...(this.byAgent.get(agentId)?.values() ?? [])];
  }

  /** The agent's leases at these exact paths of a repository. */
  ofAgentAt(agentId: string, repo: string, paths: string[]): PathLease[] {
    const mine = this.byAgent.get(agentId);
    if (!mine) return [];
    const out: PathLease[] = [];
    for (const p of paths) {
      const l = mine.get(leaseKey(repo, p));
      if (l) out.push(l);
    }
    return out;
  }

  agents(): IterableIterator<string> {
    return this.byAgent.keys();
  }

  /** All leases. */
  *all(): IterableIterator<PathLease> {
    for (const m of this.byAgent.values()) yield* m.values();
  }

  count(mode: LeaseMode): number {
    return this.counts[mode];
  }

  get size(): number {
    return this.counts.exclusive + this.counts.shared;
  }
}

function sameLease(a: PathLease, b: PathLease): boolean {
  return (
    a.fencing_token === b.fencing_token &&
    a.mode === b.mode &&
    a.work_id === b.work_id &&
    a.work_token === b.work_token &&
    a.expires_at === b.expires_at &&
    a.worktree === b.worktree &&
    a.reason === b.reason &&
    a.since === b.since
  );
}

/** How a lease held in another worktree of the same repository is answered. */
export const CROSS_WORKTREE_ACTIONS = ['deny', 'warn', 'off'] as const;
export type CrossWorktreeAction = (typeof CROSS_WORKTREE_ACTIONS)[number];

export const PATH_LEASE_MODES = ['off', 'warn', 'enforce'] as const;
export type PathLeaseEnforcement = (typeof PATH_LEASE_MODES)[number];

/** Held in another checkout of the same repository (both known, and different). */
export function otherWorktree(a: { worktree?: string }, b: { worktree?: string }): boolean {
  return a.worktree !== undefined && b.worktree !== undefined && a.worktree !== b.worktree;
}
