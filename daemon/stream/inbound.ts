// What a stream client sends is checked before anything reads it. A binary frame, a text frame that
// is not a ClientMessage, or a client that keeps sending faster than any client needs is answered
// with a close code; a handler that throws closes that client only. Nothing the client sent is logged.
import type { RawData, WebSocket } from 'ws';
import {
  CLOSE_INTERNAL_ERROR,
  CLOSE_INVALID_PAYLOAD,
  CLOSE_POLICY_VIOLATION,
  CLOSE_UNSUPPORTED_DATA,
  parseClientMessage,
  type ClientMessage,
} from '../../shared/protocol.js';
import type { Logger } from '../store/memory-state.js';

export type StreamName = 'coordination' | 'telemetry';
export type FrameRejection = 'binary' | 'invalid' | 'rate_limited';
export const FRAME_REJECTIONS: readonly FrameRejection[] = ['binary', 'invalid', 'rate_limited'];

/** Frames per second a client may send (a resync after a gap or a mismatch is rare), and the burst. */
export const CLIENT_FRAMES_PER_S = 5;
export const CLIENT_FRAME_BURST = 10;
/** Frames over the rate, without a second's pause, after which the client is closed for flooding. */
export const FLOOD_CLOSE_AFTER = 50;

/** A token bucket: `rate` tokens a second, at most `burst` saved up. */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.at = now();
  }

  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.at) / 1000) * this.rate);
    this.at = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export interface InboundOptions {
  stream: StreamName;
  logger: Logger;
  /** Counts a refused or ignored frame (the metric). */
  rejected: (why: FrameRejection) => void;
  /** Handles a valid message; null when the stream takes none (text frames are then ignored). */
  onMessage: ((msg: ClientMessage) => void) | null;
  now?: () => number;
}

const textOf = (data: RawData): string =>
  Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data).toString('utf8');

/** Guards one client's inbound frames (call once per connection). */
export function guardInbound(socket: WebSocket, opts: InboundOptions): void {
  const now = opts.now ?? Date.now;
  const bucket = new TokenBucket(CLIENT_FRAMES_PER_S, CLIENT_FRAME_BURST, now);
  const log = opts.logger;
  let excess = 0;
  let lastExcessAt = 0;
  const refuse = (why: FrameRejection, code: number, reason: string, bytes: number): void => {
    opts.rejected(why);
    log.warn({ stream: opts.stream, bytes, close: code, why: reason }, 'stream client sent a frame it may not; closed');
    socket.close(code, reason);
  };
  socket.on('message', (data: RawData, isBinary: boolean) => {
    try {
      if (socket.readyState !== socket.OPEN) return; // closing: what it still sends changes nothing
      const bytes = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength;
      const t = now();
      if (excess > 0 && t - lastExcessAt > 1000) excess = 0; // it kept to the rate again
      if (!bucket.take()) {
        opts.rejected('rate_limited');
        lastExcessAt = t;
        if (excess++ === 0) log.warn({ stream: opts.stream }, 'stream client sends faster than allowed; its frames are ignored');
        if (excess >= FLOOD_CLOSE_AFTER) {
          log.warn({ stream: opts.stream, ignored: excess, close: CLOSE_POLICY_VIOLATION }, 'stream client keeps flooding; closed');
          socket.close(CLOSE_POLICY_VIOLATION, 'too many messages');
        }
        return;
      }
      if (isBinary) return refuse('binary', CLOSE_UNSUPPORTED_DATA, 'binary frames are not accepted: send JSON text', bytes);
      if (!opts.onMessage) return; // a stream that only sends: text frames are ignored
      const parsed = parseClientMessage(textOf(data));
      if (!parsed.ok) return refuse('invalid', CLOSE_INVALID_PAYLOAD, `invalid message: ${parsed.error}`, bytes);
      opts.onMessage(parsed.value);
    } catch (err) {
      log.error({ stream: opts.stream, error: (err as Error).message }, 'stream client handler failed; that client is closed');
      socket.close(CLOSE_INTERNAL_ERROR, 'internal error');
    }
  });
}
