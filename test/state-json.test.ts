// The state's JSON written a chunk at a time (status, stream snapshots): the same text as
// JSON.stringify of the state, whatever the keys, and the state of the revision it was taken at
// even when records change while it is being written.
import { describe, expect, it } from 'vitest';
import { stateChecksum } from '../shared/checksum.js';
import { Tables } from '../daemon/store/tables.js';
import { captureState, stateJsonChunks } from '../daemon/store/state-json.js';

async function collect(gen: AsyncGenerator<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const chunk of gen) out.push(chunk);
  return out;
}

function filled(n: number): Tables {
  const t = new Tables();
  for (let i = 0; i < n; i++) t.set('work', `w${i}`, { v: 1, rev: i + 1, data: { work_item_id: `w${i}`, description: 'x'.repeat(i % 50), n: i } });
  // Keys JSON must escape, and ones a plain object would swallow.
  for (const key of ['__proto__', 'a"b', 'ünï\\code', 'constructor'])
    t.set('agents', key, { v: 2, rev: 7, data: { agent_id: key, nested: { a: [1, null, 'x'] } } });
  t.set('log', '1', { v: 1, rev: 9, data: { work_item_id: 'w1', velocity_points: 100.5 } });
  return t;
}

describe('state JSON in chunks', () => {
  it('is exactly JSON.stringify of the state, in several chunks, and carries its checksum', async () => {
    const t = filled(2000);
    const capture = captureState(t, 2000);
    const chunks = await collect(stateJsonChunks(capture, 4096));
    expect(chunks.length).toBeGreaterThan(10);
    const text = chunks.join('');
    const state = JSON.parse(text);
    expect(Object.keys(state.agents)).toEqual(['__proto__', 'a"b', 'ünï\\code', 'constructor']);
    expect(state.agents['__proto__'].data.nested).toEqual({ a: [1, null, 'x'] });
    expect(Object.keys(state.work)).toHaveLength(2000);
    expect(stateChecksum(state)).toBe(capture.checksum);
    expect(capture.counts).toEqual({ work: 2000, agents: 4, log: 1 });
    // The text is JSON.stringify's of the state (where `__proto__` is a record like any other).
    expect(text).toBe(JSON.stringify(t.toState()));
    expect(t.toState().agents['__proto__'].data.agent_id).toBe('__proto__');
    // An empty state too.
    expect((await collect(stateJsonChunks(captureState(new Tables(), 0)))).join('')).toBe('{"work":{},"agents":{},"log":{}}');
  });

  it('writes the state of the revision it was taken at while records change under it', async () => {
    const t = filled(3000);
    const capture = captureState(t, 3000);
    const before = JSON.stringify(t.toState());
    const chunks: string[] = [];
    let i = 0;
    for await (const chunk of stateJsonChunks(capture, 2048)) {
      chunks.push(chunk);
      // Between chunks: records changed, added and removed (each a new slot, as the store does it).
      t.set('work', `w${i}`, { v: 2, rev: 5000 + i, data: { work_item_id: `w${i}`, changed: true } });
      t.set('work', `new_${i}`, { v: 1, rev: 6000 + i, data: { work_item_id: `new_${i}` } });
      t.set('work', `w${2999 - i}`, undefined);
      i++;
    }
    expect(i).toBeGreaterThan(10);
    expect(chunks.join('')).toBe(before);
    expect(stateChecksum(JSON.parse(chunks.join('')))).toBe(capture.checksum);
    expect(t.digest.hex()).not.toBe(capture.checksum);
  });
});
