// The console's network layer, on the client layer (client/): the coordination state comes through
// the stream client (snapshot or ?since= replay, checksummed deltas, gap detection, resync,
// reconnect with backoff), the only door between the model and the daemon's state; spans through
// the telemetry client; /api/stats polling, the span fill and the two mutating calls over node:http
// (client/node-request.ts). Everything it learns goes into the ConsoleModel; it never draws.
import { DaemonUnreachableError, type ApiResponse } from '../../client/api.js';
import { requestJson } from '../../client/node-request.js';
import { StreamClient } from '../../client/stream-client.js';
import { TelemetryClient } from '../../client/telemetry-client.js';
import type { DeltaMessage, EventMessage, LegacySpan, StatsResponse } from '../../shared/protocol.js';
import type { ActionResult, Actions } from '../model/actions.js';
import type { ConsoleModel, ResyncReason } from '../model/console-model.js';
import { parseTime } from '../model/selectors.js';

export interface ConnectionOptions {
  /** Daemon base URL (http://host:port), already resolved. */
  url: string;
  token?: string;
  model: ConsoleModel;
  statsEveryMs?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Liveness ping period of the telemetry socket: a peer that does not pong within it is dropped. */
  pingEveryMs?: number;
  spansLimit?: number;
}

const UNAUTHORIZED = /unauthori[sz]ed|\b40[13]\b/i;

export class Connection implements Actions {
  /** The coordination stream; exposed for tests and diagnostics. */
  readonly stream: StreamClient;
  private readonly url: string;
  private readonly model: ConsoleModel;
  private readonly token: string | undefined;
  private readonly statsEveryMs: number;
  private readonly spansLimit: number;
  private readonly telemetry: TelemetryClient;
  /** Stats polls have their own time limit (below the poll period); reads and actions 5 s. */
  private readonly statsTimeoutMs: number;
  private stopped = false;
  /** Failed stream attempts since the last successful connection (the header shows it). */
  private attempt = 0;
  private unauthorized = false;
  private timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(opts: ConnectionOptions) {
    this.url = opts.url.replace(/\/+$/, '');
    this.model = opts.model;
    this.token = opts.token || undefined;
    this.statsEveryMs = opts.statsEveryMs ?? 2000;
    this.spansLimit = opts.spansLimit ?? 200;
    // No token means "none", not "fall back to the environment" (cli.tsx already did that).
    const token = this.token ?? null;
    const backoff = { minBackoffMs: opts.minBackoffMs, maxBackoffMs: opts.maxBackoffMs };
    this.stream = new StreamClient({ url: this.url, token, ...backoff });
    this.telemetry = new TelemetryClient({ url: this.url, token, ...backoff, pingMs: opts.pingEveryMs });
    this.statsTimeoutMs = Math.max(500, this.statsEveryMs - 250);
    this.wireStream();
    // Fill what was missed before (or while) the telemetry stream was down; the model drops repeats.
    this.telemetry.on('open', () => void this.fetchSpans());
    this.telemetry.on('span', (span: LegacySpan) => this.model.addSpans([span]));
  }

  start(): void {
    this.stream.start();
    this.telemetry.start();
    void this.pollStats();
  }

  stop(): void {
    this.stopped = true;
    this.stream.stop();
    this.telemetry.stop();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  release(workId: string, agentId: string): Promise<ActionResult> {
    return this.post('/api/coordination/release', { work_id: workId, agent_id: agentId, force: true }, `released ${workId}`);
  }

  markOffline(agentId: string): Promise<ActionResult> {
    return this.post(`/api/agents/${encodeURIComponent(agentId)}/heartbeat`, { status: 'offline' }, `${agentId} marked offline`);
  }

  /**
   * StreamClient events -> model. The client verifies every checksum against its own copy, so the
   * model shows that copy (adopt) and records the client's verdicts and resyncs (markSync).
   */
  private wireStream(): void {
    const s = this.stream;
    const m = this.model;
    const copy = () => ({ state: s.state, revision: s.revision, checksum: s.checksum, verified: s.verified });
    // Every change of the client's copy comes as one of these two (each followed by 'change').
    s.on('snapshot', () => m.adopt(copy()));
    s.on('delta', (msg: DeltaMessage) => m.adopt(copy(), msg.changes));
    // gap/checksum: the client has marked its copy unverified and asked for a snapshot; slow (the
    // daemon dropped us with 4001): the copy is right but behind, and the reconnect replays the rest.
    // (The client emits 'resync' before it clears its own `verified`, so that is not read here.)
    s.on('resync', (reason: ResyncReason) => m.markSync({ verified: reason === 'slow' ? s.verified : false, resynced: reason }));
    s.on('event', (ev: EventMessage) => m.addEvent(ev));
    // The end of a ?since= replay: live again, even when nothing was missed (no delta follows).
    s.on('replayed', () => m.adopt(copy(), []));
    s.on('error', (err: Error) => {
      // The client aborts a refused handshake itself; ws then reports that abort as a second error.
      if (this.stopped || /closed before the connection was established/.test(err.message)) return;
      if (UNAUTHORIZED.test(err.message)) this.unauthorized = true;
      // Each failed attempt reports an error before its close; keep the latest for the header.
      if (s.connection !== 'connected') {
        this.attempt++;
        m.setConnection(this.unauthorized ? 'unauthorized' : 'reconnecting', undefined, { attempt: this.attempt, error: err.message });
      }
    });
    s.on('connection', (state: string) => {
      if (this.stopped || state === 'stopped') return;
      if (state === 'connected') {
        this.attempt = 0;
        this.unauthorized = false;
        m.setConnection('connected');
      } else if (state === 'reconnecting') {
        m.setConnection(this.unauthorized ? 'unauthorized' : 'reconnecting', undefined, { attempt: Math.max(1, this.attempt), error: m.connection.error });
      }
    });
  }

  private later(fn: () => void, ms: number): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopped) fn();
    }, ms);
    this.timers.add(t);
  }

  private async fetchSpans(): Promise<void> {
    try {
      const res = await this.request<{ spans?: LegacySpan[] }>('GET', `/api/telemetry/spans?limit=${this.spansLimit}`);
      if (res.status !== 200) return;
      const body = res.body;
      const spans = Array.isArray(body.spans) ? body.spans : [];
      // The model keeps arrival order as "recent"; make sure the fill goes in oldest first.
      const first = parseTime(spans[0]?.start_time);
      const last = parseTime(spans[spans.length - 1]?.start_time);
      if (first !== null && last !== null && first > last) spans.reverse();
      this.model.addSpans(spans);
    } catch {
      // The stream or the next reconnect will bring spans; nothing to show for this.
    }
  }

  private async pollStats(): Promise<void> {
    if (this.stopped) return;
    try {
      const res = await this.request<StatsResponse>('GET', '/api/stats', undefined, this.statsTimeoutMs);
      if (res.status < 200 || res.status >= 300) throw new Error(`HTTP ${res.status}`);
      this.model.setStats(res.body);
    } catch (e) {
      if (!this.stopped) this.model.setStatsError(errorText(e));
    }
    this.later(() => void this.pollStats(), this.statsEveryMs);
  }

  /**
   * Not fetch (client/api.ts): the first fetch() loads undici and compiles its HTTP parser to
   * WebAssembly, which a long-running console then carries as megabytes of heap, code and malloc'd
   * memory for a poll every 2 s. node:http is part of node's start-up snapshot.
   */
  private request<T>(method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs = 5000): Promise<ApiResponse<T>> {
    return requestJson<T>(this.url, method, path, { token: this.token, body, timeoutMs });
  }

  private async post(path: string, body: unknown, done: string): Promise<ActionResult> {
    try {
      const res = await this.request<{ error?: string; message?: string }>('POST', path, body);
      if (res.status >= 200 && res.status < 300) return { ok: true, message: done };
      const detail = [res.body.error, res.body.message].filter(Boolean).join(': ') || JSON.stringify(res.body);
      return { ok: false, message: `HTTP ${res.status} ${detail}`.trim() };
    } catch (e) {
      return { ok: false, message: errorText(e) };
    }
  }
}

function errorText(e: unknown): string {
  if (e instanceof DaemonUnreachableError) return e.reason; // ECONNREFUSED & co.
  return e instanceof Error ? e.message : String(e);
}
