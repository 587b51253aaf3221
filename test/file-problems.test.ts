// Problems with the legacy files, against a real daemon: each is reported at once (/ready, log,
// metric, `file_problem` stream event) without quoting the file, the file is left untouched, and the
// report goes away when the condition does. Locks: ours never stay behind, an abandoned lock
// directory is removed after 10 s, a plain lock file is reported and waited on.
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { StreamClient } from '../client/stream-client.js';
import type { EventMessage } from '../shared/protocol.js';
import { withFileLock } from '../daemon/store/file-lock.js';
import { startDaemon, tempDir, type DaemonHandle } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';

let d: DaemonHandle | null = null;
afterEach(async () => {
  await d?.stop();
  d = null;
});

interface Problem {
  file: string;
  kind: string;
  error: string;
}

async function problems(c: HttpClient): Promise<Problem[]> {
  return (await c.get('/ready')).body.problems as Problem[];
}

const POLL = { timeout: 15_000, interval: 100 };
const claimsFile = (dir: string) => path.join(dir, 'work_claims.json');
const onDisk = (dir: string) => JSON.parse(readFileSync(claimsFile(dir), 'utf8')) as Array<Record<string, unknown>>;

async function claim(c: HttpClient, id: string, agent = 'a'): Promise<void> {
  expect((await c.post('/api/coordination/claim', { work_id: id, agent_id: agent })).status).toBe(200);
}

/** Waits until the daemon has written `id` to work_claims.json. */
async function inFile(dir: string, id: string): Promise<void> {
  await expect
    .poll(() => {
      try {
        return onDisk(dir).some((r) => r.work_item_id === id);
      } catch {
        return false;
      }
    }, POLL)
    .toBe(true);
}

/** Waits until agent_status.json lists `agent`: proof that the daemon has written its files after a change. */
async function agentInFile(dir: string, agent: string): Promise<void> {
  await expect
    .poll(() => {
      try {
        return (JSON.parse(readFileSync(path.join(dir, 'agent_status.json'), 'utf8')) as Array<Record<string, unknown>>).some((r) => r.agent_id === agent);
      } catch {
        return false;
      }
    }, POLL)
    .toBe(true);
}

/** mkdir of a lock directory, retried while the daemon holds it (as a script's loop does). */
async function takeLock(lock: string): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      mkdirSync(lock);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || i > 200) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/**
 * Creates a plain lock file as a legacy helper does (noclobber: fails while any lock is there),
 * retried while the daemon holds its lock directory for a write still finishing.
 */
async function takePlainLock(lock: string, content: string): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      writeFileSync(lock, content, { flag: 'wx' });
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== 'EEXIST' && code !== 'EISDIR') || i > 500) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

describe('legacy file problems are reported at once and cleared when gone', () => {
  it('an unparseable file (symlinked to a secret): /ready, metric, log and stream event, never its content; cleared once fixed', async () => {
    d = await startDaemon({ args: ['--lease-ms', '3600000'] });
    const c = new HttpClient(d.url);
    const sc = new StreamClient({ url: d.url }).start();
    const events: EventMessage[] = [];
    sc.on('event', (e: EventMessage) => events.push(e));
    await claim(c, 'before');
    await inFile(d.dataDir, 'before');
    const secret = path.join(tempDir('aip-secret-'), 'passwd');
    writeFileSync(secret, 'root:x:0:0:TOPSECRET:/root:/bin/bash\nuser:x:1000:1000::/home/user:/bin/sh\n');
    const file = claimsFile(d.dataDir);
    unlinkSync(file);
    symlinkSync(secret, file);
    await expect.poll(async () => (await problems(c)).map((p) => p.kind), POLL).toEqual(['unparseable']);
    const [p] = await problems(c);
    expect(p.file).toBe('work_claims.json');
    expect(p.error).toMatch(/^not valid JSON at line 1, column 1 \(character 0\)$/);
    const ready = await c.get('/ready');
    expect(JSON.stringify(ready.body)).not.toMatch(/root|TOPSECRET|bin\/bash/);
    expect((await c.get('/metrics')).body as string).toMatch(/state_sync_failures_total\{reason="unparseable_file"\} [1-9]/);
    await expect.poll(() => events.filter((e) => e.event === 'file_problem').length, POLL).toBeGreaterThan(0);
    expect(JSON.stringify(events)).not.toMatch(/TOPSECRET|root:x/);
    expect(d.logs.some((l) => l.includes('legacy file is unreadable or locked'))).toBe(true);
    expect(d.logs.join('\n')).not.toMatch(/TOPSECRET|root:x/);
    // The target is never overwritten, even when the daemon has something to write.
    await claim(c, 'during');
    await agentInFile(d.dataDir, 'a');
    expect(readFileSync(secret, 'utf8')).toMatch(/^root:x:0:0:TOPSECRET/);
    // Fixed: the problem goes away and the file is written again with everything.
    unlinkSync(file);
    await expect.poll(async () => (await problems(c)).length, POLL).toBe(0);
    await inFile(d.dataDir, 'during');
    sc.stop();
    c.close();
  });

  it('a parse error names its line and column', async () => {
    d = await startDaemon();
    const c = new HttpClient(d.url);
    await claim(c, 'x1');
    await inFile(d.dataDir, 'x1');
    writeFileSync(claimsFile(d.dataDir), '[\n  {"work_item_id": "x1"},\n  {"work_item_id": tru}\n]\n');
    await expect.poll(async () => (await problems(c)).map((p) => p.error), POLL).toEqual(['not valid JSON at line 3, column 20 (character 47)']);
    c.close();
  });

  it('a legacy file replaced by a directory is reported without waiting for a write, and cleared when it is a file again', async () => {
    d = await startDaemon();
    const c = new HttpClient(d.url);
    await claim(c, 'd1');
    await inFile(d.dataDir, 'd1');
    const file = claimsFile(d.dataDir);
    unlinkSync(file);
    mkdirSync(file);
    await expect.poll(async () => (await problems(c)).map((p) => [p.kind, p.error]), POLL).toEqual([['unreadable', 'cannot read: EISDIR (read)']]);
    rmSync(file, { recursive: true });
    await expect.poll(async () => (await problems(c)).length, POLL).toBe(0);
    await inFile(d.dataDir, 'd1'); // written again
    expect(d.logs.some((l) => l.includes('legacy file problem resolved'))).toBe(true);
    c.close();
  });

  it('a directory in place of a legacy file at start: the daemon starts and reports it', async () => {
    const dir = tempDir('aip-dirfile-');
    mkdirSync(path.join(dir, 'agent_status.json'));
    d = await startDaemon({ dataDir: dir });
    const c = new HttpClient(d.url);
    expect((await problems(c)).map((p) => [p.file, p.kind, p.error])).toEqual([['agent_status.json', 'unreadable', 'cannot read: EISDIR (read)']]);
    await claim(c, 'works');
    await inFile(dir, 'works');
    c.close();
  });

  it('a record nested 9,000 deep is reported, not imported, and never breaks a write', async () => {
    d = await startDaemon();
    const c = new HttpClient(d.url);
    await claim(c, 'n1');
    await inFile(d.dataDir, 'n1');
    const file = claimsFile(d.dataDir);
    const deep = '{"a":'.repeat(9000) + '1' + '}'.repeat(9000);
    const text = readFileSync(file, 'utf8').replace(/\]\s*$/, `,\n  {"work_item_id": "deep", "x": ${deep}}\n]\n`);
    writeFileSync(file, text);
    await expect.poll(async () => (await problems(c)).map((p) => p.kind), POLL).toEqual(['too_deep']);
    expect((await problems(c))[0].error).toBe('element 1 is nested deeper than 512 levels: file not imported, not overwritten');
    await claim(c, 'n2', 'b');
    await agentInFile(d.dataDir, 'b'); // the daemon wrote after the claim: not this file
    expect(readFileSync(file, 'utf8')).toBe(text);
    expect((await c.get('/api/coordination/status')).body.state.work.deep).toBeUndefined();
    expect((await problems(c)).map((p) => p.kind)).toEqual(['too_deep']); // never a "write failed"
    c.close();
  });

  it('a file over --max-legacy-file-bytes: reported, neither imported nor overwritten; read again once it is small', async () => {
    d = await startDaemon({ args: ['--max-legacy-file-bytes', '4096', '--log-level', 'debug'] });
    const c = new HttpClient(d.url);
    await claim(c, 'small');
    await inFile(d.dataDir, 'small');
    const file = claimsFile(d.dataDir);
    const records = onDisk(d.dataDir);
    for (let i = 0; i < 100; i++) records.push({ work_item_id: `big_${i}`, status: 'pending', description: 'x'.repeat(40) });
    const text = JSON.stringify(records, null, 2) + '\n';
    expect(text.length).toBeGreaterThan(4096);
    writeFileSync(file, text);
    await expect.poll(async () => (await problems(c)).map((p) => p.kind), POLL).toEqual(['too_large']);
    expect((await problems(c))[0].error).toBe(
      `file is ${text.length} bytes, over the limit of 4096 (max_legacy_file_bytes): not read, not overwritten; shrink it or raise the limit`,
    );
    await claim(c, 'later', 'b');
    await agentInFile(d.dataDir, 'b');
    expect(readFileSync(file, 'utf8')).toBe(text);
    const state = (await c.get('/api/coordination/status')).body.state.work;
    expect(Object.keys(state).filter((k) => k.startsWith('big_'))).toEqual([]);
    expect(state.later).toBeDefined();
    // Small again: read and merged, problem gone.
    writeFileSync(file, JSON.stringify(records.slice(0, 3), null, 2) + '\n');
    await expect.poll(async () => (await problems(c)).length, POLL).toBe(0);
    await expect.poll(async () => Boolean((await c.get('/api/coordination/status')).body.state.work.big_1), POLL).toBe(true);
    await inFile(d.dataDir, 'later');
    c.close();
  });

  it('a missing file whose lock was held for a while: the lock problem goes away with the lock', async () => {
    d = await startDaemon();
    const c = new HttpClient(d.url);
    const log = path.join(d.dataDir, 'coordination_log.json');
    expect(existsSync(log)).toBe(false);
    await takeLock(log + '.lock');
    // The scan finds the lock held (waits 2 s for it, then reports).
    await expect.poll(async () => (await problems(c)).map((p) => [p.file, p.kind]), POLL).toEqual([['coordination_log.json', 'locked']]);
    rmSync(log + '.lock', { recursive: true });
    await expect.poll(async () => (await problems(c)).length, POLL).toBe(0);
    expect((await c.get('/ready')).status).toBe(200);
    c.close();
  });
});

describe('locks', () => {
  it('a lock held longer than its refresh period is still removed at release (was left behind)', async () => {
    const file = path.join(tempDir('aip-lock-'), 'work_claims.json');
    writeFileSync(file, '[]\n');
    const lost: string[] = [];
    await withFileLock(
      file,
      async () => {
        expect(statSync(file + '.lock').isDirectory()).toBe(true);
        await new Promise((r) => setTimeout(r, 4_500));
      },
      { onLost: (why) => lost.push(why) },
    );
    expect(existsSync(file + '.lock')).toBe(false);
    expect(lost).toEqual([]);
  }, 15_000);

  it('a lock taken over by someone else while held is reported and left to them', async () => {
    const file = path.join(tempDir('aip-lock-'), 'work_claims.json');
    const lost: string[] = [];
    await withFileLock(
      file,
      async () => {
        rmSync(file + '.lock', { recursive: true });
        mkdirSync(file + '.lock'); // a script's
      },
      { onLost: (why) => lost.push(why) },
    );
    expect(existsSync(file + '.lock')).toBe(true);
    expect(lost).toEqual(['work_claims.json.lock was removed by someone else while held']);
  });

  it('an abandoned lock directory (older than 10 s) is removed and the file written; a fresh one is waited on', async () => {
    d = await startDaemon();
    const c = new HttpClient(d.url);
    await claim(c, 's1');
    await inFile(d.dataDir, 's1');
    const lock = claimsFile(d.dataDir) + '.lock';
    await takeLock(lock);
    await claim(c, 's2');
    // Fresh: held, reported, the file not written.
    await expect.poll(async () => (await problems(c)).map((p) => p.kind), POLL).toEqual(['locked']);
    expect(onDisk(d.dataDir).some((r) => r.work_item_id === 's2')).toBe(false);
    // Made old: removed, the write goes through, the problem goes.
    const old = new Date(Date.now() - 20_000);
    utimesSync(lock, old, old);
    await inFile(d.dataDir, 's2');
    await expect.poll(() => existsSync(lock), POLL).toBe(false); // and ours released after the write
    expect(d.logs.some((l) => l.includes('removed an abandoned lock directory'))).toBe(true);
    await expect.poll(async () => (await problems(c)).length, POLL).toBe(0);
    c.close();
  });

  it('a plain lock file (legacy helper) is reported in log and /ready, waited on however old, never removed', async () => {
    d = await startDaemon();
    const c = new HttpClient(d.url);
    await claim(c, 'p1');
    await inFile(d.dataDir, 'p1');
    const lock = claimsFile(d.dataDir) + '.lock';
    await takePlainLock(lock, '12345\n');
    const old = new Date(Date.now() - 60_000);
    utimesSync(lock, old, old);
    await claim(c, 'p2');
    await expect.poll(async () => (await problems(c)).map((p) => p.kind), POLL).toEqual(['locked']);
    expect((await problems(c))[0].error).toMatch(/work_claims\.json\.lock is a plain lock file/);
    await expect.poll(() => d!.logs.some((l) => l.includes('plain lock file')), POLL).toBe(true);
    // Reported means tried: a lock file a minute old (a directory that old would be gone) is still there.
    expect(existsSync(lock)).toBe(true);
    expect(onDisk(d.dataDir).some((r) => r.work_item_id === 'p2')).toBe(false);
    unlinkSync(lock);
    await inFile(d.dataDir, 'p2');
    await expect.poll(async () => (await problems(c)).length, POLL).toBe(0);
    c.close();
  }, 60_000);
});
