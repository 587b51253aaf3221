// Group commit on a full disk (the store itself, on a real small tmpfs): a batch that fails takes
// the batches applied after it down with it; all are undone, newest first, and none is ever
// acknowledged. Memory ends exactly where the disk is; no fencing token is handed out twice.
import { afterAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { FileStore } from '../daemon/store/file-store.js';
import type { Journal } from '../daemon/store/journal.js';
import type { ReadView } from '../daemon/store/memory-state.js';
import { ApiError } from '../daemon/errors.js';
import { fill, mountTmpfs } from './helpers/tmpfs.js';

const fs = mountTmpfs(1024);
const mounted = typeof fs !== 'string';

afterAll(() => {
  if (typeof fs !== 'string') fs.unmount();
});

const quiet = { info() {}, warn() {}, error() {} };
const cause = { op: 'test', source: 'api' as const };

describe.skipIf(!mounted)('a failed journal batch', () => {
  it('is undone with every batch applied after it; writes come back once space does', async () => {
    const dir = (fs as Exclude<typeof fs, string>).dir;
    const store = new FileStore({ dataDir: dir, logger: quiet, watch: false });
    await store.open();
    const tokens: number[] = [];
    const claim = (key: string, pad = 0) =>
      store.transact((view: ReadView) => {
        const token = view.nextFencingToken();
        tokens.push(token);
        return { changes: [{ section: 'work', key, op: 'put', data: { work_item_id: key, fencing_token: token, pad: 'x'.repeat(pad) } }], result: token };
      }, cause);
    for (let i = 0; i < 5; i++) await claim(`kept_${i}`);
    const before = { revision: store.revision, checksum: store.checksum(), state: JSON.stringify(store.state()) };
    const filler = path.join(dir, 'filler.bin');
    fill(filler);
    // One batch in flight, two more applied on top of it while it is written.
    const first = claim('lost_0', 8192);
    await new Promise((r) => setImmediate(r));
    const later = [claim('lost_1'), claim('lost_2')];
    expect(store.revision).toBe(before.revision + 3); // all three applied in memory, none durable
    const settled = await Promise.allSettled([first, ...later]);
    for (const s of settled) {
      expect(s.status).toBe('rejected');
      const err = (s as PromiseRejectedResult).reason as ApiError;
      expect(err).toBeInstanceOf(ApiError);
      expect(err.code).toBe('storage_full');
      expect(err.status).toBe(507);
    }
    // Memory is back where the disk is.
    expect(store.revision).toBe(before.revision);
    expect(store.checksum()).toBe(before.checksum);
    expect(JSON.stringify(store.state())).toBe(before.state);
    expect(store.ready).toBe(false);
    expect(JSON.stringify(store.problems())).toContain('storage_full');
    // Refused at once while degraded, without touching the state.
    await expect(claim('refused')).rejects.toMatchObject({ code: 'storage_full' });
    expect(store.revision).toBe(before.revision);
    // Space back: taken again by itself, with the next revision and a token never handed out.
    rmSync(filler);
    await expect.poll(() => store.ready, { timeout: 10_000, interval: 100 }).toBe(true);
    const handedOut = Math.max(...tokens);
    const token = await claim('after');
    expect(token.revision).toBe(before.revision + 1);
    expect(token.result).toBeGreaterThan(handedOut);
    await store.close();
    // What a restart finds: the kept claims and the one after, none of the undone.
    const again = new FileStore({ dataDir: dir, logger: quiet, watch: false });
    await again.open();
    expect(again.revision).toBe(before.revision + 1);
    for (let i = 0; i < 5; i++) expect(again.get('work', `kept_${i}`)).toBeDefined();
    for (const key of ['lost_0', 'lost_1', 'lost_2', 'refused']) expect(again.get('work', key)).toBeUndefined();
    expect(again.get('work', 'after')?.data.fencing_token).toBe(token.result);
    await again.close();
  });

  it('undoes only what was not durable, even after a batch that ended with a view marker', async () => {
    const dir = path.join((fs as Exclude<typeof fs, string>).dir, 'marker');
    const store = new FileStore({ dataDir: dir, logger: quiet, watch: false, viewFlushMs: 600_000 });
    await store.open();
    const claim = (key: string, pad = 0) =>
      store.transact((view: ReadView) => {
        const token = view.nextFencingToken();
        return { changes: [{ section: 'work', key, op: 'put', data: { work_item_id: key, fencing_token: token, pad: 'x'.repeat(pad) } }], result: token };
      }, cause);
    await claim('kept');
    // One batch: a claim, then a legacy view's note of its file as of the revision before it.
    const journal = (store as unknown as { journal: Journal }).journal;
    const acked = claim('acked');
    await Promise.all([acked, journal.append({ m: 'view', f: 'work_claims.json', s: '00', r: store.revision - 1 })]);
    const durable = { revision: store.revision, state: JSON.stringify(store.state()) };
    const filler = path.join(dir, 'filler.bin');
    fill(filler);
    await expect(claim('lost', 8192)).rejects.toMatchObject({ code: 'storage_full' });
    // The acknowledged claim stays: only the failed batch was undone.
    expect(store.revision).toBe(durable.revision);
    expect(JSON.stringify(store.state())).toBe(durable.state);
    rmSync(filler);
    await expect.poll(() => store.ready, { timeout: 10_000, interval: 100 }).toBe(true);
    expect((await claim('after')).revision).toBe(durable.revision + 1);
    await store.close();
    const again = new FileStore({ dataDir: dir, logger: quiet, watch: false });
    await again.open();
    expect(again.revision).toBe(durable.revision + 1);
    for (const key of ['kept', 'acked', 'after']) expect(again.get('work', key), key).toBeDefined();
    expect(again.get('work', 'lost')).toBeUndefined();
    await again.close();
  });
});
