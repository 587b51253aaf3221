// Simulated Claude Code sessions for `ai-processor simulate --claude-sessions N`: each one sends the
// hook payloads Claude Code's http hooks send (POST /api/hooks/claude-code: SessionStart,
// UserPromptSubmit, PreToolUse/PostToolUse on Edit/Bash/Read, a Notification permission_prompt now and
// then that a "human" answers a few steps later, Stop, sometimes SessionEnd and a new session) and
// the OTLP/HTTP JSON metrics its exporter sends (POST /v1/metrics, delta temporality: cost, tokens by
// type, lines of code, active time, each point with session.id). Each session runs its own loop, one
// event per step (about --claude-step-ms apart), so a needs-input session and cost show up at once.
import { randomUUID } from 'node:crypto';

/** One counted request of the fleet simulator (null: no answer at all). */
export type CountedCall = (op: 'hook' | 'otlp' | 'register', method: string, path: string, body: unknown) => Promise<{ status: number; body: unknown } | null>;

export const HOOKS_PATH = '/api/hooks/claude-code';
export const OTLP_METRICS_PATH = '/v1/metrics';

export interface ClaudeSimOptions {
  sessions: number;
  /** Mean time between two events of one session. */
  stepMs: number;
  /** Teams the sessions are assigned to (round robin), as an operator would. */
  teams: readonly string[];
}

export interface ClaudeSimSummary {
  sessions: number;
  sessions_started: number;
  sessions_ended: number;
  tool_calls: number;
  /** Permission prompts shown (the session went to needs_input), and those answered. */
  prompts: number;
  answered: number;
  exports: number;
  cost_usd: number;
}

interface Project {
  name: string;
  files: string[];
  commands: string[];
  prompts: string[];
}

const PROJECTS: Project[] = [
  {
    name: 'webapp',
    files: ['src/auth/login.ts', 'src/auth/session.ts', 'src/api/users.ts', 'src/components/LoginForm.tsx', 'test/auth/login.test.ts', 'package.json'],
    commands: ['npm test -- --run src/auth/login.test.ts', 'npx tsc --noEmit', 'git status --short', 'git diff --stat', 'npm run lint -- src/auth'],
    prompts: ['Fix the failing login test and run the suite', 'Add rate limiting to the login endpoint', 'Refactor the session cookie handling'],
  },
  {
    name: 'billing-service',
    files: ['internal/invoice/invoice.go', 'internal/invoice/invoice_test.go', 'internal/tax/rates.go', 'cmd/server/main.go', 'go.mod'],
    commands: ['go test ./internal/...', 'go vet ./...', 'git status --short', 'go build ./cmd/server'],
    prompts: ['Invoices round VAT wrongly for some currencies: find and fix it', 'Add a test for credit notes', 'Why does the server start slowly?'],
  },
  {
    name: 'data-pipeline',
    files: ['pipeline/ingest.py', 'pipeline/transform.py', 'pipeline/schema.py', 'tests/test_transform.py', 'pyproject.toml'],
    commands: ['pytest tests/test_transform.py -q', 'ruff check pipeline', 'git log --oneline -5', 'python -m pipeline.ingest --dry-run'],
    prompts: ['Make the transform step idempotent', 'The nightly ingest drops rows with null ids: handle them', 'Speed up the schema validation'],
  },
];

const MODELS = ['claude-sonnet-4-6', 'claude-opus-4-6', 'claude-haiku-4-5'];
/** USD per million tokens (input, output, cache read, cache creation), by model: plausible list prices. */
const PRICES: Record<string, [number, number, number, number]> = {
  'claude-sonnet-4-6': [3, 15, 0.3, 3.75],
  'claude-opus-4-6': [5, 25, 0.5, 6.25],
  'claude-haiku-4-5': [1, 5, 0.1, 1.25],
};
const END_REASONS = ['prompt_input_exit', 'clear', 'logout'];

type Phase = 'start' | 'prompt' | 'tool' | 'waiting' | 'stop' | 'idle' | 'ended';

interface Usage {
  cost: number;
  input: number;
  output: number;
  cacheRead: number;
  cacheCreation: number;
  added: number;
  removed: number;
  activeS: number;
}

const emptyUsage = (): Usage => ({ cost: 0, input: 0, output: 0, cacheRead: 0, cacheCreation: 0, added: 0, removed: 0, activeS: 0 });

interface Session {
  index: number;
  id: string;
  team: string;
  project: Project;
  model: string;
  phase: Phase;
  /** Tool calls left in this turn. */
  toolsLeft: number;
  /** The tool call under way: its PreToolUse was sent, its PostToolUse is next. */
  pending: { name: string; input: Record<string, unknown>; id: string } | null;
  /** Steps left before the human answers the permission prompt / before the next prompt. */
  waitSteps: number;
  turns: number;
  /** Usage not yet exported, and where the delta window starts (ns). */
  unsent: Usage;
  windowStart: bigint;
  lastTime: bigint;
  lastExportMs: number;
}

const ns = (ms: number): bigint => BigInt(Math.floor(ms)) * 1_000_000n;
const str = (v: string) => ({ stringValue: v });

export class ClaudeSessionSimulator {
  private readonly sessions: Session[];
  private stopped = false;
  private stopWaiters = new Set<() => void>();
  private readonly counts: ClaudeSimSummary;

  constructor(
    private readonly call: CountedCall,
    private readonly rand: () => number,
    private readonly opts: ClaudeSimOptions,
  ) {
    this.counts = { sessions: opts.sessions, sessions_started: 0, sessions_ended: 0, tool_calls: 0, prompts: 0, answered: 0, exports: 0, cost_usd: 0 };
    this.sessions = Array.from({ length: opts.sessions }, (_, i) => this.newSession(i));
  }

  summary(): ClaudeSimSummary {
    return { ...this.counts, cost_usd: Math.round(this.counts.cost_usd * 1e4) / 1e4 };
  }

  /** Runs every session until stop(); resolves once their last requests were answered. */
  async run(): Promise<void> {
    await Promise.all(this.sessions.map((s) => this.loop(s)));
  }

  stop(): void {
    this.stopped = true;
    for (const wake of this.stopWaiters) wake();
  }

  private newSession(index: number): Session {
    const project = PROJECTS[index % PROJECTS.length];
    const now = ns(Date.now());
    return {
      index,
      id: randomUUID(),
      team: this.opts.teams[index % this.opts.teams.length],
      project,
      model: MODELS[index % MODELS.length],
      phase: 'start',
      toolsLeft: 0,
      pending: null,
      waitSteps: 0,
      turns: 0,
      unsent: emptyUsage(),
      windowStart: now,
      lastTime: now,
      lastExportMs: Date.now(),
    };
  }

  private async loop(s: Session): Promise<void> {
    // Sessions start a little apart, as people open them.
    await this.sleep(this.rand() * this.opts.stepMs);
    while (!this.stopped) {
      await this.step(s);
      await this.sleep(this.opts.stepMs * (0.5 + this.rand()));
    }
    await this.exportUsage(s); // what the session used last is not lost
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.stopWaiters.delete(done);
        resolve();
      };
      const t = setTimeout(done, Math.max(0, ms));
      this.stopWaiters.add(done);
    });
  }

  private chance(p: number): boolean {
    return this.rand() < p;
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rand() * xs.length)];
  }

  private cwd(s: Session): string {
    return `/home/dev/projects/${s.project.name}`;
  }

  /** The fields every hook payload carries. The project is named in the payload: its directory does not exist here. */
  private base(s: Session, event: string): Record<string, unknown> {
    return {
      session_id: s.id,
      transcript_path: `/home/dev/.claude/projects/-home-dev-projects-${s.project.name}/${s.id}.jsonl`,
      cwd: this.cwd(s),
      permission_mode: 'default',
      hook_event_name: event,
      project: s.project.name,
    };
  }

  private hook(payload: Record<string, unknown>) {
    return this.call('hook', 'POST', HOOKS_PATH, payload);
  }

  private async step(s: Session): Promise<void> {
    switch (s.phase) {
      case 'start': {
        const res = await this.hook({ ...this.base(s, 'SessionStart'), source: 'startup', model: s.model, permission_mode: undefined });
        if (!res || res.status >= 300) return; // try again next step
        this.counts.sessions_started++;
        // The operator's assignment of the session to a team (hooks carry no team).
        await this.call('register', 'POST', '/api/agents', { agent_id: `cc_${s.id}`, team: s.team });
        s.phase = 'prompt';
        return;
      }
      case 'prompt':
        await this.hook({ ...this.base(s, 'UserPromptSubmit'), prompt: this.pick(s.project.prompts) });
        s.turns++;
        s.toolsLeft = 3 + Math.floor(this.rand() * 6);
        s.phase = 'tool';
        this.use(s, 0.6);
        return;
      case 'tool':
        return this.toolStep(s);
      case 'waiting':
        // A human at the permission dialog: it answers after a while, and the tool call runs.
        if (--s.waitSteps > 0) return;
        this.counts.answered++;
        s.phase = 'tool';
        return this.toolStep(s);
      case 'stop':
        await this.hook({ ...this.base(s, 'Stop'), stop_hook_active: false, last_assistant_message: 'Done: the change is in and the checks pass.' });
        this.use(s, 0.4);
        await this.exportUsage(s);
        s.waitSteps = 2 + Math.floor(this.rand() * 4);
        s.phase = 'idle';
        return;
      case 'idle':
        if (--s.waitSteps > 0) return;
        if (s.turns >= 2 && this.chance(0.15)) {
          await this.hook({ ...this.base(s, 'SessionEnd'), permission_mode: undefined, reason: this.pick(END_REASONS) });
          this.counts.sessions_ended++;
          s.phase = 'ended';
          s.waitSteps = 2;
          return;
        }
        s.phase = 'prompt';
        return;
      case 'ended':
        if (--s.waitSteps > 0) return;
        // The developer opens a new session in the same place.
        Object.assign(s, this.newSession(s.index));
        return;
    }
  }

  private async toolStep(s: Session): Promise<void> {
    if (s.pending) {
      const t = s.pending;
      s.pending = null;
      await this.hook({
        ...this.base(s, 'PostToolUse'),
        tool_name: t.name,
        tool_input: t.input,
        tool_response: this.toolResponse(t),
        tool_use_id: t.id,
        duration_ms: 20 + Math.floor(this.rand() * 3000),
      });
      this.counts.tool_calls++;
      if (t.name === 'Edit') {
        s.unsent.added += 1 + Math.floor(this.rand() * 30);
        s.unsent.removed += Math.floor(this.rand() * 12);
      }
      this.use(s, 1);
      if (--s.toolsLeft <= 0) s.phase = 'stop';
      // Claude Code's exporter sends on an interval, not per call: here every few steps.
      if (Date.now() - s.lastExportMs >= 3 * this.opts.stepMs) await this.exportUsage(s);
      return;
    }
    const t = this.nextTool(s);
    s.pending = t;
    await this.hook({ ...this.base(s, 'PreToolUse'), tool_name: t.name, tool_input: t.input, tool_use_id: t.id });
    // A Bash command outside the allow list: Claude Code asks the human first.
    const ask = t.name === 'Bash' && (this.firstAsk(s) || this.chance(0.3));
    if (ask) {
      await this.hook({
        ...this.base(s, 'Notification'),
        message: 'Claude needs your permission to use Bash',
        title: 'Permission needed',
        notification_type: 'permission_prompt',
      });
      this.counts.prompts++;
      s.waitSteps = 4 + Math.floor(this.rand() * 8);
      s.phase = 'waiting';
    }
  }

  /** The first session's first tool call is a command that asks: a demo shows a waiting session within its first minute. */
  private firstAsk(s: Session): boolean {
    return s.index === 0 && s.turns === 1 && this.counts.prompts === 0;
  }

  private nextTool(s: Session): { name: string; input: Record<string, unknown>; id: string } {
    const id = `toolu_${randomUUID().replace(/-/g, '').slice(0, 24)}`;
    const file = `${this.cwd(s)}/${this.pick(s.project.files)}`;
    const r = this.firstAsk(s) ? 1 : this.rand();
    if (r < 0.35) return { name: 'Read', input: { file_path: file }, id };
    if (r < 0.7) return { name: 'Edit', input: { file_path: file, old_string: 'return null', new_string: 'return undefined', replace_all: false }, id };
    const command = this.pick(s.project.commands);
    return { name: 'Bash', input: { command, description: `Run ${command.split(' ')[0]}`, timeout: 120000 }, id };
  }

  private toolResponse(t: { name: string; input: Record<string, unknown> }): Record<string, unknown> {
    if (t.name === 'Bash') return { stdout: 'ok', stderr: '', interrupted: false };
    return { filePath: t.input.file_path, success: true };
  }

  /** One model call's worth of tokens and cost (scaled by `weight`), added to what the session has not exported yet. */
  private use(s: Session, weight: number): void {
    const u = s.unsent;
    const input = Math.round(weight * (800 + this.rand() * 4000));
    const output = Math.round(weight * (150 + this.rand() * 1200));
    const cacheRead = Math.round(weight * (8000 + this.rand() * 30000));
    const cacheCreation = Math.round(weight * this.rand() * 3000);
    const [pi, po, pr, pc] = PRICES[s.model];
    const cost = (input * pi + output * po + cacheRead * pr + cacheCreation * pc) / 1e6;
    u.input += input;
    u.output += output;
    u.cacheRead += cacheRead;
    u.cacheCreation += cacheCreation;
    u.cost += cost;
    u.activeS += (weight * this.opts.stepMs) / 1000;
  }

  /** The unexported usage as one OTLP ExportMetricsServiceRequest (JSON encoding, delta sums). */
  private async exportUsage(s: Session): Promise<void> {
    const u = s.unsent;
    if (u.cost === 0 && u.added === 0 && u.removed === 0) return;
    // Each delta point covers (last export, now]; times strictly increase per session (the daemon
    // counts a series' point only when it is later than the last one it counted).
    let time = ns(Date.now());
    if (time <= s.lastTime) time = s.lastTime + 1n;
    const start = s.windowStart;
    const attrs = (extra: Record<string, string> = {}) => [
      { key: 'session.id', value: str(s.id) },
      { key: 'model', value: str(s.model) },
      ...Object.entries(extra).map(([key, v]) => ({ key, value: str(v) })),
    ];
    const point = (value: number, extra?: Record<string, string>, int = false) => ({
      attributes: attrs(extra),
      startTimeUnixNano: String(start),
      timeUnixNano: String(time),
      ...(int ? { asInt: String(Math.round(value)) } : { asDouble: value }),
    });
    const sum = (name: string, unit: string, points: object[]) => ({ name, unit, sum: { aggregationTemporality: 1, isMonotonic: true, dataPoints: points } });
    const metrics = [
      sum('claude_code.cost.usage', 'USD', [point(u.cost)]),
      sum('claude_code.token.usage', 'tokens', [
        point(u.input, { type: 'input' }, true),
        point(u.output, { type: 'output' }, true),
        point(u.cacheRead, { type: 'cacheRead' }, true),
        point(u.cacheCreation, { type: 'cacheCreation' }, true),
      ]),
      sum('claude_code.active_time.total', 's', [point(u.activeS, { type: 'cli' })]),
    ];
    const lines = [...(u.added ? [point(u.added, { type: 'added' }, true)] : []), ...(u.removed ? [point(u.removed, { type: 'removed' }, true)] : [])];
    if (lines.length) metrics.push(sum('claude_code.lines_of_code.count', 'count', lines));
    const body = {
      resourceMetrics: [
        {
          resource: {
            attributes: [
              { key: 'service.name', value: str('claude-code') },
              { key: 'service.version', value: str('2.1.0') },
              { key: 'os.type', value: str('linux') },
            ],
          },
          scopeMetrics: [{ scope: { name: 'com.anthropic.claude_code', version: '2.1.0' }, metrics }],
        },
      ],
    };
    const res = await this.call('otlp', 'POST', OTLP_METRICS_PATH, body);
    if (!res || res.status >= 300) return; // kept: the next export carries it (a wider window)
    this.counts.exports++;
    this.counts.cost_usd += u.cost;
    s.unsent = emptyUsage();
    s.windowStart = time;
    s.lastTime = time;
    s.lastExportMs = Date.now();
  }
}
