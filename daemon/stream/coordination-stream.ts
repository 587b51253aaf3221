// WS /api/coordination/stream: a snapshot (or the missed deltas with ?since=REV), then one delta per
// accepted change, in revision order, each with the state checksum after it. A client that does not
// keep up is dropped with CLOSE_RESYNC instead of growing the daemon's memory.
import type { WebSocket } from 'ws';
import { nowNs } from '../../shared/ids.js';
import { CLOSE_RESYNC, STREAM_PATH, type ClientMessage, type DeltaMessage, type EventMessage, type SnapshotMessage } from '../../shared/protocol.js';
import type { DaemonContext } from '../context.js';

/** Bytes queued for one client before it counts as too slow and is dropped. */
export const DEFAULT_MAX_BUFFERED = 8 * 1024 * 1024;

interface Client {
  socket: WebSocket;
  /** Highest revision sent; later deltas at or below it are skipped (snapshot raced a commit). */
  sent: number;
  /** False while a ?since replay is being read from disk: live deltas wait in `queue`. */
  live: boolean;
  queue: string[];
}

export function installCoordinationStream(ctx: DaemonContext, maxBuffered = DEFAULT_MAX_BUFFERED): void {
  const { app, store, metrics } = ctx;
  const clients = new Set<Client>();
  const gauge = () => metrics.websocketClients.set({ stream: 'coordination' }, clients.size);

  const send = (c: Client, text: string): boolean => {
    if (c.socket.readyState !== c.socket.OPEN) return false;
    if (c.socket.bufferedAmount > maxBuffered) {
      // Never buffer without bound: the client reconnects with ?since= or takes a snapshot.
      metrics.syncFailures.inc({ reason: 'slow_client' });
      ctx.logger.warn({ buffered: c.socket.bufferedAmount }, 'stream client too slow; dropped to resync');
      // The close frame queues behind what is buffered (bounded); ws gives up on the handshake
      // after its close timeout, so the socket is freed even if the client never reads again.
      c.socket.close(CLOSE_RESYNC, 'resync: client fell behind');
      clients.delete(c);
      gauge();
      return false;
    }
    c.socket.send(text);
    return true;
  };

  const snapshot = (c: Client): void => {
    // state, revision and checksum are read in one synchronous step, so they belong together.
    const msg: SnapshotMessage = { type: 'snapshot', revision: store.revision, state: store.state(), checksum: store.checksum() };
    c.sent = msg.revision;
    send(c, JSON.stringify(msg));
  };

  store.on('commit', (delta: DeltaMessage) => {
    if (clients.size === 0) return;
    const text = JSON.stringify(delta); // serialized once for every client
    for (const c of clients) {
      if (delta.revision <= c.sent) continue;
      if (!c.live) c.queue.push(text);
      else if (send(c, text)) c.sent = delta.revision;
    }
  });

  ctx.events.on('event', (event: string, detail: Record<string, unknown>) => {
    const text = JSON.stringify({ type: 'event', event, timestamp_ns: nowNs().toString(), detail } satisfies EventMessage);
    for (const c of clients) if (c.live) send(c, text);
  });

  app.get(STREAM_PATH, { websocket: true }, (socket: WebSocket, req) => {
    const client: Client = { socket, sent: 0, live: true, queue: [] };
    clients.add(client);
    gauge();
    socket.on('close', () => {
      clients.delete(client);
      gauge();
    });
    socket.on('message', (raw) => {
      let msg: ClientMessage;
      try {
        msg = JSON.parse(raw.toString()) as ClientMessage;
      } catch {
        return; // ignore garbage from clients; it changes nothing
      }
      if (msg.type === 'resync') {
        metrics.syncFailures.inc({ reason: msg.reason === 'gap' ? 'gap' : 'checksum' });
        ctx.logger.info({ reason: msg.reason, revision: msg.revision }, 'stream client asked for a resync');
        snapshot(client);
      }
    });
    const sinceRaw = (req.query as { since?: string }).since;
    const since = sinceRaw !== undefined && /^\d+$/.test(sinceRaw) ? Number(sinceRaw) : null;
    if (since === null) return snapshot(client);
    client.live = false;
    void store.replaySince(since).then((deltas) => {
      if (deltas === null) snapshot(client);
      else {
        for (const d of deltas) if (d.revision > client.sent && send(client, JSON.stringify(d))) client.sent = d.revision;
        send(client, JSON.stringify({ type: 'replayed', from: since, to: client.sent || since }));
        if (client.sent === 0) client.sent = since;
      }
      for (const text of client.queue) {
        const rev = Number(/"revision":(\d+)/.exec(text)?.[1] ?? 0);
        if (rev > client.sent && send(client, text)) client.sent = rev;
      }
      client.queue = [];
      client.live = true;
    });
  });

  ctx.stats.sync = () => ({ clients: clients.size, sync_failures: 0, last_file_error: store.problems()[0]?.error ?? null });
}
