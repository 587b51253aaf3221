// The console's network layer. The coordination state comes through the shared stream client
// (shared/client/stream-client.ts: snapshot or ?since= replay, checksummed deltas, gap detection,
// resync, reconnect with backoff), the only door between the model and the daemon's state. Around it
// this module adds /api/stats polling, the telemetry stream and the two mutating calls. Everything it
// learns goes into the ConsoleModel; it never draws.
import WebSocket from 'ws';
import { StreamClient } from '../../client/stream-client.js';
import type { DeltaMessage, EventMessage, LegacySpan, StatsResponse } from '../../shared/protocol.js';
import { TELEMETRY_STREAM_PATH, toWsUrl } from '../../shared/protocol.js';
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

/** 250 ms doubling to 5 s, with a little jitter so several consoles do not reconnect in lockstep. */
export function backoff(attempt: number, min = 250, max = 5000): number {
  const base = Math.min(max, min * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.85 + Math.random() * 0.3));
}

const UNAUTHORIZED = /unauthori[sz]ed|\b40[13]\b/i;

export class Connection implements Actions {
  /** The coordination stream; exposed for tests and diagnostics. */
  readonly stream: StreamClient;
  private readonly url: string;
  private readonly model: ConsoleModel;
  private readonly token: string | undefined;
  private readonly statsEveryMs: number;
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly pingEveryMs: number;
  private readonly spansLimit: number;
  private stopped = false;
  private telemetry: WebSocket | null = null;
  private telemetryAttempt = 0;
  /** Failed stream attempts since the last successful connection (the header shows it). */
  private attempt = 0;
  private unauthorized = false;
  private timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(opts: ConnectionOptions) {
    this.url = opts.url.replace(/\/+$/, '');
    this.model = opts.model;
    this.token = opts.token || undefined;
    this.statsEveryMs = opts.statsEveryMs ?? 2000;
    this.minBackoffMs = opts.minBackoffMs ?? 250;
    this.maxBackoffMs = opts.maxBackoffMs ?? 5000;
    this.pingEveryMs = opts.pingEveryMs ?? 10_000;
    this.spansLimit = opts.spansLimit ?? 200;
    // An empty token means "none", not "fall back to the environment" (cli.tsx already did that).
    this.stream = new StreamClient({ url: this.url, token: this.token ?? null, minBackoffMs: this.minBackoffMs, maxBackoffMs: this.maxBackoffMs });
    this.wireStream();
  }

  start(): void {
    this.stream.start();
    this.openTelemetry();
    void this.pollStats();
  }

  stop(): void {
    this.stopped = true;
    this.stream.stop();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.telemetry?.terminate();
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

  private headers(): Record<string, string> {
    return this.token ? { authorization: `Bearer ${this.token}` } : {};
  }

  private later(fn: () => void, ms: number): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopped) fn();
    }, ms);
    this.timers.add(t);
  }

  private openTelemetry(): void {
    const ws = new WebSocket(toWsUrl(this.url, TELEMETRY_STREAM_PATH), { headers: this.headers(), handshakeTimeout: 5000 });
    this.telemetry = ws;
    let alive = true;
    let ping: ReturnType<typeof setInterval> | null = null;
    ws.on('open', () => {
      // Fill what was missed before (or while) the stream was down; the model drops repeats.
      void this.fetchSpans();
      ping = setInterval(() => {
        if (!alive) return ws.terminate(); // half-open TCP (a dropped SSH tunnel, a suspended laptop)
        alive = false;
        ws.ping();
      }, this.pingEveryMs);
    });
    ws.on('pong', () => { alive = true; });
    ws.on('message', (data) => {
      alive = true;
      this.telemetryAttempt = 0;
      let msg: { type?: string; span?: LegacySpan };
      try { msg = JSON.parse(data.toString()); } catch { return; } // a bad frame is not worth dropping the link
      if (msg?.type === 'span' && msg.span) this.model.addSpans([msg.span]);
    });
    ws.on('error', () => { /* 'close' follows */ });
    ws.on('close', () => {
      if (ping) clearInterval(ping);
      if (this.telemetry === ws) this.telemetry = null;
      this.later(() => this.openTelemetry(), backoff(++this.telemetryAttempt, this.minBackoffMs, this.maxBackoffMs));
    });
  }

  private async fetchSpans(): Promise<void> {
    try {
      const res = await fetch(`${this.url}/api/telemetry/spans?limit=${this.spansLimit}`, { headers: this.headers(), signal: AbortSignal.timeout(5000) });
      if (!res.ok) return;
      const body = (await res.json()) as { spans?: LegacySpan[] };
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
      const res = await fetch(`${this.url}/api/stats`, { headers: this.headers(), signal: AbortSignal.timeout(Math.max(500, this.statsEveryMs - 250)) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      this.model.setStats((await res.json()) as StatsResponse);
    } catch (e) {
      if (!this.stopped) this.model.setStatsError(errorText(e));
    }
    this.later(() => void this.pollStats(), this.statsEveryMs);
  }

  private async post(path: string, body: unknown, done: string): Promise<ActionResult> {
    try {
      const res = await fetch(this.url + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...this.headers() },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(5000),
      });
      if (res.ok) return { ok: true, message: done };
      const text = await res.text();
      let detail = text;
      try {
        const err = JSON.parse(text) as { error?: string; message?: string };
        detail = [err.error, err.message].filter(Boolean).join(': ') || text;
      } catch { /* not JSON: show the text */ }
      return { ok: false, message: `HTTP ${res.status} ${detail}`.trim() };
    } catch (e) {
      return { ok: false, message: errorText(e) };
    }
  }
}

function errorText(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = (e as Error & { cause?: { code?: string; message?: string } }).cause;
  // fetch reports "fetch failed" and hides ECONNREFUSED & co. in `cause`.
  return cause?.code ?? cause?.message ?? e.message;
}
