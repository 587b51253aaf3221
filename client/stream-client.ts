// The stream client: keeps a local copy of the daemon's state from WS /api/coordination/stream,
// verifies every checksum against its own copy (the seed's validate_state_consistency), detects
// revision gaps, resyncs by itself (and counts it), and reconnects with backoff, resuming with
// ?since=<revision> so a restart of the daemon costs no full snapshot when the journal allows.
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import { StateDigest } from '../shared/checksum.js';
import { StateReplica } from '../shared/replica.js';
import { CLOSE_RESYNC, CLOSE_UNAUTHORIZED, STREAM_PATH, toWsUrl, type DeltaMessage, type EventMessage, type ServerMessage, type SnapshotMessage } from '../shared/protocol.js';
import { resolveToken, resolveUrl } from './config.js';
import { emptyState, type CoordinationState } from '../shared/types.js';

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'stopped';

export interface StreamClientOptions {
  url?: string;
  token?: string | null;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Interval of liveness pings; a missed pong ends the connection (then it reconnects). */
  pingMs?: number;
}

/**
 * Events: 'snapshot' (msg), 'delta' (msg), 'change' (after any state change), 'connection' (state),
 * 'resync' (reason), 'event' (EventMessage), 'replayed' ({from, to}), 'error' (Error).
 */
export class StreamClient extends EventEmitter {
  state: CoordinationState = emptyState();
  revision = 0;
  /** The checksum of the local copy, as computed here. */
  checksum = new StateDigest().hex();
  /** True when the last checksum from the daemon matched the local copy. */
  verified = false;
  resyncs = 0;
  snapshots = 0;
  connection: ConnectionState = 'connecting';
  /** When the connection was last lost (ms since epoch), while not connected. */
  lostAt: number | null = null;
  private replica = new StateReplica();
  private ws: WebSocket | null = null;
  private backoff: number;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private awaitingSnapshot = false;
  readonly url: string;
  private token: string | null;

  constructor(private opts: StreamClientOptions = {}) {
    super();
    this.url = resolveUrl(opts.url);
    this.token = resolveToken(opts.token);
    this.backoff = opts.minBackoffMs ?? 250;
  }

  start(): this {
    this.stopped = false;
    this.connect();
    return this;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.ws?.close(1000);
    this.ws = null;
    this.setConnection('stopped');
  }

  /** Resolves once the local copy is at least at `revision` (or rejects after timeoutMs). */
  waitForRevision(revision: number, timeoutMs = 10_000): Promise<void> {
    if (this.revision >= revision && this.verified) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.off('change', check);
        reject(new Error(`stream client at revision ${this.revision}, waited for ${revision}`));
      }, timeoutMs);
      const check = () => {
        if (this.revision >= revision && this.verified) {
          clearTimeout(t);
          this.off('change', check);
          resolve();
        }
      };
      this.on('change', check);
    });
  }

  private setConnection(state: ConnectionState): void {
    if (state === this.connection) return;
    this.connection = state;
    if (state === 'connected') this.lostAt = null;
    else if (this.lostAt === null && state !== 'connecting') this.lostAt = Date.now();
    this.emit('connection', state);
  }

  private connect(): void {
    // Resume with ?since= only from a verified copy; a pending resync needs a snapshot.
    const since = this.revision > 0 && this.snapshots > 0 && !this.awaitingSnapshot ? `?since=${this.revision}` : '';
    const headers = this.token ? { authorization: `Bearer ${this.token}` } : undefined;
    const ws = new WebSocket(toWsUrl(this.url, STREAM_PATH) + since, { headers });
    this.ws = ws;
    let alive = true;
    let pinger: NodeJS.Timeout | null = null;
    ws.on('pong', () => (alive = true));
    ws.on('open', () => {
      this.backoff = this.opts.minBackoffMs ?? 250;
      this.setConnection('connected');
      // A silently dropped link (an SSH tunnel, a NAT) is only noticed by asking.
      pinger = setInterval(() => {
        if (!alive) return ws.terminate();
        alive = false;
        ws.ping();
      }, this.opts.pingMs ?? 15_000);
      pinger.unref();
    });
    ws.on('message', (data) => {
      let msg: ServerMessage;
      try {
        msg = JSON.parse(data.toString()) as ServerMessage;
      } catch (err) {
        this.fail(err as Error);
        return;
      }
      this.handle(msg);
    });
    ws.on('close', (code) => {
      if (pinger) clearInterval(pinger);
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      if (code === CLOSE_UNAUTHORIZED) this.fail(new Error('unauthorized: set --token or AI_PROCESSOR_TOKEN'));
      if (code === CLOSE_RESYNC) this.countResync('slow');
      this.setConnection('reconnecting');
      this.timer = setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, this.opts.maxBackoffMs ?? 5000);
    });
    ws.on('unexpected-response', (_req, res) => {
      this.fail(new Error(`stream refused: HTTP ${res.statusCode}`));
      ws.terminate();
    });
    ws.on('error', (err) => this.fail(err));
  }

  private handle(msg: ServerMessage): void {
    switch (msg.type) {
      case 'snapshot':
        return this.onSnapshot(msg);
      case 'delta':
        return this.onDelta(msg);
      case 'replayed':
        this.emit('replayed', { from: msg.from, to: msg.to });
        return;
      case 'event':
        this.emit('event', msg as EventMessage);
        return;
    }
  }

  private onSnapshot(msg: SnapshotMessage): void {
    this.verified = this.replica.snapshot(msg);
    this.state = this.replica.state;
    this.revision = this.replica.revision;
    this.snapshots++;
    this.awaitingSnapshot = false;
    this.checksum = this.replica.checksum();
    this.emit('snapshot', msg);
    if (!this.verified) this.requestResync('checksum');
    this.emit('change');
  }

  private onDelta(msg: DeltaMessage): void {
    if (this.awaitingSnapshot) return; // a snapshot is on its way
    const outcome = this.replica.delta(msg);
    if (outcome === 'duplicate') return;
    if (outcome === 'gap') return this.requestResync('gap');
    this.revision = this.replica.revision;
    this.checksum = this.replica.checksum();
    this.verified = outcome === 'applied';
    this.emit('delta', msg);
    if (!this.verified) this.requestResync('checksum');
    this.emit('change');
  }

  /** 'error' events are informational (it reconnects by itself): never thrown when nobody listens. */
  private fail(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  private countResync(reason: string): void {
    this.resyncs++;
    this.emit('resync', reason);
  }

  /** Asks the daemon for a fresh snapshot (after a gap or a checksum mismatch). */
  requestResync(reason: 'gap' | 'checksum' | 'manual'): void {
    this.verified = false;
    this.awaitingSnapshot = true;
    this.countResync(reason);
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: 'resync', reason, revision: this.revision }));
  }
}
