import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocketServer } from 'ws';
import type WebSocket from 'ws';
import { applyChanges, stateChecksum } from '../shared/checksum.js';
import { ApiClient } from '../client/api.js';
import { isHeld } from '../shared/types.js';
import { ConsoleModel } from '../tui/model/console-model.js';
import { Ring } from '../tui/model/ring.js';
import { agentRows, entropyView, heldByAgent, spanRows, traceTree, WORK_SORTS, workRows } from '../tui/model/selectors.js';
import { Connection } from '../tui/net/connection.js';
import { DeltaGen, GEN_NOW, genSnapshot, genSpans, genState, genStats } from './gen/states.js';
import { startDaemon, type DaemonHandle } from './helpers/daemon.js';
import { wsText } from '../client/ws-text.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('generator', () => {
  it('is deterministic from its seed and legacy-shaped', () => {
    const a = genState({ agents: 5, work: 20, seed: 9 });
    expect(genState({ agents: 5, work: 20, seed: 9 })).toEqual(a);
    expect(genState({ agents: 5, work: 20, seed: 10 })).not.toEqual(a);
    const work = Object.values(a.work).map((e) => e.data);
    expect(work).toHaveLength(20);
    for (const w of work) expect(w.work_item_id).toMatch(/^work_\d{19}$/);
    for (const [k, e] of Object.entries(a.agents)) {
      expect(k).toMatch(/^agent_\d{19}$/);
      expect(e.data.agent_id).toBe(k);
    }
    // Completed items are logged, as the legacy `complete` command does.
    expect(Object.keys(a.log)).toHaveLength(work.filter((w) => w.status === 'completed').length);
  });
});

describe('ConsoleModel', () => {
  it('applies a snapshot and verifies its checksum', () => {
    const snap = genSnapshot({ agents: 6, work: 25 });
    const m = new ConsoleModel();
    m.applySnapshot(snap);
    expect(m.verified).toBe(true);
    expect(m.revision).toBe(snap.revision);
    expect(Object.keys(m.state.work)).toHaveLength(25);

    const bad = genSnapshot({ agents: 6, work: 25 });
    const m2 = new ConsoleModel();
    m2.applySnapshot({ ...bad, checksum: '0'.repeat(64) });
    expect(m2.verified).toBe(false);
  });

  it('applies deltas to the same state the daemon holds', () => {
    const snap = genSnapshot({ agents: 8, work: 30 });
    const gen = new DeltaGen(snap);
    const m = new ConsoleModel();
    m.applySnapshot(snap);
    for (let i = 0; i < 200; i++) expect(m.applyDelta(gen.next())).toBe('applied');
    expect(m.applyDelta(gen.del('work', Object.keys(gen.state.work)[0]))).toBe('applied');
    expect(m.revision).toBe(snap.revision + 201);
    expect(Object.keys(m.state.work)).toHaveLength(29);
    expect(m.state).toEqual(gen.state);
    expect(m.verified).toBe(true);
  });

  it('stays verified across valid deltas and ignores replayed ones', () => {
    const snap = genSnapshot({ agents: 4, work: 10 });
    const gen = new DeltaGen(snap);
    const resync = vi.fn();
    const m = new ConsoleModel({ requestResync: resync });
    m.applySnapshot(snap);
    const d1 = gen.next();
    const d2 = gen.next();
    m.applyDelta(d1);
    m.applyDelta(d2);
    expect(m.applyDelta(d1)).toBe('duplicate'); // overlap after a ?since= replay
    expect(m.verified).toBe(true);
    expect(m.state).toEqual(gen.state);
    expect(stateChecksum(m.state)).toBe(d2.checksum);
    expect(resync).not.toHaveBeenCalled();
  });

  it('detects a revision gap, asks for a resync once, and recovers on the next snapshot', () => {
    let t = 1000;
    const snap = genSnapshot({ agents: 4, work: 10 });
    const gen = new DeltaGen(snap);
    const resync = vi.fn();
    const m = new ConsoleModel({ requestResync: resync, now: () => t, resyncRetryMs: 5000 });
    m.applySnapshot(structuredClone(snap));
    gen.next(); // lost in transit
    expect(m.applyDelta(gen.next())).toBe('gap');
    expect(m.verified).toBe(false);
    expect(resync).toHaveBeenCalledWith('gap', snap.revision + 2);
    m.applyDelta({ ...gen.next(), revision: gen.revision + 5 }); // another gap while waiting
    expect(resync).toHaveBeenCalledTimes(1);
    t += 6000; // unanswered for longer than the retry period: ask again
    m.applyDelta({ ...gen.next(), revision: gen.revision + 10 });
    expect(resync).toHaveBeenCalledTimes(2);
    expect(m.resyncCount).toBe(2);

    m.applySnapshot({ type: 'snapshot', revision: gen.revision, state: structuredClone(gen.state), checksum: stateChecksum(gen.state) });
    expect(m.verified).toBe(true);
    expect(m.resyncPending).toBeNull();
  });

  it('detects a checksum mismatch and asks for a resync', () => {
    const snap = genSnapshot({ agents: 4, work: 10 });
    const gen = new DeltaGen(snap);
    const resync = vi.fn();
    const m = new ConsoleModel({ requestResync: resync });
    m.applySnapshot(snap);
    const d = gen.next();
    expect(m.applyDelta({ ...d, checksum: 'f'.repeat(64) })).toBe('mismatch');
    expect(m.verified).toBe(false);
    expect(resync).toHaveBeenCalledWith('checksum', d.revision);
  });

  it('coalesces a burst of 1,000 deltas into few notifications', () => {
    vi.useFakeTimers({ now: GEN_NOW });
    const snap = genSnapshot({ agents: 10, work: 50 });
    const gen = new DeltaGen(snap);
    const m = new ConsoleModel({ throttleMs: 150 });
    const heard = vi.fn();
    m.subscribe(heard);
    m.applySnapshot(snap);
    const burst = Array.from({ length: 1000 }, () => gen.next());
    for (const d of burst) m.applyDelta(d);
    expect(heard).not.toHaveBeenCalled(); // never synchronously
    vi.advanceTimersByTime(200);
    expect(heard).toHaveBeenCalledTimes(1);
    expect(m.verified).toBe(true);
    expect(m.revision).toBe(gen.revision);

    // The same volume spread over one second: bounded by the throttle, not by the message count.
    heard.mockClear();
    for (let i = 0; i < 1000; i++) {
      m.applyDelta(gen.next());
      vi.advanceTimersByTime(1);
    }
    vi.advanceTimersByTime(200);
    expect(heard.mock.calls.length).toBeGreaterThanOrEqual(5);
    expect(heard.mock.calls.length).toBeLessThanOrEqual(Math.ceil(1000 / 150) + 2);
    expect(m.state).toEqual(gen.state);
  });

  it('keeps a bounded, de-duplicated span buffer', () => {
    const m = new ConsoleModel({ spanCapacity: 2000 });
    const spans = genSpans(2500);
    m.addSpans(spans);
    expect(m.spans.size).toBe(2000);
    // Kept as shown: ids, operation, status, times and service name; not the attributes.
    const { resource_attributes, span_attributes, span_kind, service, ...shown } = spans[500];
    expect(resource_attributes && span_attributes && span_kind).toBeTruthy();
    expect(m.spans.toArray()[0]).toEqual({ ...shown, service: { name: service.name } });
    // One service object per service, however many spans name it.
    expect(new Set(m.spans.toArray().map((s) => s.service)).size).toBe(1);
    const v = m.version;
    m.addSpans(spans.slice(-100)); // initial fill overlapping what the stream already brought
    expect(m.spans.size).toBe(2000);
    expect(m.version).toBe(v);
    m.applyMessage({ type: 'span', span: { ...spans[0], span_id: 'ffffffffffffffff' } });
    expect(m.spans.last()?.span_id).toBe('ffffffffffffffff');
  });

  it('keeps the time the link was lost across reconnect attempts', () => {
    let t = 5000;
    const m = new ConsoleModel({ now: () => t });
    m.setConnection('connected');
    expect(m.connection.since).toBeNull();
    m.setConnection('reconnecting', undefined, { attempt: 1 });
    expect(m.connection.since).toBe(5000);
    t = 9000;
    m.setConnection('reconnecting', undefined, { attempt: 2 });
    expect(m.connection).toMatchObject({ state: 'reconnecting', since: 5000, attempt: 2 });
    m.setConnection('connected');
    expect(m.connection.since).toBeNull();
  });

  it('keeps a bounded ring of stats samples', () => {
    const m = new ConsoleModel({ sampleCapacity: 3 });
    for (let i = 0; i < 5; i++) m.setStats(genStats({ revision: i }));
    expect(m.samples.toArray().map((s) => s.revision)).toEqual([2, 3, 4]);
    // Each sample keeps the sparklines' figures, not the whole answer (services, usage, ...).
    const stats = genStats({ revision: 9 });
    m.setStats(stats);
    const last = m.samples.last()!;
    expect(Object.keys(last)).toEqual(['at', 'revision', 'p99', 'entropyTotal']);
    expect(last.p99).toEqual(Object.fromEntries(Object.entries(stats.latency).map(([op, l]) => [op, l.p99_ms])));
    expect(last.entropyTotal).toBe(stats.entropy.total);
  });
});

describe('derived data kept across frames', () => {
  it('keeps held-claim counts from the deltas equal to a full recount (claims, releases, deletes)', () => {
    const snap = genSnapshot({ agents: 8, work: 80, seed: 12 });
    const gen = new DeltaGen(snap, 3);
    const m = new ConsoleModel({ throttleMs: 0 });
    m.applySnapshot(snap);
    const agents = Object.keys(gen.state.agents);
    const recount = () => new Map([...heldByAgent(m.state)].sort());
    const counts = () => new Map([...m.held.counts].sort());
    expect(counts()).toEqual(recount());
    for (let i = 0; i < 400; i++) {
      const keys = Object.keys(gen.state.work);
      const key = keys[(i * 37) % keys.length];
      let msg;
      if (i % 5 === 0) msg = gen.put('work', key, { agent_id: agents[i % agents.length], status: 'claimed' });
      else if (i % 5 === 1) msg = gen.put('work', key, { agent_id: null, status: 'released' });
      else if (i % 5 === 2) msg = gen.put('work', key, { status: 'completed' });
      else if (i % 17 === 3) msg = gen.del('work', key);
      else msg = gen.next();
      expect(m.applyDelta(msg)).toBe('applied');
    }
    expect(counts()).toEqual(recount());
    expect([...m.held.counts.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  });

  it("adopts a verifying client's copy without cloning it, indexing its deltas", () => {
    const snap = genSnapshot({ agents: 5, work: 30, seed: 2 });
    const gen = new DeltaGen(snap, 5);
    const clientState = structuredClone(snap.state);
    const m = new ConsoleModel({ throttleMs: 0, verify: false });
    m.adopt({ state: clientState, revision: snap.revision, checksum: snap.checksum, verified: true });
    expect(m.state).toBe(clientState);
    expect(m.hasSnapshot && m.verified).toBe(true);
    const agent = Object.keys(gen.state.agents)[0];
    const free = Object.keys(gen.state.work).find((k) => !isHeld(gen.state.work[k].data))!;
    const before = m.held.counts.get(agent) ?? 0;
    // The client applies the delta to its copy, then hands the changes over.
    const msg = gen.put('work', free, { agent_id: agent, status: 'claimed' });
    applyChanges(clientState, msg.changes);
    const v = m.version;
    m.adopt({ state: clientState, revision: msg.revision, checksum: msg.checksum, verified: true }, msg.changes);
    expect(m.held.counts.get(agent)).toBe(before + 1);
    expect(m.revision).toBe(msg.revision);
    expect(m.version).toBeGreaterThan(v);
    // A resync the client asked for shows until its next verified copy.
    m.markSync({ verified: false, resynced: 'checksum' });
    expect([m.verified, m.resyncPending, m.resyncCount]).toEqual([false, 'checksum', 1]);
    m.adopt({ state: clientState, revision: msg.revision, checksum: msg.checksum, verified: true });
    expect([m.verified, m.resyncPending]).toEqual([true, null]);
  });

  it('re-uses the rows of unchanged records and re-makes a changed one', () => {
    const snap = genSnapshot({ agents: 6, work: 40, seed: 8 });
    const gen = new DeltaGen(snap, 9);
    const m = new ConsoleModel({ throttleMs: 0 });
    m.applySnapshot(snap);
    const byKey = <R extends { key: string }>(rows: R[]) => new Map(rows.map((r) => [r.key, r]));
    const w1 = byKey(workRows(m.state, {}));
    const a1 = byKey(agentRows(m.state, { now: GEN_NOW, staleMs: 60_000 }, m.held.counts));
    const changed = Object.keys(m.state.work)[3];
    m.applyDelta(gen.put('work', changed, { progress: 77 }));
    const w2 = byKey(workRows(m.state, {}));
    for (const [k, row] of w2) {
      if (k === changed) {
        expect(row).not.toBe(w1.get(k));
        expect(row.progress).toBe(77);
      } else expect(row).toBe(w1.get(k));
    }
    // Agent rows carry the heartbeat age: the same rows within one clock value, new ones after.
    const a2 = byKey(agentRows(m.state, { now: GEN_NOW, staleMs: 60_000 }, m.held.counts));
    for (const [k, row] of a2) expect(row).toBe(a1.get(k));
    const a3 = byKey(agentRows(m.state, { now: GEN_NOW + 1000, staleMs: 60_000 }, m.held.counts));
    for (const [k, row] of a3) {
      expect(row).not.toBe(a1.get(k));
      if (row.heartbeatAgeMs !== null) expect(row.heartbeatAgeMs).toBe(a1.get(k)!.heartbeatAgeMs! + 1000);
    }
  });
});

describe('Ring', () => {
  it('evicts the oldest and keeps order', () => {
    const r = new Ring<number>(3);
    expect([1, 2, 3, 4, 5].map((x) => r.push(x))).toEqual([undefined, undefined, undefined, 1, 2]);
    expect(r.toArray()).toEqual([3, 4, 5]);
    expect(r.last()).toBe(5);
  });
});

describe('selectors', () => {
  const state = genState({ agents: 10, work: 60, seed: 4, stale: 2 });

  it('counts held claims per agent and flags stale heartbeats', () => {
    const rows = agentRows(state, { now: GEN_NOW, staleMs: 60_000 });
    for (const r of rows) {
      const held = Object.values(state.work).filter((e) => e.data.agent_id === r.id && isHeld(e.data)).length;
      expect(r.claims).toBe(held);
    }
    expect(rows.reduce((n, r) => n + r.claims, 0)).toBeGreaterThan(0);
    expect(rows.filter((r) => r.stale)).toHaveLength(2);
    // Heartbeat sort: oldest first, so the stale ones lead.
    const byBeat = agentRows(state, { now: GEN_NOW, staleMs: 60_000, sort: 4 });
    expect(byBeat.slice(0, 2).every((r) => r.stale)).toBe(true);
    expect(agentRows(state, { now: GEN_NOW, staleMs: 60_000, filter: 'stale' })).toHaveLength(2);
  });

  it('filters on every term and sorts by the chosen column', () => {
    const all = workRows(state, {});
    const crit = workRows(state, { filter: 'CRITICAL' });
    expect(crit.length).toBeGreaterThan(0);
    expect(crit.length).toBeLessThan(all.length);
    expect(crit.every((r) => r.priority === 'critical')).toBe(true);
    const both = workRows(state, { filter: 'critical in_progress' });
    expect(both.every((r) => r.priority === 'critical' && r.status === 'in_progress')).toBe(true);

    const byPrio = workRows(state, { sort: WORK_SORTS.findIndex((s) => s.key === 'priority') });
    expect(byPrio[0].priority).toBe('critical');
    expect(byPrio[byPrio.length - 1].priority).toBe('low');
    const rev = workRows(state, { sort: WORK_SORTS.findIndex((s) => s.key === 'priority'), desc: true });
    expect(rev[0].priority).toBe('low');
    const byAge = all.map((r) => r.since ?? 0);
    expect(byAge).toEqual([...byAge].sort((a, b) => b - a));
  });

  it('builds a trace tree from parent links, orphans as roots', () => {
    const spans = genSpans(40, { maxPerTrace: 5 });
    const traceId = spans.find((s) => s.parent_span_id !== '')!.trace_id;
    const nodes = traceTree(spans, traceId);
    expect(nodes).toHaveLength(spans.filter((s) => s.trace_id === traceId).length);
    expect(nodes[0].depth).toBe(0);
    for (const n of nodes.slice(1)) {
      const parent = nodes.find((p) => p.span.span_id === n.span.parent_span_id)!;
      expect(parent.depth).toBe(n.depth - 1);
      expect(nodes.indexOf(parent)).toBeLessThan(nodes.indexOf(n));
      expect(n.prefix).toMatch(/[├└]─ $/);
    }
    const orphan = { ...spans[0], trace_id: 'x', span_id: 'a', parent_span_id: 'missing' };
    expect(traceTree([orphan], 'x')).toMatchObject([{ depth: 0 }]);
    // Most recent first by default.
    expect(spanRows(spans, {})[0].span).toBe(spans[spans.length - 1]);
  });

  it('judges entropy conservation against 0.99–1.01', () => {
    expect(entropyView(genStats({ ratio: 1 })).conserved).toBe(true);
    expect(entropyView(genStats({ ratio: 1.005 })).conserved).toBe(true);
    expect(entropyView(genStats({ ratio: 0.9 })).conserved).toBe(false);
    expect(entropyView(genStats({ ratio: 1.02 })).conserved).toBe(false);
    expect(entropyView(genStats({ ratio: null })).conserved).toBeNull();
  });
});

describe('Connection: the shared stream client against the real daemon', () => {
  const until = async (cond: () => boolean, ms = 10_000): Promise<void> => {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error('timed out waiting');
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  let daemon: DaemonHandle | null = null;
  let conn: Connection | null = null;
  afterEach(async () => {
    conn?.stop();
    conn = null;
    await daemon?.stop('SIGKILL');
    daemon = null;
  });

  it('shows the daemon state verified, follows changes, keeps it while down, and resumes with ?since=', async () => {
    const token = 'sekrit';
    daemon = await startDaemon({ env: { AI_PROCESSOR_TOKEN: token } });
    const api = new ApiClient({ url: daemon.url, token });
    for (let i = 0; i < 3; i++) expect((await api.post('/api/agents', { agent_id: `agent_t${i}`, team: 'qa' })).status).toBe(201);
    expect((await api.post('/api/coordination/claim', { work_id: 'work_t1', agent_id: 'agent_t1' })).status).toBe(200);

    const model = new ConsoleModel({ throttleMs: 0, verify: false });
    conn = new Connection({ url: daemon.url, token, model, statsEveryMs: 100, minBackoffMs: 50, maxBackoffMs: 200 });
    conn.start();
    await until(() => model.hasSnapshot && model.verified && model.stats !== null);
    expect(model.connection.state).toBe('connected');
    expect(Object.keys(model.state.agents).sort()).toEqual(['agent_t0', 'agent_t1', 'agent_t2']);
    expect(model.state.work.work_t1.data.agent_id).toBe('agent_t1');
    // The model shows the stream client's own copy: one state, verified once, by the client.
    expect(model.state).toBe(conn.stream.state);

    // A change through the API arrives as a delta, verified.
    const v0 = model.version;
    const moved = await api.post<{ revision: number }>('/api/coordination/progress', { work_id: 'work_t1', agent_id: 'agent_t1', progress: 40 });
    await until(() => model.revision >= moved.body.revision);
    expect(model.state.work.work_t1.data.progress).toBe(40);
    expect(model.verified).toBe(true);
    expect(model.version).toBeGreaterThan(v0);

    // The daemon dies: the last state stays, marked stale since the loss.
    const { port, dataDir } = daemon;
    await daemon.stop('SIGKILL');
    await until(() => model.connection.state === 'reconnecting');
    expect(model.connection.since).not.toBeNull();
    expect(model.state.work.work_t1.data.progress).toBe(40);

    // Back on the same port and data dir: resumed from our revision, not re-sent as a snapshot.
    daemon = await startDaemon({ dataDir, args: ['--port', String(port)], env: { AI_PROCESSOR_TOKEN: token } });
    await until(() => model.connection.state === 'connected' && model.verified);
    expect(model.connection.since).toBeNull();
    const done = await api.post<{ revision: number }>('/api/coordination/complete', { work_id: 'work_t1', agent_id: 'agent_t1' });
    expect(done.status).toBe(200);
    await until(() => model.revision >= done.body.revision);
    expect(model.state.work.work_t1.data.status).toBe('completed');
    expect(Object.values(model.state.log).some((e) => e.data.work_item_id === 'work_t1')).toBe(true);
    expect(model.verified).toBe(true);
    expect(conn.stream.snapshots).toBe(1);
    expect(model.resyncCount).toBe(0);
  });

  it('reports a refused token as unauthorized', async () => {
    daemon = await startDaemon({ env: { AI_PROCESSOR_TOKEN: 'right' } });
    const model = new ConsoleModel({ throttleMs: 0, verify: false });
    conn = new Connection({ url: daemon.url, token: 'wrong', model, minBackoffMs: 50, maxBackoffMs: 200 });
    conn.start();
    await until(() => model.connection.state === 'unauthorized');
    expect(model.connection.error).toContain('401');
    expect(model.hasSnapshot).toBe(false);
  });
});

describe('Connection: side channels (stand-in daemon)', () => {
  interface Fake {
    url: string;
    streams: WebSocket[];
    urls: string[];
    received: unknown[];
    close(): Promise<void>;
  }

  /**
   * A daemon that misbehaves on purpose (a revision gap) and serves stats, spans and the telemetry
   * stream, so the console's handling of each can be checked without depending on their producers.
   */
  async function fakeDaemon(onStream: (ws: WebSocket, url: string) => void): Promise<Fake> {
    const fake: Partial<Fake> = { streams: [], received: [], urls: [] };
    const sockets: WebSocket[] = [];
    const server = createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/api/stats') res.end(JSON.stringify(genStats()));
      else if (req.url?.startsWith('/api/telemetry/spans')) res.end(JSON.stringify({ spans: genSpans(5) }));
      else {
        res.statusCode = 404;
        res.end('{}');
      }
    });
    const wss = new WebSocketServer({ server });
    wss.on('connection', (ws, req) => {
      sockets.push(ws);
      if (req.url?.startsWith('/api/telemetry/stream')) {
        ws.send(JSON.stringify({ type: 'span', span: genSpans(1, { seed: 77 })[0] }));
        return;
      }
      fake.streams!.push(ws);
      fake.urls!.push(req.url ?? '');
      ws.on('message', (d) => fake.received!.push(JSON.parse(wsText(d))));
      onStream(ws, req.url ?? '');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    fake.close = async () => {
      for (const ws of sockets) ws.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    };
    return fake as Fake;
  }

  const until = async (cond: () => boolean, ms = 5000): Promise<void> => {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error('timed out waiting');
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  it("fills spans and stats, and shows the stream client's resync after a gap as unverified", async () => {
    const snap = genSnapshot({ agents: 5, work: 12 });
    const gen = new DeltaGen(snap);
    const fake = await fakeDaemon((ws, url) => {
      if (url.includes('since=')) ws.send(JSON.stringify({ type: 'replayed', from: gen.revision, to: gen.revision }));
      else ws.send(JSON.stringify(snap));
    });
    const model = new ConsoleModel({ throttleMs: 0, verify: false });
    const conn = new Connection({ url: fake.url, model, statsEveryMs: 100, minBackoffMs: 50, maxBackoffMs: 200 });
    try {
      conn.start();
      await until(() => model.hasSnapshot && model.stats !== null && model.spans.size === 6);
      expect(model.verified).toBe(true);

      // A gap: the stream client asks for a resync on the open socket; the model says so.
      gen.next();
      fake.streams[0].send(JSON.stringify(gen.next()));
      await until(() => fake.received.length > 0);
      expect(fake.received[0]).toMatchObject({ type: 'resync', reason: 'gap' });
      await until(() => model.resyncCount === 1);
      expect(model.verified).toBe(false);
      expect(model.resyncPending).toBe('gap');

      // The answer (a fresh snapshot) makes it verified again.
      fake.streams[0].send(JSON.stringify({ type: 'snapshot', revision: gen.revision, state: structuredClone(gen.state), checksum: stateChecksum(gen.state) }));
      await until(() => model.verified);
      expect(model.revision).toBe(gen.revision);
      expect(model.resyncPending).toBeNull();

      // Dropped as too slow (4001): counted as a resync, but the copy stays verified; the reconnect
      // resumes with ?since= and the end of the (empty) replay makes it live again.
      const seen: [string | null, boolean][] = [];
      model.subscribe(() => seen.push([model.resyncPending, model.verified]));
      fake.streams[0].close(4001, 'resync: client fell behind');
      await until(() => model.resyncCount === 2);
      await until(() => fake.streams.length === 2 && model.resyncPending === null && model.connection.state === 'connected');
      expect(fake.urls[1]).toBe(`/api/coordination/stream?since=${gen.revision}`);
      // Never shown as unverified on the way: the copy was right, only behind.
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.every(([, verified]) => verified)).toBe(true);
      expect(model.verified).toBe(true);
    } finally {
      conn.stop();
      await fake.close();
    }
  });

  it('posts release and offline with the bearer token', async () => {
    const calls: { url?: string; auth?: string; body: string }[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        calls.push({ url: req.url, auth: req.headers.authorization, body });
        res.statusCode = req.url?.includes('release') ? 200 : 409;
        res.end(JSON.stringify(res.statusCode === 200 ? { ok: true } : { error: 'stale_fencing_token', message: 'nope' }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const conn = new Connection({ url, token: 't0k', model: new ConsoleModel() });
    try {
      expect(await conn.release('work_1', 'agent_1')).toEqual({ ok: true, message: 'released work_1' });
      const off = await conn.markOffline('agent_1');
      expect(off.ok).toBe(false);
      expect(off.message).toContain('409 stale_fencing_token: nope');
      expect(calls).toEqual([
        { url: '/api/coordination/release', auth: 'Bearer t0k', body: JSON.stringify({ work_id: 'work_1', agent_id: 'agent_1', force: true }) },
        { url: '/api/agents/agent_1/heartbeat', auth: 'Bearer t0k', body: JSON.stringify({ status: 'offline' }) },
      ]);
    } finally {
      conn.stop();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
