// A checkpoint (snapshot, then journal.jsonl renamed to journal.prev.jsonl and a fresh journal)
// must never leave durable records in journal.prev.jsonl only. The journal reports how far a batch
// is durable by its records, not by the legacy views' markers that share the batch (their revision
// is the older one their file reflects), and a start whose journal begins after the snapshot takes
// the missing records from journal.prev.jsonl when it holds every one of them.
import { describe, expect, it } from 'vitest';
import { copyFileSync, cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Journal } from '../daemon/store/journal.js';
import { FileStore, META_DIR } from '../daemon/store/file-store.js';
import type { ReadView } from '../daemon/store/memory-state.js';
import { tempDir } from './helpers/daemon.js';

const cause = { op: 'test', source: 'api' as const };

function capture() {
  const warnings: string[] = [];
  return { warnings, logger: { info() {}, warn: (_o: object | string, m?: string) => void warnings.push(m ?? ''), error() {} } };
}

function record(r: number) {
  return { r, t: String(r), c: [{ s: 'work' as const, k: `w${r}`, o: 'del' as const }] };
}

const snapshotRevision = (meta: string) => (JSON.parse(readFileSync(path.join(meta, 'snapshot.json'), 'utf8').split('\n')[0]) as { revision: number }).revision;

/** The record revisions of a journal file, in file order (view markers left out). */
function records(file: string): number[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{"r":'))
    .map((l) => (JSON.parse(l) as { r: number }).r);
}

describe('journal batches', () => {
  it('are durable up to their highest record, whatever view marker was queued after the records', async () => {
    const reported: number[] = [];
    const journal = new Journal(path.join(tempDir('aip-journal-'), 'journal.jsonl'), { onDurable: (r) => reported.push(r) });
    await journal.open();
    // One batch: two records, then the marker of a legacy file written as of an older revision.
    await Promise.all([journal.append(record(212)), journal.append(record(213)), journal.append({ m: 'view', f: 'work_claims.json', s: 'ab', r: 211 })]);
    expect(reported).toEqual([213]);
    expect(journal.durableRevision).toBe(213);
    // A batch of markers alone makes no record durable.
    await journal.append({ m: 'view', f: 'agents.json', s: 'cd', r: 213 });
    expect(reported).toEqual([213]);
    await journal.close();
  });
});

describe('a checkpoint after a batch that ended with a view marker', () => {
  it('snapshots every durable record, so a restart finds no gap between snapshot and journal', async () => {
    const dir = tempDir('aip-rot-marker-');
    // A checkpoint before every batch; no view flush of its own until close (its markers would add batches).
    const store = new FileStore({ dataDir: dir, logger: capture().logger, watch: false, maxJournalBytes: 1, viewFlushMs: 600_000 });
    await store.open();
    const claim = (key: string) =>
      store.transact(
        (view: ReadView) => ({
          changes: [{ section: 'work', key, op: 'put', data: { work_item_id: key, agent_id: 'a', fencing_token: view.nextFencingToken() } }],
          result: null,
        }),
        cause,
      );
    await claim('before');
    // A legacy view notes its file (written as of an older revision) in the same batch as a claim:
    // what the view's flush does when its rename comes while claims are queued.
    const journal = (store as unknown as { journal: Journal }).journal;
    const a = claim('a');
    const marker = journal.append({ m: 'view', f: 'work_claims.json', s: '00', r: store.revision - 1 });
    await Promise.all([a, marker]);
    await claim('b'); // its batch starts with a checkpoint: the snapshot must hold 'a'
    const revision = store.revision;
    // A kill now: the files as they are (a clean close would checkpoint once more and hide a gap).
    const killed = tempDir('aip-rot-killed-');
    cpSync(dir, killed, { recursive: true });
    await store.close();
    // No durable record is left in journal.prev.jsonl only: the snapshot reaches at least that far.
    const meta = path.join(killed, META_DIR);
    const inPrev = records(path.join(meta, 'journal.prev.jsonl'));
    expect(inPrev.length).toBeGreaterThan(0);
    expect(snapshotRevision(meta)).toBeGreaterThanOrEqual(Math.max(...inPrev));
    expect(records(path.join(meta, 'journal.jsonl'))[0]).toBe(snapshotRevision(meta) + 1);
    const { warnings, logger } = capture();
    const again = new FileStore({ dataDir: killed, logger, watch: false, maxJournalBytes: 1 });
    await again.open();
    try {
      expect(warnings).toEqual([]);
      expect(again.revision).toBe(revision);
      for (const key of ['before', 'a', 'b']) expect(again.state().work[key]?.data.work_item_id, key).toBe(key);
    } finally {
      await again.close();
    }
  });
});

describe('a start whose journal begins after the snapshot', () => {
  /** Claims one at a time until two checkpoints have rotated the journal; returns the snapshot of the first. */
  async function twoRotations(dir: string): Promise<{ keys: string[]; revision: number; olderSnapshot: string }> {
    // Rotations by the claims alone: no view flush until close.
    const store = new FileStore({ dataDir: dir, logger: capture().logger, watch: false, maxJournalBytes: 3000, viewFlushMs: 600_000 });
    await store.open();
    const meta = path.join(dir, META_DIR);
    const olderSnapshot = path.join(dir, 'snapshot.older.json');
    const keys: string[] = [];
    const seen: number[] = [snapshotRevision(meta)];
    for (let i = 0, after = 0; after < 3; i++) {
      const key = `rot_${i}`;
      await store.transact(
        (view: ReadView) => ({
          changes: [{ section: 'work', key, op: 'put', data: { work_item_id: key, agent_id: 'a', fencing_token: view.nextFencingToken() } }],
          result: null,
        }),
        cause,
      );
      keys.push(key);
      const rev = snapshotRevision(meta);
      if (rev !== seen[seen.length - 1]) {
        seen.push(rev);
        if (seen.length === 2) copyFileSync(path.join(meta, 'snapshot.json'), olderSnapshot);
      }
      if (seen.length === 3) after++;
      expect(i).toBeLessThan(2000);
    }
    const revision = store.revision;
    await store.close();
    expect(existsSync(path.join(meta, 'journal.prev.jsonl'))).toBe(true);
    return { keys, revision, olderSnapshot };
  }

  it('replays the missing records from journal.prev.jsonl when it holds every one of them', async () => {
    const dir = tempDir('aip-rot-bridge-');
    const meta = path.join(dir, META_DIR);
    const { keys, revision, olderSnapshot } = await twoRotations(dir);
    // The state a checkpoint that snapshotted too old a revision left: snapshot, gap, journal.
    copyFileSync(olderSnapshot, path.join(meta, 'snapshot.json'));
    const firstInJournal = records(path.join(meta, 'journal.jsonl'))[0];
    expect(firstInJournal).toBeGreaterThan(snapshotRevision(meta) + 1);
    const { warnings, logger } = capture();
    const store = new FileStore({ dataDir: dir, logger, watch: false, maxJournalBytes: 3000 });
    await store.open();
    try {
      expect(store.revision).toBe(revision);
      const work = store.state().work;
      for (const key of keys) expect(work[key]?.data.work_item_id, key).toBe(key);
      expect(warnings.some((w) => w.includes('replaying the changes in between from the rotated journal'))).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('still refuses when journal.prev.jsonl lacks one of the missing records', async () => {
    const dir = tempDir('aip-rot-gap-');
    const meta = path.join(dir, META_DIR);
    const { olderSnapshot } = await twoRotations(dir);
    copyFileSync(olderSnapshot, path.join(meta, 'snapshot.json'));
    const prevFile = path.join(meta, 'journal.prev.jsonl');
    const lines = readFileSync(prevFile, 'utf8').split('\n');
    const middle = lines.findIndex((l, i) => i > 0 && l.startsWith('{"r":'));
    writeFileSync(prevFile, lines.filter((_, i) => i !== middle).join('\n'));
    const store = new FileStore({ dataDir: dir, logger: capture().logger, watch: false, maxJournalBytes: 3000 });
    await expect(store.open()).rejects.toThrow(/jumps from revision \d+ to \d+: the changes in between are missing/);
  });
});
