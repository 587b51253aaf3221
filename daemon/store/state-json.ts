// The whole state as JSON text, produced a chunk at a time with a turn of the event loop between
// chunks: serializing a large state in one go (status, a stream client's snapshot) held the event
// loop long enough to show in every concurrent claim's latency (docs/performance.md).
//
// Consistency comes from the slots: a change makes a new slot and never alters one, so the slots
// taken in one synchronous step (with the revision and checksum) are that revision's state, however
// long the text takes to write.
import { SECTIONS, type Section } from '../../shared/types.js';
import type { Slot, Tables } from './tables.js';

/** About this many characters of JSON per chunk (~0.3 ms of work). */
export const STATE_CHUNK_CHARS = 64 * 1024;

export interface StateCapture {
  revision: number;
  checksum: string;
  counts: Record<Section, number>;
  rows: Record<Section, Array<[string, Slot]>>;
}

/** The state as it is now: revision, checksum and every record, in one synchronous step. */
export function captureState(tables: Tables, revision: number): StateCapture {
  const rows = { work: [], agents: [], log: [] } as StateCapture['rows'];
  for (const section of SECTIONS) for (const entry of tables.maps[section]) rows[section].push(entry);
  return { revision, checksum: tables.digest.hex(), counts: { work: rows.work.length, agents: rows.agents.length, log: rows.log.length }, rows };
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The text of `{"work":{key:entry,...},"agents":{...},"log":{...}}`, as JSON.stringify(state) would
 * give it (entries as {v, rev, data}), in chunks of about `chunkChars`, with a turn of the event
 * loop (pending I/O: requests, fsyncs) after each.
 */
export async function* stateJsonChunks(capture: StateCapture, chunkChars = STATE_CHUNK_CHARS): AsyncGenerator<string> {
  let buf = '{';
  for (const section of SECTIONS) {
    buf += `${section === 'work' ? '' : ','}${JSON.stringify(section)}:{`;
    let firstRow = true;
    for (const [key, slot] of capture.rows[section]) {
      buf += `${firstRow ? '' : ','}${JSON.stringify(key)}:{"v":${slot.v},"rev":${slot.rev},"data":${JSON.stringify(slot.data)}}`;
      firstRow = false;
      if (buf.length >= chunkChars) {
        yield buf;
        buf = '';
        await turn();
      }
    }
    buf += '}';
  }
  yield buf + '}';
}
