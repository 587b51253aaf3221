// The telemetry stream client: spans as the daemon records them, from WS /api/telemetry/stream, on
// the same reconnecting socket as the coordination stream. What was missed while it was down comes
// from GET /api/telemetry/spans (the 'open' event says when to ask).
import { EventEmitter } from 'node:events';
import { TELEMETRY_STREAM_PATH, toWsUrl, type LegacySpan } from '../shared/protocol.js';
import { ReconnectingSocket } from './socket.js';

export interface TelemetryClientOptions {
  /** Daemon base URL, resolved. */
  url: string;
  token: string | null;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Liveness ping period: a peer that does not pong within it is dropped. */
  pingMs?: number;
}

/** Events: 'open' (connected: fill the gap), 'span' (LegacySpan). */
export class TelemetryClient extends EventEmitter {
  private readonly socket: ReconnectingSocket;

  constructor(opts: TelemetryClientOptions) {
    super();
    this.socket = new ReconnectingSocket({
      url: () => toWsUrl(opts.url, TELEMETRY_STREAM_PATH),
      token: opts.token,
      minBackoffMs: opts.minBackoffMs,
      maxBackoffMs: opts.maxBackoffMs,
      pingMs: opts.pingMs ?? 10_000,
      handshakeTimeoutMs: 5000,
      jitter: true,
    });
    this.socket.on('open', () => this.emit('open'));
    this.socket.on('message', (text: string) => {
      let msg: { type?: string; span?: LegacySpan };
      try {
        msg = JSON.parse(text);
      } catch {
        return; // a bad frame is not worth dropping the link
      }
      if (msg?.type === 'span' && msg.span) this.emit('span', msg.span);
    });
    this.socket.on('error', () => {
      /* 'close' follows, then a reconnect */
    });
  }

  start(): this {
    this.socket.start();
    return this;
  }

  stop(): void {
    this.socket.stop();
  }
}
