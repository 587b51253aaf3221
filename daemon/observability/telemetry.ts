// Where finished spans go besides OTLP: telemetry_spans.jsonl (legacy line format), a ring buffer of
// recent spans (GET /api/telemetry/spans), the WebSocket telemetry stream, and the entropy tracker's
// 'spans' section, so the telemetry component of the entropy is live. One-way: spans in, nothing out.
import type { WebSocket } from 'ws';
import type { EntropyTracker } from '../../shared/entropy.js';
import { formatLegacySpan } from '../../shared/legacy-spans.js';
import { CLOSE_RESYNC, type LegacySpan } from '../../shared/protocol.js';
import type { JsonObject } from '../../shared/types.js';
import type { Metrics } from '../metrics.js';
import type { SpanFile } from './span-file.js';

/** Bytes queued for one telemetry stream client before it counts as too slow and is dropped. */
export const MAX_CLIENT_BUFFERED = 1024 * 1024;
export const DEFAULT_RING_SIZE = 2000;

/**
 * Recent spans as their JSON text, oldest first, in one circular byte buffer: fixed memory and off the
 * JS heap, so thousands of spans a second cost the garbage collector nothing to keep (strings or
 * objects that live just long enough to be promoted would).
 */
export class SpanRing {
  private bytes: Buffer;
  private starts: Int32Array;
  private lens: Int32Array;
  private head = 0; // index of the oldest entry
  private size = 0;
  private writePos = 0;

  constructor(
    readonly capacity = DEFAULT_RING_SIZE,
    byteCapacity = capacity * 1024,
  ) {
    this.bytes = Buffer.allocUnsafe(byteCapacity);
    this.starts = new Int32Array(capacity);
    this.lens = new Int32Array(capacity);
  }

  push(spanJson: string): void {
    const n = Buffer.byteLength(spanJson);
    if (n > this.bytes.length / 4) return; // a monster span: not worth a quarter of the ring
    let w = this.writePos;
    if (w + n > this.bytes.length) {
      // Wrap: entries after the old write position are the oldest; they go first.
      while (this.size > 0 && this.starts[this.head] >= w) this.evict();
      w = 0;
    }
    // Then the entries the new bytes overwrite (the oldest ones left, in order).
    while (this.size > 0 && this.starts[this.head] >= w && this.starts[this.head] < w + n) this.evict();
    if (this.size === this.capacity) this.evict();
    this.bytes.write(spanJson, w, 'utf8');
    const i = (this.head + this.size) % this.capacity;
    this.starts[i] = w;
    this.lens[i] = n;
    this.size++;
    this.writePos = w + n;
  }

  private evict(): void {
    this.head = (this.head + 1) % this.capacity;
    this.size--;
  }

  /** The newest `limit` spans (as JSON text), oldest first. */
  recentText(limit: number): string[] {
    const out: string[] = [];
    for (let k = Math.max(0, this.size - limit); k < this.size; k++) {
      const i = (this.head + k) % this.capacity;
      out.push(this.bytes.toString('utf8', this.starts[i], this.starts[i] + this.lens[i]));
    }
    return out;
  }

  /** The newest `limit` spans matching `filter`, oldest first. */
  recent(limit: number, filter?: (s: JsonObject) => boolean): JsonObject[] {
    const out: JsonObject[] = [];
    for (let k = this.size - 1; k >= 0 && out.length < limit; k--) {
      const i = (this.head + k) % this.capacity;
      const s = JSON.parse(this.bytes.toString('utf8', this.starts[i], this.starts[i] + this.lens[i])) as JsonObject;
      if (!filter || filter(s)) out.push(s);
    }
    return out.reverse();
  }

  get length(): number {
    return this.size;
  }
}

interface StreamClient {
  socket: WebSocket;
}

export class TelemetrySink {
  readonly ring: SpanRing;
  private clients = new Set<StreamClient>();
  /** Spans seen since start (ours and other writers'). */
  count = 0;
  droppedClients = 0;

  constructor(
    private file: SpanFile,
    private entropy: EntropyTracker,
    private metrics: Metrics,
    private logger: { warn(obj: object, msg?: string): void },
    ringSize = DEFAULT_RING_SIZE,
  ) {
    this.ring = new SpanRing(ringSize);
  }

  /**
   * A span of ours, as its legacy line (formatLegacySpan), with its operation name and status:
   * appended to the file (unless `toFile` is false), kept, streamed, counted in the entropy.
   */
  push(line: string, operationName: string, status: string, toFile = true): void {
    // The entropy follows the file: a span the file could not take is not counted either.
    if (toFile && this.file.append(line, operationName, status)) this.entropy.add('spans', { operation_name: operationName, status });
    this.ring.push(line);
    this.count++;
    this.broadcast(line);
  }

  /** A span object of ours (formatted here). */
  pushSpan(span: LegacySpan): void {
    this.push(formatLegacySpan(span), span.operation_name, span.status);
  }

  /** Spans other writers appended to the file while we run (already in the file). */
  pushExternal(spans: JsonObject[]): void {
    for (const s of spans) {
      const text = JSON.stringify(s);
      this.entropy.add('spans', s);
      this.ring.push(text);
      this.count++;
      this.broadcast(text);
    }
  }

  /** Spans already in the file at startup: recent ones for the ring. */
  fill(recent: JsonObject[]): void {
    for (const s of recent) this.ring.push(JSON.stringify(s));
  }

  addClient(socket: WebSocket, backlog: number): void {
    const client: StreamClient = { socket };
    this.clients.add(client);
    this.gauge();
    socket.on('close', () => {
      this.clients.delete(client);
      this.gauge();
    });
    // Clients only listen; whatever they send is ignored.
    for (const s of this.ring.recentText(backlog)) this.send(client, `{"type":"span","span":${s}}`);
  }

  get clientCount(): number {
    return this.clients.size;
  }

  closeClients(code: number, reason: string): void {
    for (const c of this.clients) c.socket.close(code, reason);
  }

  private broadcast(spanJson: string): void {
    if (this.clients.size === 0) return;
    const text = `{"type":"span","span":${spanJson}}`; // serialized once for every client
    for (const c of this.clients) this.send(c, text);
  }

  private send(c: StreamClient, text: string): void {
    const ws = c.socket;
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > MAX_CLIENT_BUFFERED) {
      // Never buffer without bound: a viewer that cannot keep up reconnects (and may ask ?recent=N).
      this.droppedClients++;
      this.logger.warn({ buffered: ws.bufferedAmount }, 'telemetry stream client too slow; dropped');
      this.clients.delete(c);
      this.gauge();
      ws.close(CLOSE_RESYNC, 'too slow: reconnect');
      return;
    }
    ws.send(text);
  }

  private gauge(): void {
    this.metrics.websocketClients.set({ stream: 'telemetry' }, this.clients.size);
  }
}
