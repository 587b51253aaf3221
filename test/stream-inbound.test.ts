// The pure parts of the stream's inbound checks (parseClientMessage, the per-client token bucket),
// and guardInbound on a real WebSocket pair: a handler that throws closes that client with 1011.
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { parseClientMessage } from '../shared/protocol.js';
import { guardInbound, TokenBucket } from '../daemon/stream/inbound.js';

describe('parseClientMessage', () => {
  it('accepts resync requests and keeps only the known fields', () => {
    expect(parseClientMessage('{"type":"resync","reason":"gap","revision":12,"pad":"zzz"}')).toEqual({
      ok: true,
      value: { type: 'resync', reason: 'gap', revision: 12 },
    });
    expect(parseClientMessage('{"type":"resync","reason":"manual"}')).toEqual({ ok: true, value: { type: 'resync', reason: 'manual' } });
  });

  it('refuses everything else with an error that quotes nothing of the frame', () => {
    const bad = [
      '',
      'null',
      '1',
      '[]',
      '"x"',
      'true',
      '{"type":null}',
      '{}',
      '{"type":"resync"}',
      '{"type":"resync","reason":"toString"}',
      '{"type":"resync","reason":"gap","revision":-1}',
      '{"type":"resync","reason":"gap","revision":1.5}',
      '{"type":"resync","reason":"gap","revision":"1"}',
      '{"__proto__":{"type":"resync"},"reason":"gap"}',
      JSON.stringify({ type: 'resync', reason: 'q'.repeat(60_000) }),
    ];
    for (const text of bad) {
      const r = parseClientMessage(text);
      expect(r.ok, text.slice(0, 60)).toBe(false);
      if (!r.ok) expect(r.error.length).toBeLessThan(60);
    }
  });
});

describe('TokenBucket', () => {
  it('allows the burst, then the rate', () => {
    let t = 0;
    const b = new TokenBucket(5, 10, () => t);
    expect(Array.from({ length: 12 }, () => b.take()).filter(Boolean)).toHaveLength(10);
    t += 1000;
    expect(Array.from({ length: 12 }, () => b.take()).filter(Boolean)).toHaveLength(5);
    t += 60_000; // saved up to the burst, not beyond
    expect(Array.from({ length: 30 }, () => b.take()).filter(Boolean)).toHaveLength(10);
  });
});

describe('guardInbound on a real socket', () => {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  afterAll(() => new Promise<void>((r) => wss.close(() => r())));

  it('a handler that throws closes that client with 1011 and is logged; nothing escapes', async () => {
    const logged: string[] = [];
    const logger = { info: () => {}, warn: () => {}, error: (_o: object | string, msg?: string) => void logged.push(String(msg)) };
    wss.on('connection', (socket) =>
      guardInbound(socket, {
        stream: 'coordination',
        logger,
        rejected: () => {},
        onMessage: () => {
          throw new Error('boom');
        },
      }),
    );
    const port = (wss.address() as { port: number }).port;
    const ws = new WebSocket(`ws://127.0.0.1:${port}`);
    await new Promise((r) => ws.on('open', r));
    const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
    ws.send(JSON.stringify({ type: 'resync', reason: 'gap' }));
    expect(await closed).toBe(1011);
    expect(logged).toEqual(['stream client handler failed; that client is closed']);
  });
});
