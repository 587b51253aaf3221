// WS /api/coordination/stream: a snapshot (or the missed deltas with ?since=REV), then one delta per
// accepted change, in revision order, each with the state checksum after it. A client that does not
// keep up is dropped with CLOSE_RESYNC instead of growing the daemon's memory. Clients are capped
// (config max_stream_clients: over it the upgrade gets 503) and at most SNAPSHOT_SLOTS snapshots are
// written at once, so a crowd connecting together does not starve the requests.
import type { WebSocket } from 'ws';
import { nowNs } from '../../shared/ids.js';
import { CLOSE_RESYNC, CLOSE_TRY_AGAIN_LATER, STREAM_PATH, type ClientMessage, type EventMessage } from '../../shared/protocol.js';
import type { DaemonContext } from '../context.js';
import type { StatsPart } from '../http/stats-parts.js';
import { captureState, stateJsonChunks } from '../store/state-json.js';
import { guardInbound } from './inbound.js';
import { Slots } from './slots.js';

/** Bytes queued for one client before it counts as too slow and is dropped. */
export const DEFAULT_MAX_BUFFERED = 8 * 1024 * 1024;

/** A snapshot is written in fragments while the client's send buffer stays under this. */
const SNAPSHOT_BUFFERED = 1024 * 1024;
/** A client that does not take a snapshot's next fragment within this long is dropped. */
const SNAPSHOT_STALL_MS = 30_000;
/** Snapshots being written at once; the other clients wait for a slot (their deltas are not queued meanwhile). */
export const SNAPSHOT_SLOTS = 4;

interface Client {
  socket: WebSocket;
  /** Highest revision sent; later deltas at or below it are skipped (snapshot raced a commit). */
  sent: number;
  /** False while a ?since replay is read from disk or a snapshot is written: live deltas wait in `queue`. */
  live: boolean;
  queue: string[];
  queuedBytes: number;
  /** A resync asked for while not live: a snapshot follows what is under way. */
  snapshotNext: boolean;
  /** Waiting for a snapshot slot: the snapshot will hold every change until then, so none is queued. */
  awaitingSnapshot: boolean;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function installCoordinationStream(ctx: DaemonContext, maxBuffered = DEFAULT_MAX_BUFFERED): { sync: StatsPart<'sync'> } {
  const { app, store, metrics } = ctx;
  const clients = new Set<Client>();
  const slots = new Slots(SNAPSHOT_SLOTS);
  const gauge = () => metrics.websocketClients.set({ stream: 'coordination' }, clients.size);

  const drop = (c: Client, why: string): void => {
    ctx.syncFailures.record('slow_client');
    ctx.logger.warn({ buffered: c.socket.bufferedAmount, queued: c.queuedBytes }, why);
    c.socket.close(CLOSE_RESYNC, 'resync: client fell behind');
    clients.delete(c);
    gauge();
  };

  const send = (c: Client, text: string): boolean => {
    if (c.socket.readyState !== c.socket.OPEN) return false;
    if (c.socket.bufferedAmount > maxBuffered) {
      // Never buffer without bound: the client reconnects with ?since= or takes a snapshot. The
      // close frame queues behind what is buffered (bounded); ws gives up on the handshake after
      // its close timeout, so the socket is freed even if the client never reads again.
      drop(c, 'stream client too slow; dropped to resync');
      return false;
    }
    c.socket.send(text);
    return true;
  };

  /** Sends what waited while the client was not live, in order, and makes it live (or snapshots again). */
  const goLive = (c: Client): void => {
    for (const text of c.queue) {
      const rev = Number(/"revision":(\d+)/.exec(text)?.[1] ?? 0);
      if (rev > c.sent && send(c, text)) c.sent = rev;
    }
    c.queue = [];
    c.queuedBytes = 0;
    c.live = true;
    if (c.snapshotNext) {
      c.snapshotNext = false;
      snapshot(c);
    }
  };

  /**
   * The state at one revision, as one message written in fragments (the state's JSON is produced
   * a chunk at a time, state-json.ts): a snapshot of 50k records no longer holds the event loop for
   * ~200 ms per connecting console. Deltas committed meanwhile wait in the client's queue.
   */
  const snapshot = (c: Client): void => {
    if (!c.live) {
      c.snapshotNext = true; // a replay or a snapshot is under way: this one follows it
      return;
    }
    c.live = false;
    c.awaitingSnapshot = true;
    c.queue = [];
    c.queuedBytes = 0;
    void (async () => {
      const release = await slots.acquire();
      try {
        c.awaitingSnapshot = false;
        const ws = c.socket;
        if (ws.readyState !== ws.OPEN) return;
        // Revision, checksum and records are taken in one synchronous step, so they belong together.
        const capture = captureState(store.tables, store.revision);
        c.sent = capture.revision;
        let pending = `{"type":"snapshot","revision":${capture.revision},"checksum":"${capture.checksum}","state":`;
        for await (const chunk of stateJsonChunks(capture)) {
          for (let waited = 0; ws.bufferedAmount > SNAPSHOT_BUFFERED && ws.readyState === ws.OPEN; waited += 5) {
            if (waited > SNAPSHOT_STALL_MS) return drop(c, 'stream client does not take its snapshot; dropped');
            await sleep(5);
          }
          if (ws.readyState !== ws.OPEN) return;
          ws.send(pending, { fin: false });
          pending = chunk;
        }
        if (ws.readyState !== ws.OPEN) return;
        ws.send(pending + '}', { fin: true });
        goLive(c);
      } finally {
        release();
      }
    })().catch((err: Error) => {
      ctx.logger.error({ error: err.message }, 'stream snapshot failed');
      c.socket.close(CLOSE_RESYNC, 'resync: snapshot failed');
    });
  };

  store.on('commit', (delta) => {
    if (clients.size === 0) return;
    const text = JSON.stringify(delta); // serialized once for every client
    for (const c of clients) {
      if (c.awaitingSnapshot || delta.revision <= c.sent) continue;
      if (c.live) {
        if (send(c, text)) c.sent = delta.revision;
        continue;
      }
      c.queue.push(text);
      c.queuedBytes += text.length;
      if (c.queuedBytes > maxBuffered) drop(c, 'stream client fell behind while catching up; dropped to resync');
    }
  });

  ctx.events.on('event', (event, detail) => {
    const text = JSON.stringify({ type: 'event', event, timestamp_ns: nowNs().toString(), detail } satisfies EventMessage);
    for (const c of clients) if (c.live) send(c, text);
  });

  const full = (): boolean => clients.size >= ctx.config.max_stream_clients;
  const tooMany = () => ({
    error: 'too_many_clients',
    message: `The coordination stream has ${clients.size} clients (limit ${ctx.config.max_stream_clients}): retry later`,
  });

  const onMessage = (client: Client, msg: ClientMessage): void => {
    if (msg.type !== 'resync') return;
    ctx.syncFailures.record(msg.reason === 'gap' ? 'gap' : 'checksum');
    // Only validated fields: an enum and a number (parseClientMessage keeps nothing else).
    ctx.logger.info({ reason: msg.reason, revision: msg.revision }, 'stream client asked for a resync');
    snapshot(client);
  };

  const preHandler = async (_req: unknown, reply: { code(n: number): { send(b: unknown): unknown } }) => {
    // Refused before the upgrade: an HTTP 503 costs the daemon nothing more.
    if (full()) return reply.code(503).send(tooMany());
  };

  app.get(STREAM_PATH, { websocket: true, preHandler }, (socket: WebSocket, req) => {
    if (full()) {
      // Upgrades that passed the check together: the ones over the cap are closed at once.
      socket.close(CLOSE_TRY_AGAIN_LATER, 'too many stream clients: retry later');
      return;
    }
    const client: Client = { socket, sent: 0, live: true, queue: [], queuedBytes: 0, snapshotNext: false, awaitingSnapshot: false };
    clients.add(client);
    gauge();
    socket.on('close', () => {
      clients.delete(client);
      gauge();
    });
    guardInbound(socket, {
      stream: 'coordination',
      logger: ctx.logger,
      rejected: (why) => metrics.framesRejected.inc({ stream: 'coordination', reason: why }),
      onMessage: (msg) => onMessage(client, msg),
    });
    const sinceRaw = (req.query as { since?: string }).since;
    const since = sinceRaw !== undefined && /^\d+$/.test(sinceRaw) ? Number(sinceRaw) : null;
    if (since === null) return snapshot(client);
    client.live = false;
    void store
      .replaySince(since)
      .then(async (deltas) => {
        if (deltas === null) {
          // Too far behind for a replay: a snapshot instead (it supersedes what was queued).
          client.queue = [];
          client.queuedBytes = 0;
          client.live = true;
          client.snapshotNext = false;
          return snapshot(client);
        }
        // Paced like a snapshot: a replay read from the journal can be larger than maxBuffered, and
        // sending it in one loop would drop the client it is meant for.
        for (const d of deltas) {
          if (d.revision <= client.sent) continue;
          for (let waited = 0; socket.bufferedAmount > SNAPSHOT_BUFFERED && socket.readyState === socket.OPEN; waited += 5) {
            if (waited > SNAPSHOT_STALL_MS) return drop(client, 'stream client does not take its replay; dropped');
            await sleep(5);
          }
          if (!send(client, JSON.stringify(d))) return;
          client.sent = d.revision;
        }
        if (!send(client, JSON.stringify({ type: 'replayed', from: since, to: client.sent || since }))) return;
        if (client.sent === 0) client.sent = since;
        goLive(client);
      })
      .catch((err: Error) => {
        // A journal that cannot be read back: this client resyncs, the daemon stays up.
        ctx.logger.error({ error: err.message, since }, 'stream replay failed');
        socket.close(CLOSE_RESYNC, 'resync: replay failed');
      });
  });

  return {
    sync: () => ({
      clients: clients.size,
      sync_failures: ctx.syncFailures.total(),
      sync_failures_by_reason: ctx.syncFailures.byReason(),
      last_file_error: store.problems()[0]?.error ?? null,
    }),
  };
}
