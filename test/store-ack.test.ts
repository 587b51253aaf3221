// A change answered once applied (`ack: 'applied'`, the Claude Code heartbeat) against the file
// store on real files: it resolves before its journal batch is on disk, unless a record it changes
// waits for the disk for an earlier change; on a full disk (a real small tmpfs) it is undone with
// its batch and the store stays up.
import { afterAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { FileStore } from '../daemon/store/file-store.js';
import type { Journal } from '../daemon/store/journal.js';
import type { Ack, ReadView } from '../daemon/store/memory-state.js';
import { fill, mountTmpfs } from './helpers/tmpfs.js';
import { tempDir } from './helpers/daemon.js';

const quiet = { info() {}, warn() {}, error() {} };
const cause = { op: 'test', source: 'api' as const };

function put(store: FileStore, key: string, ack: Ack, pad = 0) {
  return store.transact(
    (view: ReadView) => ({
      changes: [{ section: 'agents', key, op: 'put', data: { agent_id: key, seen: view.nextLogKey(), pad: 'x'.repeat(pad) } }],
      result: key,
      ack,
    }),
    cause,
  );
}

const durableRevision = (store: FileStore) => (store as unknown as { journal: Journal }).journal.durableRevision;

describe("ack: 'applied'", () => {
  it('resolves before the fsync, except on a record whose change that waits for the disk is still on its way', async () => {
    const store = new FileStore({ dataDir: tempDir('aip-ack-'), logger: quiet, watch: false });
    await store.open();
    await put(store, 'a', 'durable');
    await put(store, 'b', 'durable');
    const before = durableRevision(store);
    // A heartbeat of a: answered with its batch not yet on disk.
    const hb = await put(store, 'a', 'applied');
    expect(hb.revision).toBe(before + 1);
    expect(durableRevision(store)).toBe(before);
    // b changes in a way that must be durable; a heartbeat of a is answered at once, one of b only once b's change is on disk.
    const grant = put(store, 'b', 'durable');
    const other = await put(store, 'a', 'applied');
    expect(durableRevision(store)).toBeLessThan(other.revision!);
    const same = await put(store, 'b', 'applied');
    expect(durableRevision(store)).toBeGreaterThanOrEqual((await grant).revision!);
    expect(durableRevision(store)).toBeGreaterThanOrEqual(same.revision!);
    // Everything answered is in the journal after a clean close.
    await store.close();
    const again = new FileStore({ dataDir: store.dataDir, logger: quiet, watch: false });
    await again.open();
    expect(again.revision).toBe(same.revision);
    await again.close();
  });
});

const fs = mountTmpfs(1024);
const mounted = typeof fs !== 'string';

afterAll(() => {
  if (typeof fs !== 'string') fs.unmount();
});

describe.skipIf(!mounted)("ack: 'applied' on a full disk", () => {
  it('is undone with its batch, the store says so and takes writes again once space is freed', async () => {
    const dir = (fs as Exclude<typeof fs, string>).dir;
    const store = new FileStore({ dataDir: dir, logger: quiet, watch: false });
    await store.open();
    await put(store, 'kept', 'durable');
    const kept = { revision: store.revision, state: JSON.stringify(store.state()) };
    const filler = path.join(dir, 'filler.bin');
    fill(filler);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      // Answered before the disk refuses it.
      const hb = await put(store, 'kept', 'applied', 8192);
      expect(hb.revision).toBe(kept.revision + 1);
      await expect.poll(() => store.ready, { timeout: 10_000, interval: 20 }).toBe(false);
      // Undone: memory is where the disk is; nothing was left unhandled.
      expect(store.revision).toBe(kept.revision);
      expect(JSON.stringify(store.state())).toBe(kept.state);
      await new Promise((r) => setImmediate(r));
      expect(unhandled).toEqual([]);
      await expect(put(store, 'kept', 'applied')).rejects.toMatchObject({ code: 'storage_full' });
      rmSync(filler);
      await expect.poll(() => store.ready, { timeout: 10_000, interval: 100 }).toBe(true);
      expect((await put(store, 'kept', 'applied')).revision).toBe(kept.revision + 1);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await store.close();
    }
  });
});
