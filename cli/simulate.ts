// `ai-processor simulate`: a synthetic fleet for demos, soak runs and the console's tests. N agents
// register, heartbeat, create and claim work, report progress and complete it (sometimes as failed),
// contend for each other's items now and then (409s), and sometimes go silent: no call at all for
// twice the daemon's lease, so their claims expire and they find out on their return (409
// not_claim_holder, reason lease_expired). Everything goes through the real HTTP API, at about R
// requests per second overall. A summary (ops, conflicts, errors) is printed on SIGINT/SIGTERM or
// after --duration; with --json as one JSON document on stdout. With --claude-sessions N, N simulated
// Claude Code sessions (simulate-claude.ts) send hook events and OTLP metrics alongside, at their own
// pace (--claude-step-ms), on top of --rate.
// Exit codes: 0 done, 2 usage, 3 daemon unreachable at the start.
import type { Command } from 'commander';
import { CommanderError } from 'commander';
import { ApiClient, DaemonUnreachableError, type ApiResponse } from '../client/api.js';
import { EXIT, type ClientFlags } from './client-io.js';
import { num } from '../shared/cli-args.js';
import { rng } from '../shared/random.js';
import { ClaudeSessionSimulator, type ClaudeSimSummary } from './simulate-claude.js';

export interface SimulateOptions {
  agents: number;
  /** Requests per second, all agents together. */
  rate: number;
  /** Seconds; unset = until stopped. */
  durationS?: number;
  seed: number;
  /** Chance that a finished item is reported failed. */
  failRate: number;
  /** Chance, per turn of an agent holding a claim, that it goes silent. */
  silenceRate: number;
  /** Chance, per turn of an idle agent, that it tries to claim an item another agent holds. */
  contendRate: number;
  /** Agent and work id prefix. */
  prefix: string;
  /** Lease the silences are sized for; default: the daemon's (GET /api/stats lease_ms). */
  leaseMs?: number;
  /** Simulated Claude Code sessions (hooks and OTLP metrics); 0: none. */
  claudeSessions?: number;
  /** Mean time between two events of one Claude Code session. */
  claudeStepMs?: number;
}

/** Defaults of the Claude Code sessions' pacing: a step every 2 s keeps a demo lively and readable. */
export const DEFAULT_CLAUDE_STEP_MS = 2000;

type Op = 'register' | 'heartbeat' | 'create_work' | 'claim' | 'progress' | 'complete' | 'release' | 'hook' | 'otlp';
const OPS: Op[] = ['register', 'heartbeat', 'create_work', 'claim', 'progress', 'complete', 'release', 'hook', 'otlp'];

export interface OpCounts {
  ok: number;
  conflict: number;
  error: number;
}

export interface SimulateSummary {
  url: string;
  seed: number;
  agents: number;
  rate_target: number;
  lease_ms: number;
  elapsed_s: number;
  ops: number;
  ops_per_s: number;
  ok: number;
  /** 409 answers: contention for an item, a claim lost to a lease expiry. */
  conflicts: number;
  /** Everything else that failed: other 4xx, 5xx, timeouts, connection errors. */
  errors: number;
  by_op: Record<Op, OpCounts>;
  registered: number;
  claims: number;
  completed: number;
  failed: number;
  silences: number;
  /** Returning agents told their claim was released because their lease ran out. */
  leases_lost: number;
  /** Up to 5 distinct error texts, for a first look. */
  error_samples: string[];
  /** What the simulated Claude Code sessions did (absent without --claude-sessions). */
  claude?: ClaudeSimSummary;
}

const TEAMS = ['backend', 'frontend', 'infra', 'qa', 'data', 'platform'];
const SPECIALIZATIONS = ['api_development', 'ui_development', 'testing', 'observability', 'performance', 'documentation'];
const WORK_TYPES = ['bug_fix', 'feature', 'refactor', 'test_coverage', 'performance_enhancement', 'observability_infrastructure', 'documentation'];
const PRIORITIES = ['low', 'medium', 'high', 'critical'];
const SUBJECTS = [
  'login flow',
  'claim latency',
  'journal compaction',
  'dashboard panel',
  'flaky test',
  'retry policy',
  'trace export',
  'lease sweeper',
  'config loader',
  'schema migration',
];

export { rng };

interface SimAgent {
  id: string;
  team: string;
  specialization: string;
  phase: 'new' | 'idle' | 'ready' | 'holding' | 'silent';
  /** Created but not yet claimed (ready), or held (holding, silent). */
  work: string | null;
  fencing: number | undefined;
  progress: number;
  busy: boolean;
  lastOpAt: number;
  lastHeartbeatAt: number;
  silentUntil: number;
}

export class FleetSimulator {
  private readonly agents: SimAgent[];
  private readonly rand: () => number;
  private readonly counts = {} as Record<Op, OpCounts>;
  private readonly errorSamples = new Set<string>();
  /** Items anyone may claim: released by an expired lease, or created and left behind. */
  private readonly open = new Set<string>();
  private workSeq = 0;
  private readonly runTag: string;
  private claims = 0;
  private completed = 0;
  private failed = 0;
  private silences = 0;
  private leasesLost = 0;
  private registered = 0;
  private inFlight = new Set<Promise<void>>();
  private stopping = false;
  private wake: (() => void) | null = null;
  private startedAt = 0;
  private leaseMs = 60_000;
  private readonly claude: ClaudeSessionSimulator | null;

  constructor(
    private readonly api: ApiClient,
    private readonly opts: SimulateOptions,
  ) {
    this.rand = rng(opts.seed);
    this.runTag = (opts.seed >>> 0).toString(36) + Date.now().toString(36).slice(-4);
    for (const op of OPS) this.counts[op] = { ok: 0, conflict: 0, error: 0 };
    this.agents = Array.from({ length: opts.agents }, (_, i) => ({
      id: `${opts.prefix}_agent_${String(i + 1).padStart(String(opts.agents).length, '0')}`,
      team: TEAMS[i % TEAMS.length],
      specialization: SPECIALIZATIONS[i % SPECIALIZATIONS.length],
      phase: 'new',
      work: null,
      fencing: undefined,
      progress: 0,
      busy: false,
      lastOpAt: 0,
      lastHeartbeatAt: 0,
      silentUntil: 0,
    }));
    // Their own random stream: adding sessions does not change what the seed makes the agents do.
    this.claude = opts.claudeSessions
      ? new ClaudeSessionSimulator((op, method, path, body) => this.call(op, method, path, body), rng(opts.seed ^ 0x5eed), {
          sessions: opts.claudeSessions,
          stepMs: opts.claudeStepMs ?? DEFAULT_CLAUDE_STEP_MS,
          teams: TEAMS,
        })
      : null;
  }

  get lease(): number {
    return this.leaseMs;
  }

  /** Learns the lease (for sizing silences); throws DaemonUnreachableError if there is no daemon. */
  async prepare(): Promise<void> {
    if (this.opts.leaseMs) {
      this.leaseMs = this.opts.leaseMs;
      await this.api.get('/health');
      return;
    }
    const res = await this.api.get<{ lease_ms?: number }>('/api/stats');
    if (res.status === 200 && typeof res.body.lease_ms === 'number' && res.body.lease_ms > 0) this.leaseMs = res.body.lease_ms;
  }

  /** Runs until stop() or the duration; resolves once the requests in flight have finished. */
  async run(): Promise<SimulateSummary> {
    this.startedAt = Date.now();
    const interval = 1000 / this.opts.rate;
    const end = this.opts.durationS !== undefined ? this.startedAt + this.opts.durationS * 1000 : Infinity;
    let due = this.startedAt;
    const claude = this.claude?.run();
    while (!this.stopping && Date.now() < end) {
      const now = Date.now();
      if (now < due) {
        await this.sleep(Math.min(due - now, end - now));
        continue;
      }
      if (!this.tick(now)) {
        // Every agent busy or silent: the request is owed, not skipped (a short wait, then retry).
        await this.sleep(Math.min(interval, 20));
      } else due += interval;
      if (Date.now() - due > 250) due = Date.now() - 250; // fell behind (a stalled daemon): no long burst to catch up
    }
    this.stopping = true;
    this.claude?.stop();
    // Let the requests already sent finish, so their answers are counted (bounded by the client timeout).
    await Promise.all([...this.inFlight, claude]);
    return this.summary();
  }

  stop(): void {
    this.stopping = true;
    this.wake?.();
  }

  summary(): SimulateSummary {
    const elapsed = Math.max(0.001, ((this.startedAt ? Date.now() : 0) - this.startedAt) / 1000);
    const all = Object.values(this.counts);
    const sum = (k: keyof OpCounts) => all.reduce((n, c) => n + c[k], 0);
    const ops = sum('ok') + sum('conflict') + sum('error');
    return {
      url: this.api.url,
      seed: this.opts.seed,
      agents: this.opts.agents,
      rate_target: this.opts.rate,
      lease_ms: this.leaseMs,
      elapsed_s: Math.round(elapsed * 10) / 10,
      ops,
      ops_per_s: Math.round((ops / elapsed) * 10) / 10,
      ok: sum('ok'),
      conflicts: sum('conflict'),
      errors: sum('error'),
      by_op: structuredClone(this.counts),
      registered: this.registered,
      claims: this.claims,
      completed: this.completed,
      failed: this.failed,
      silences: this.silences,
      leases_lost: this.leasesLost,
      error_samples: [...this.errorSamples].slice(0, 5),
      ...(this.claude ? { claude: this.claude.summary() } : {}),
    };
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, Math.max(0, ms));
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }

  /**
   * One scheduled request: the agent that has waited longest (and is not silent or busy) acts.
   * An agent that goes silent instead makes no request, so the next one is asked. False: nobody could.
   */
  private tick(now: number): boolean {
    for (;;) {
      let next: SimAgent | null = null;
      for (const a of this.agents) {
        if (a.busy) continue;
        if (a.phase === 'silent') {
          if (now < a.silentUntil) continue;
          a.phase = 'holding'; // back, unaware that its lease may have run out
        }
        if (!next || a.lastOpAt < next.lastOpAt) next = a;
      }
      if (!next) return false;
      const agent = next;
      agent.lastOpAt = now;
      if (agent.phase === 'holding' && this.chance(this.opts.silenceRate)) {
        // Gone quiet (crashed, stuck, partitioned): not even a heartbeat until well past the lease.
        agent.phase = 'silent';
        agent.silentUntil = now + Math.max(1000, 2 * this.leaseMs) + Math.floor(this.rand() * 1000);
        this.silences++;
        continue;
      }
      agent.busy = true;
      const p = this.act(agent)
        .catch((err: unknown) => this.noteError(`${agent.id}: ${(err as Error).message}`))
        .finally(() => {
          agent.busy = false;
          this.inFlight.delete(p);
        });
      this.inFlight.add(p);
      return true;
    }
  }

  private chance(p: number): boolean {
    return this.rand() < p;
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rand() * xs.length)];
  }

  private async act(a: SimAgent): Promise<void> {
    if (a.phase !== 'new' && Date.now() - a.lastHeartbeatAt > this.leaseMs / 3) {
      // A live agent heartbeats well within its lease, whatever else it does (the console calls an
      // agent stale from its last heartbeat; only the silent ones should look it).
      await this.heartbeat(a);
      return;
    }
    switch (a.phase) {
      case 'new': {
        const res = await this.call('register', 'POST', '/api/agents', { agent_id: a.id, team: a.team, specialization: a.specialization, capacity: 100 });
        if (res && res.status < 300) {
          a.phase = 'idle';
          a.lastHeartbeatAt = Date.now(); // registering sets last_heartbeat
          this.registered++;
        }
        return;
      }
      case 'idle':
        return this.idleTurn(a);
      case 'ready': {
        const id = a.work!;
        return this.claim(a, id, () => this.open.add(id)); // lost the race for its own item: leave it for others
      }
      case 'holding':
        return this.holdingTurn(a);
      case 'silent':
        return;
    }
  }

  private async idleTurn(a: SimAgent): Promise<void> {
    if (this.chance(0.1)) return this.heartbeat(a);
    const held = this.agents.filter((b) => b !== a && (b.phase === 'holding' || b.phase === 'silent') && b.work);
    if (held.length > 0 && this.chance(this.opts.contendRate)) {
      // Two agents wanting the same item: the daemon must refuse the second one.
      return this.claim(a, this.pick(held).work!, () => {});
    }
    if (this.open.size > 0 && this.chance(0.5)) {
      const id = this.pick([...this.open]);
      this.open.delete(id);
      return this.claim(a, id, () => {});
    }
    const id = `${this.opts.prefix}_work_${this.runTag}_${++this.workSeq}`;
    const subject = this.pick(SUBJECTS);
    const type = this.pick(WORK_TYPES);
    const res = await this.call('create_work', 'POST', '/api/work', {
      work_id: id,
      work_type: type,
      description: `${type.replace(/_/g, ' ')}: ${subject}`,
      priority: this.pick(PRIORITIES),
      team: a.team,
      created_by: a.id,
    });
    if (res && res.status < 300) {
      a.phase = 'ready';
      a.work = id;
    }
  }

  private async claim(a: SimAgent, id: string, onRefused: () => void): Promise<void> {
    const res = await this.call<{ claim?: { fencing_token?: number } }>('claim', 'POST', '/api/coordination/claim', { work_id: id, agent_id: a.id });
    if (res && res.status === 200) {
      this.claims++;
      a.phase = 'holding';
      a.work = id;
      a.fencing = res.body.claim?.fencing_token;
      a.progress = 0;
      return;
    }
    if (a.phase === 'ready') {
      a.phase = 'idle';
      a.work = null;
    }
    onRefused();
  }

  private async holdingTurn(a: SimAgent): Promise<void> {
    const holder = { work_id: a.work!, agent_id: a.id, ...(a.fencing !== undefined ? { fencing_token: a.fencing } : {}) };
    if (this.chance(0.1)) return this.heartbeat(a);
    const progress = Math.min(100, a.progress + 15 + Math.floor(this.rand() * 30));
    const res =
      progress >= 100
        ? this.chance(this.opts.failRate)
          ? await this.call('complete', 'POST', '/api/coordination/complete', {
              ...holder,
              status: 'failed',
              result: 'failed: tests still red',
              velocity_points: 0,
            })
          : await this.call('complete', 'POST', '/api/coordination/complete', {
              ...holder,
              result: 'success',
              velocity_points: 1 + Math.floor(this.rand() * 8),
            })
        : await this.call('progress', 'POST', '/api/coordination/progress', { ...holder, progress });
    if (!res) return; // network trouble: try again next turn
    if (res.status === 200) {
      if (progress < 100) {
        a.progress = progress;
        return;
      }
      if ((res.body as { work?: { status?: string } }).work?.status === 'failed') this.failed++;
      else this.completed++;
      this.drop(a);
      return;
    }
    if (res.status === 409 || res.status === 404) {
      const body = res.body as { error?: string; reason?: string; status?: string };
      if (body.reason === 'lease_expired') this.leasesLost++;
      // Released (by its lease or an operator): claimable again by anyone, this agent included.
      if (body.error === 'not_claim_holder' && (body.status === 'released' || body.status === 'pending')) this.open.add(a.work!);
      this.drop(a);
    }
  }

  private async heartbeat(a: SimAgent): Promise<void> {
    const res = await this.call('heartbeat', 'POST', `/api/agents/${a.id}/heartbeat`, { status: 'active', current_workload: a.phase === 'holding' ? 1 : 0 });
    if (res && res.status < 300) a.lastHeartbeatAt = Date.now();
  }

  private drop(a: SimAgent): void {
    a.phase = 'idle';
    a.work = null;
    a.fencing = undefined;
    a.progress = 0;
  }

  /** One request, counted; null when it never got an answer. */
  private async call<T = Record<string, unknown>>(op: Op, method: string, path: string, body?: unknown): Promise<ApiResponse<T> | null> {
    // An OTLP answer with partialSuccess is a 200 whose points were (partly) refused: an error all the same.
    try {
      const res = await this.api.request<T>(method, path, body);
      const c = this.counts[op];
      const partial =
        op === 'otlp' && res.status < 300
          ? (res.body as { partialSuccess?: { rejectedDataPoints?: number | string; errorMessage?: string } }).partialSuccess
          : undefined;
      if (partial && Number(partial.rejectedDataPoints ?? 0) > 0) {
        c.error++;
        this.noteError(`otlp rejected ${partial.rejectedDataPoints} points: ${partial.errorMessage ?? ''}`.trim());
      } else if (res.status < 300) c.ok++;
      else if (res.status === 409) c.conflict++;
      else {
        c.error++;
        const b = res.body as { error?: string; message?: string };
        this.noteError(`${op} HTTP ${res.status} ${b?.error ?? ''}`.trim());
      }
      return res;
    } catch (err) {
      this.counts[op].error++;
      this.noteError(`${op}: ${(err as Error).message}`);
      return null;
    }
  }

  private noteError(text: string): void {
    if (this.errorSamples.size < 20) this.errorSamples.add(text.slice(0, 200));
  }
}

export function formatSummary(s: SimulateSummary): string {
  const op = (name: Op): string => {
    const c = s.by_op[name];
    const total = c.ok + c.conflict + c.error;
    const extra = [c.conflict ? `${c.conflict} conflict${c.conflict === 1 ? '' : 's'}` : '', c.error ? `${c.error} error${c.error === 1 ? '' : 's'}` : '']
      .filter(Boolean)
      .join(', ');
    return `${name} ${total}${extra ? ` (${extra})` : ''}`;
  };
  const lines = [
    `simulated ${s.agents} agents for ${s.elapsed_s} s against ${s.url} (seed ${s.seed})`,
    `  ops ${s.ops} (${s.ops_per_s}/s, target ${s.rate_target}/s)  ok ${s.ok}  conflicts ${s.conflicts}  errors ${s.errors}`,
    `  ${(['register', 'heartbeat', 'create_work', 'claim', 'progress', 'complete'] as Op[]).map(op).join('  ')}`,
    `  claims ${s.claims}  completed ${s.completed}  failed ${s.failed}  silences ${s.silences}  leases lost ${s.leases_lost} (lease ${s.lease_ms} ms)`,
  ];
  const c = s.claude;
  if (c) {
    lines.push(
      `  claude code: ${c.sessions} sessions (${c.sessions_started} started, ${c.sessions_ended} ended)  tool calls ${c.tool_calls}  permission prompts ${c.prompts} (${c.answered} answered)  exports ${c.exports}  cost $${c.cost_usd.toFixed(2)}  ${op('hook')}  ${op('otlp')}`,
    );
  }
  if (s.error_samples.length) lines.push(`  errors seen: ${s.error_samples.join('; ')}`);
  return lines.join('\n');
}

type Flags = ClientFlags & {
  agents: number;
  rate: number;
  duration?: number;
  seed?: number;
  failRate: number;
  silenceRate: number;
  contendRate: number;
  prefix: string;
  leaseMs?: number;
  claudeSessions: number;
  claudeStepMs: number;
};

function positive(name: string, integer = false) {
  const parse = num(name);
  return (v: string): number => {
    const n = parse(v);
    if (n <= 0 || (integer && !Number.isInteger(n)))
      throw new CommanderError(EXIT.usage, 'usage', `${name} must be a positive ${integer ? 'integer' : 'number'}, got "${v}"`);
    return n;
  };
}

function count(name: string) {
  const parse = num(name);
  return (v: string): number => {
    const n = parse(v);
    if (n < 0 || n > 1000 || !Number.isInteger(n)) throw new CommanderError(EXIT.usage, 'usage', `${name} must be a whole number from 0 to 1000, got "${v}"`);
    return n;
  };
}

function fraction(name: string) {
  const parse = num(name);
  return (v: string): number => {
    const n = parse(v);
    if (n < 0 || n > 1) throw new CommanderError(EXIT.usage, 'usage', `${name} must be between 0 and 1, got "${v}"`);
    return n;
  };
}

async function runSimulate(o: Flags): Promise<void> {
  if (!/^[A-Za-z0-9_\-.:]{1,40}$/.test(o.prefix) || o.prefix.includes('..'))
    throw new CommanderError(EXIT.usage, 'usage', `--prefix must be 1-40 letters, digits, _ - . :, got "${o.prefix}"`);
  const seed = o.seed ?? Math.floor(Math.random() * 2 ** 31);
  const api = new ApiClient({ url: o.url, token: o.token, timeoutMs: 10_000 });
  const sim = new FleetSimulator(api, {
    agents: o.agents,
    rate: o.rate,
    durationS: o.duration,
    seed,
    failRate: o.failRate,
    silenceRate: o.silenceRate,
    contendRate: o.contendRate,
    prefix: o.prefix,
    leaseMs: o.leaseMs,
    claudeSessions: o.claudeSessions,
    claudeStepMs: o.claudeStepMs,
  });
  try {
    await sim.prepare();
  } catch (err) {
    if (err instanceof DaemonUnreachableError) {
      process.stderr.write(err.message + '\n');
      process.exit(EXIT.unavailable);
    }
    throw err;
  }
  const everyS = o.agents / o.rate;
  if (everyS * 1000 > sim.lease / 2) {
    process.stderr.write(
      `[simulate] warning: each agent acts about every ${everyS.toFixed(1)} s, against a lease of ${(sim.lease / 1000).toFixed(1)} s: claims will also expire without silences (raise --rate or lower --agents)\n`,
    );
  }
  let signals = 0;
  const onSignal = (): void => {
    if (++signals > 1) process.exit(EXIT.ok); // a second ^C: do not wait for requests in flight
    sim.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const progress = o.json
    ? null
    : setInterval(() => {
        const s = sim.summary();
        process.stderr.write(`[simulate] ${s.elapsed_s.toFixed(0)} s: ops ${s.ops}, conflicts ${s.conflicts}, errors ${s.errors}, completed ${s.completed}\n`);
      }, 10_000);
  const summary = await sim.run();
  if (progress) clearInterval(progress);
  process.stdout.write((o.json ? JSON.stringify(summary) : formatSummary(summary)) + '\n');
  process.exit(EXIT.ok);
}

export function registerSimulateCommand(program: Command): void {
  program
    .command('simulate')
    .option('--url <url>', 'daemon URL (else AI_PROCESSOR_URL, else http://127.0.0.1:4001)')
    .option('--token <token>', 'bearer token (else AI_PROCESSOR_TOKEN)')
    .option('--json', 'print the summary as one JSON document')
    .description(
      'run a synthetic fleet of agents against the daemon (register, heartbeat, create/claim/progress/complete work, some failures and silent agents whose leases expire; with --claude-sessions, Claude Code sessions sending hook events and OTLP metrics); prints a summary on exit',
    )
    .option('--agents <n>', 'number of agents', positive('--agents', true), 12)
    .option('--rate <r>', 'requests per second, all agents together', positive('--rate'), 8)
    .option('--duration <s>', 'stop after this many seconds (default: until SIGINT/SIGTERM)', positive('--duration'))
    .option('--seed <k>', 'random seed, to repeat a run (default: random, printed in the summary)', num('--seed'))
    .option('--fail-rate <p>', 'chance that a finished item is reported failed', fraction('--fail-rate'), 0.1)
    .option('--silence-rate <p>', 'chance per turn that an agent holding a claim goes silent for 2 leases', fraction('--silence-rate'), 0.02)
    .option('--contend-rate <p>', 'chance per idle turn of claiming an item another agent holds', fraction('--contend-rate'), 0.05)
    .option('--prefix <p>', 'prefix of agent and work ids', 'sim')
    .option('--lease-ms <ms>', "lease the silences are sized for (default: the daemon's, from /api/stats)", positive('--lease-ms'))
    .option('--claude-sessions <n>', 'simulated Claude Code sessions sending hook events and OTLP metrics (on top of --rate)', count('--claude-sessions'), 0)
    .option('--claude-step-ms <ms>', 'mean time between two events of one Claude Code session', positive('--claude-step-ms'), DEFAULT_CLAUDE_STEP_MS)
    .action(async (o: Flags) => runSimulate(o));
}
