// The stream client: keeps a local copy of the daemon's state from WS /api/coordination/stream,
// verifies every checksum against its own copy (the seed's validate_state_consistency), detects
// revision gaps, resyncs by itself (and counts it), and reconnects with backoff, resuming with
// ?since=<revision> so a restart of the daemon costs no full snapshot when the journal allows.
import { EventEmitter } from 'node:events';
import { ReconnectingSocket } from './socket.js';
import { StateDigest } from '../shared/checksum.js';
import { StateReplica } from '../shared/replica.js';
import { CLOSE_RESYNC, CLOSE_UNAUTHORIZED, STREAM_PATH, toWsUrl, type DeltaMessage, type ServerMessage, type SnapshotMessage } from '../shared/protocol.js';
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
  private readonly socket: ReconnectingSocket;
  private awaitingSnapshot = false;
  readonly url: string;
  private token: string | null;

  constructor(private opts: StreamClientOptions = {}) {
    super();
    this.url = resolveUrl(opts.url);
    this.token = resolveToken(opts.token);
    this.socket = this.createSocket();
  }

  start(): this {
    this.socket.start();
    return this;
  }

  stop(): void {
    this.socket.stop();
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

  private createSocket(): ReconnectingSocket {
    // Resume with ?since= only from a verified copy; a pending resync needs a snapshot.
    const url = () => toWsUrl(this.url, STREAM_PATH) + (this.revision > 0 && this.snapshots > 0 && !this.awaitingSnapshot ? `?since=${this.revision}` : '');
    const socket = new ReconnectingSocket({
      url,
      token: this.token,
      minBackoffMs: this.opts.minBackoffMs,
      maxBackoffMs: this.opts.maxBackoffMs,
      pingMs: this.opts.pingMs,
    });
    socket.on('open', () => this.setConnection('connected'));
    socket.on('message', (text: string) => {
      let msg: ServerMessage;
      try {
        msg = JSON.parse(text) as ServerMessage;
      } catch (err) {
        this.fail(err as Error);
        return;
      }
      this.handle(msg);
    });
    socket.on('close', (code: number) => {
      if (code === CLOSE_UNAUTHORIZED) this.fail(new Error('unauthorized: set --token or AI_PROCESSOR_TOKEN'));
      if (code === CLOSE_RESYNC) this.countResync('slow');
      this.setConnection('reconnecting');
    });
    socket.on('refused', (status: number) => this.fail(new Error(`stream refused: HTTP ${status}`)));
    socket.on('error', (err: Error) => this.fail(err));
    return socket;
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
        this.emit('event', msg);
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
    this.socket.send(JSON.stringify({ type: 'resync', reason, revision: this.revision }));
  }
}
