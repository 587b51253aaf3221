// Crash and damage, in the spirit of etcd's robustness tests: a real daemon under claim load is
// killed (SIGKILL) at random moments (mid journal flush, checkpoint or legacy write: the journal
// limit is small and the views are flushed often), and restarted; its snapshot and journal are
// damaged in the ways an unlucky operator or disk would. Every case ends in "every acknowledged
// change present" or "a refusal to start naming the file", and never in a legacy file rewritten
// with fewer records.
import { beforeAll, describe, expect, it } from 'vitest';
import { cpSync, existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Journal } from '../daemon/store/journal.js';
import { startDaemon, tempDir, type DaemonHandle } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';

const FAST = { AI_PROCESSOR_MAX_JOURNAL_BYTES: '16000', AI_PROCESSOR_VIEW_FLUSH_MS: '20' };

interface Ack {
  agent: string;
  token: number;
}

function claimsOnDisk(dir: string): Array<{ work_item_id: string }> {
  const file = path.join(dir, 'work_claims.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Array<{ work_item_id: string }>) : [];
}

async function expectAllAcked(d: DaemonHandle, acked: Map<string, Ack>): Promise<void> {
  const c = new HttpClient(d.url);
  const state = (await c.get('/api/coordination/status')).body.state;
  c.close();
  for (const [work, a] of acked) {
    expect(state.work[work]?.data.agent_id, work).toBe(a.agent);
    expect(state.work[work].data.fencing_token, work).toBe(a.token);
  }
}

/** Claims from a few clients until `stop()`; records every 200. */
function load(url: string, prefix: string, acked: Map<string, Ack>) {
  let stop = false;
  const clients = Array.from({ length: 4 }, () => new HttpClient(url));
  const done = Promise.all(
    clients.map(async (c, ci) => {
      for (let i = 0; !stop; i++) {
        const work_id = `${prefix}_${ci}_${i}`;
        const agent_id = `cd_agent_${ci}`;
        try {
          const r = await c.post('/api/coordination/claim', { work_id, agent_id });
          if (r.status === 200) acked.set(work_id, { agent: agent_id, token: r.body.claim.fencing_token });
        } catch {
          return; // the connection died with the daemon
        }
      }
    }),
  );
  return {
    stop: async () => {
      stop = true;
      await done;
      clients.forEach((c) => c.close());
    },
  };
}

/** Starts the daemon on `dir`: the handle, or the refusal (exit code and stderr). */
async function startOrRefusal(dir: string): Promise<{ d: DaemonHandle } | { refusal: string }> {
  try {
    return { d: await startDaemon({ dataDir: dir, env: FAST }) };
  } catch (err) {
    return { refusal: (err as Error).message };
  }
}

describe('crash and damage', () => {
  it('kill -9 at random moments under load: every acknowledged claim is there after each restart', async () => {
    const dir = tempDir('aip-cd-kill-');
    const acked = new Map<string, Ack>();
    let onDisk = 0;
    for (let cycle = 0; cycle < 4; cycle++) {
      const d = await startDaemon({ dataDir: dir, env: FAST });
      await expectAllAcked(d, acked);
      const l = load(d.url, `kill${cycle}`, acked);
      const target = acked.size + 30 + Math.floor(Math.random() * 90);
      await expect.poll(() => acked.size, { timeout: 20_000, interval: 2 }).toBeGreaterThanOrEqual(target);
      d.proc.kill('SIGKILL');
      await l.stop();
      await d.exited;
      // The legacy file is whole, and never holds fewer records than before.
      const records = claimsOnDisk(dir).length;
      expect(records).toBeGreaterThanOrEqual(onDisk);
      onDisk = records;
    }
    expect(readdirSync(path.join(dir, '.ai-processor'))).toContain('journal.prev.jsonl'); // checkpoints happened
    const d = await startDaemon({ dataDir: dir, env: FAST });
    await expectAllAcked(d, acked);
    expect(d.logs.some((l) => l.includes('journal') && l.includes('corrupt'))).toBe(false);
    expect(await d.stop()).toBe(0);
    const ids = new Set(claimsOnDisk(dir).map((r) => r.work_item_id));
    for (const work of acked.keys()) expect(ids.has(work), work).toBe(true);
    // Nothing of ours is left behind as a temp file by the kills (they are removed at start).
    const temps = [...readdirSync(dir), ...readdirSync(path.join(dir, '.ai-processor'))].filter((f) => f.endsWith('.tmp'));
    expect(temps).toEqual([]);
  }, 180_000); // five daemon starts and four load phases on a loaded machine

  it('temp files a killed daemon left are removed at start: only ours', async () => {
    const dir = tempDir('aip-cd-tmp-');
    let d = await startDaemon({ dataDir: dir });
    expect(await d.stop()).toBe(0);
    const metaDir = path.join(dir, '.ai-processor');
    const ours = [
      path.join(dir, '.work_claims.json.4242.0a1b2c3d.tmp'),
      path.join(dir, '.coordination_log.json.77.ffffffff.tmp'),
      path.join(metaDir, '.snapshot.json.4242.deadbeef.tmp'),
      path.join(metaDir, '.storage-probe.tmp'),
      path.join(metaDir, 'views', '.work_claims.json.meta.4242.00000000.tmp'),
    ];
    const theirs = [path.join(dir, '.notes.txt.4242.0a1b2c3d.tmp'), path.join(dir, 'work_claims.json.tmp'), path.join(dir, '.work_claims.json.tmp')];
    for (const f of [...ours, ...theirs]) writeFileSync(f, 'x'.repeat(1000));
    d = await startDaemon({ dataDir: dir });
    for (const f of ours) expect(existsSync(f), f).toBe(false);
    for (const f of theirs) expect(existsSync(f), f).toBe(true);
    expect(d.logs.some((l) => l.includes('removed temp files left by a killed ai-processor'))).toBe(true);
    expect(await d.stop()).toBe(0);
  });

  describe('damaged snapshot or journal', () => {
    // One data dir with checkpoints behind it, copied for each kind of damage.
    const acked = new Map<string, Ack>();
    let origin = '';
    let records = 0;
    beforeAll(async () => {
      origin = tempDir('aip-cd-origin-');
      const d = await startDaemon({ dataDir: origin, env: FAST });
      const c = new HttpClient(d.url);
      for (let i = 0; i < 120; i++) {
        const r = await c.post('/api/coordination/claim', { work_id: `dmg_${i}`, agent_id: `dmg_agent_${i % 4}` });
        expect(r.status).toBe(200);
        acked.set(`dmg_${i}`, { agent: `dmg_agent_${i % 4}`, token: r.body.claim.fencing_token });
      }
      c.close();
      expect(await d.stop()).toBe(0);
      records = claimsOnDisk(origin).length;
      expect(records).toBe(120);
      expect(readdirSync(path.join(origin, '.ai-processor'))).toContain('journal.prev.jsonl');
    }, 60_000);

    const copy = async () => {
      const dir = tempDir('aip-cd-');
      rmSync(dir, { recursive: true });
      cpSync(origin, dir, { recursive: true });
      return dir;
    };
    const meta = (dir: string, f: string) => path.join(dir, '.ai-processor', f);
    const lines = (file: string) =>
      readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l !== '');

    /** Either every acknowledged claim is there, or the start is refused naming `file`; the legacy file keeps its records either way. */
    async function outcome(dir: string, file: string): Promise<'refused' | 'started'> {
      const r = await startOrRefusal(dir);
      let result: 'refused' | 'started';
      if ('refusal' in r) {
        expect(r.refusal).toContain(file);
        result = 'refused';
      } else {
        await expectAllAcked(r.d, acked);
        expect(await r.d.stop()).toBe(0); // writes the legacy files, if it may
        result = 'started';
      }
      expect(claimsOnDisk(dir).length).toBeGreaterThanOrEqual(records);
      return result;
    }

    it('a snapshot cut at a line boundary is refused, naming it', async () => {
      const dir = await copy();
      const snap = meta(dir, 'snapshot.json');
      const all = lines(snap);
      writeFileSync(snap, all.slice(0, Math.floor(all.length / 2)).join('\n') + '\n');
      expect(await outcome(dir, snap)).toBe('refused');
    });

    it('a snapshot reduced to its header is refused, naming it', async () => {
      const dir = await copy();
      const snap = meta(dir, 'snapshot.json');
      writeFileSync(snap, lines(snap)[0] + '\n');
      expect(await outcome(dir, snap)).toBe('refused');
    });

    it('a snapshot deleted after a checkpoint is refused, naming it', async () => {
      const dir = await copy();
      const snap = meta(dir, 'snapshot.json');
      rmSync(snap);
      expect(await outcome(dir, snap)).toBe('refused');
    });

    it('garbage in the middle of the journal is refused, naming it', async () => {
      const dir = await copy();
      const journal = meta(dir, 'journal.jsonl');
      const all = lines(journal);
      expect(all.length).toBeGreaterThanOrEqual(2);
      all.splice(Math.floor(all.length / 2), 0, '{"r":garbage');
      writeFileSync(journal, all.join('\n') + '\n');
      expect(await outcome(dir, 'journal.jsonl')).toBe('refused');
    });

    it('a whole snapshot of the older format (no trailer) is still read', async () => {
      const dir = await copy();
      const snap = meta(dir, 'snapshot.json');
      const all = lines(snap);
      const head = JSON.parse(all[0]) as { trailer?: boolean };
      delete head.trailer;
      writeFileSync(snap, [JSON.stringify(head), ...all.slice(1, -1)].join('\n') + '\n');
      expect(await outcome(dir, snap)).toBe('started');
    });

    it('an older-format snapshot cut short (not detectable) starts, but the legacy file is not rewritten without its records', async () => {
      const dir = await copy();
      const snap = meta(dir, 'snapshot.json');
      const all = lines(snap);
      const head = JSON.parse(all[0]) as { trailer?: boolean };
      delete head.trailer;
      writeFileSync(snap, [JSON.stringify(head), ...all.slice(1, 20)].join('\n') + '\n');
      const d = await startDaemon({ dataDir: dir, env: FAST });
      const c = new HttpClient(d.url);
      // A change makes the view want to write: it refuses, and says so.
      expect((await c.post('/api/coordination/claim', { work_id: 'dmg_new', agent_id: 'dmg_agent_0' })).status).toBe(200);
      await expect.poll(async () => JSON.stringify((await c.get('/ready')).body.problems), { timeout: 15_000 }).toContain('refusing to rewrite');
      c.close();
      expect(await d.stop()).toBe(0);
      expect(claimsOnDisk(dir).length).toBeGreaterThanOrEqual(records);
    });
  });
});

describe('journal batches', () => {
  it('a view marker (the revision a legacy file reflects, often behind) does not lower the revision a batch is durable up to', async () => {
    // Was: a batch ending with a marker reported only the marker's revision durable; the changes
    // above it stayed "pending", the next checkpoint left them out of the snapshot and put them in
    // the rotated journal only, and the next start refused: "journal jumps from revision N to N+3".
    const durable: number[] = [];
    const j = new Journal(path.join(tempDir('aip-journal-'), 'journal.jsonl'), { onDurable: (r) => durable.push(r) });
    await j.open();
    await Promise.all([
      j.append({ r: 1, t: '1', c: [] }),
      j.append({ r: 2, t: '2', c: [] }),
      j.append({ m: 'view', f: 'work_claims.json', s: 'a'.repeat(64), r: 1 }),
    ]);
    expect(durable).toEqual([2]);
    await j.append({ m: 'view', f: 'work_claims.json', s: 'b'.repeat(64), r: 2 });
    expect(durable).toEqual([2]); // a batch of markers alone makes no change durable
    await j.close();
  });
});
