// A WebSocket that stays connected: liveness pings (a silently dropped link, an SSH tunnel or a
// suspended laptop, is only noticed by asking) and reconnects with backoff. The one such loop of the
// client layer: the coordination stream client and the telemetry client both run on it.
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import { wsText } from './ws-text.js';

export interface SocketOptions {
  /** The URL of each attempt (the coordination stream resumes with ?since= from where it is). */
  url: () => string;
  token: string | null;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Interval of liveness pings; a missed pong ends the connection (then it reconnects). */
  pingMs?: number;
  handshakeTimeoutMs?: number;
  /** Spread the waits (±15 %) so several consoles do not reconnect in lockstep. */
  jitter?: boolean;
}

/** min doubling to max per failed attempt (attempt 1 waits min), optionally with ±15 % jitter. */
export function backoff(attempt: number, min = 250, max = 5000, jitter = true): number {
  const base = Math.min(max, min * 2 ** Math.max(0, attempt - 1));
  return jitter ? Math.round(base * (0.85 + Math.random() * 0.3)) : base;
}

/**
 * Events: 'open', 'message' (text), 'close' (code; a reconnect is scheduled unless stopped),
 * 'refused' (HTTP status of a refused handshake), 'error' (Error).
 */
export class ReconnectingSocket extends EventEmitter {
  private ws: WebSocket | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private attempt = 0;
  private stopped = true;

  constructor(private readonly opts: SocketOptions) {
    super();
  }

  get open(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  start(): this {
    this.stopped = false;
    this.connect();
    return this;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000);
  }

  /** Ends the connection at once (a reconnect follows unless stopped). */
  terminate(): void {
    this.ws?.terminate();
  }

  send(text: string): boolean {
    if (!this.open) return false;
    this.ws!.send(text);
    return true;
  }

  private connect(): void {
    const headers = this.opts.token ? { authorization: `Bearer ${this.opts.token}` } : undefined;
    const ws = new WebSocket(this.opts.url(), { headers, handshakeTimeout: this.opts.handshakeTimeoutMs });
    this.ws = ws;
    let alive = true;
    let pinger: ReturnType<typeof setInterval> | null = null;
    ws.on('pong', () => (alive = true));
    ws.on('open', () => {
      this.attempt = 0; // the link works: the next failure starts the backoff from the minimum
      pinger = setInterval(() => {
        if (!alive) return ws.terminate();
        alive = false;
        ws.ping();
      }, this.opts.pingMs ?? 15_000);
      pinger.unref();
      this.emit('open');
    });
    ws.on('message', (data) => {
      alive = true;
      this.emit('message', wsText(data));
    });
    ws.on('close', (code) => {
      if (pinger) clearInterval(pinger);
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      this.emit('close', code);
      if (this.stopped) return; // a 'close' listener may stop us
      this.timer = setTimeout(
        () => this.connect(),
        backoff(++this.attempt, this.opts.minBackoffMs ?? 250, this.opts.maxBackoffMs ?? 5000, this.opts.jitter ?? false),
      );
    });
    ws.on('unexpected-response', (_req, res) => {
      this.emit('refused', res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('error', (err) => {
      if (this.listenerCount('error') > 0) this.emit('error', err);
    });
  }
}
