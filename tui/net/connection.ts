// The console's only door to the daemon: the coordination stream (snapshot + deltas, resumed with
// ?since= after a drop), /api/stats polling, the telemetry stream, and the two mutating calls.
// Everything it learns goes into the ConsoleModel; it never draws. The coordination part may later
// be replaced by shared/client/stream-client.ts, which feeds the same model methods.
import WebSocket from 'ws';
import type { LegacySpan, StatsResponse } from '../../shared/protocol.js';
import { CLOSE_UNAUTHORIZED, STREAM_PATH, TELEMETRY_STREAM_PATH, toWsUrl } from '../../shared/protocol.js';
import type { ActionResult, Actions } from '../model/actions.js';
import type { ConsoleModel } from '../model/console-model.js';
import { parseTime } from '../model/selectors.js';

export interface ConnectionOptions {
  /** Daemon base URL (http://host:port), already resolved. */
  url: string;
  token?: string;
  model: ConsoleModel;
  statsEveryMs?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Liveness ping period: a peer that does not pong within it is dropped (half-open TCP). */
  pingEveryMs?: number;
  spansLimit?: number;
}

/** 250 ms doubling to 5 s, with a little jitter so several consoles do not reconnect in lockstep. */
export function backoff(attempt: number, min = 250, max = 5000): number {
  const base = Math.min(max, min * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.85 + Math.random() * 0.3));
}

export class Connection implements Actions {
  private readonly url: string;
  private readonly model: ConsoleModel;
  private readonly token: string | undefined;
  private readonly statsEveryMs: number;
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly pingEveryMs: number;
  private readonly spansLimit: number;
  private stopped = false;
  private stream: WebSocket | null = null;
  private telemetry: WebSocket | null = null;
  private attempt = 0;
  private telemetryAttempt = 0;
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
    this.model.requestResync = (reason, revision) => this.send({ type: 'resync', reason, revision });
  }

  start(): void {
    this.openStream();
    this.openTelemetry();
    void this.pollStats();
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const ws of [this.stream, this.telemetry]) ws?.terminate();
  }

  release(workId: string, agentId: string): Promise<ActionResult> {
    return this.post('/api/coordination/release', { work_id: workId, agent_id: agentId, force: true }, `released ${workId}`);
  }

  markOffline(agentId: string): Promise<ActionResult> {
    return this.post(`/api/agents/${encodeURIComponent(agentId)}/heartbeat`, { status: 'offline' }, `${agentId} marked offline`);
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

  private send(msg: unknown): void {
    if (this.stream?.readyState === WebSocket.OPEN) this.stream.send(JSON.stringify(msg));
  }

  /** Opens a socket with ping-based liveness; `onGone` runs once when it closes for any reason. */
  private socket(url: string, onMessage: (msg: unknown) => void, onOpen: () => void, onGone: (code: number, error: string | null) => void): WebSocket {
    const ws = new WebSocket(url, { headers: this.headers(), handshakeTimeout: 5000 });
    let error: string | null = null;
    let alive = true;
    let ping: ReturnType<typeof setInterval> | null = null;
    ws.on('open', () => {
      onOpen();
      ping = setInterval(() => {
        if (!alive) return ws.terminate();
        alive = false;
        ws.ping();
      }, this.pingEveryMs);
    });
    ws.on('pong', () => { alive = true; });
    ws.on('message', (data) => {
      alive = true;
      let msg: unknown;
      try { msg = JSON.parse(data.toString()); } catch { return; } // a bad frame is not worth dropping the link
      onMessage(msg);
    });
    ws.on('error', (e) => { error = e.message; }); // 'close' follows
    ws.on('close', (code) => {
      if (ping) clearInterval(ping);
      onGone(code, error);
    });
    return ws;
  }

  private openStream(): void {
    const m = this.model;
    // Resume only from a state we know is the daemon's; otherwise ask for a fresh snapshot.
    const since = m.hasSnapshot && m.verified ? `?since=${m.revision}` : '';
    this.stream = this.socket(toWsUrl(this.url, STREAM_PATH) + since, (msg) => {
      this.attempt = 0;
      m.applyMessage(msg);
    }, () => {
      this.unauthorized = false;
      m.setConnection('connected');
    }, (code, error) => {
      this.stream = null;
      if (this.stopped) return;
      this.unauthorized = code === CLOSE_UNAUTHORIZED || /\b40[13]\b/.test(error ?? '');
      this.attempt++;
      m.setConnection(this.unauthorized ? 'unauthorized' : 'reconnecting', undefined, { attempt: this.attempt, error });
      this.later(() => this.openStream(), this.unauthorized ? this.maxBackoffMs : backoff(this.attempt, this.minBackoffMs, this.maxBackoffMs));
    });
  }

  private openTelemetry(): void {
    this.telemetry = this.socket(toWsUrl(this.url, TELEMETRY_STREAM_PATH), (msg) => {
      this.telemetryAttempt = 0;
      const m = msg as { type?: string; span?: LegacySpan };
      if (m?.type === 'span' && m.span) this.model.addSpans([m.span]);
    }, () => {
      // Fill what was missed before (or while) the stream was down; the model drops repeats.
      void this.fetchSpans();
    }, () => {
      this.telemetry = null;
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
