// Bad input: a clear 4xx {error, message}, nothing written anywhere, the daemon stays healthy.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { startDaemon, type DaemonHandle } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';

let d: DaemonHandle;
let c: HttpClient;

/** One line per file (path and content hash): a failed comparison shows which file changed. */
function fingerprint(dir: string): string {
  const lines: string[] = [];
  const walk = (p: string) => {
    for (const f of readdirSync(p).sort()) {
      const full = path.join(p, f);
      // Not state: the pid file, the trace of the refused request itself (the span file and its index),
      // and the short-lived *.lock folders the daemon takes to read the legacy files.
      if (f === 'daemon.pid' || f === 'telemetry_spans.jsonl' || f === 'telemetry-index.json' || f.endsWith('.lock')) continue;
      if (statSync(full).isDirectory()) walk(full);
      else lines.push(`${path.relative(dir, full)} ${createHash('sha256').update(readFileSync(full)).digest('hex')}`);
    }
  };
  walk(dir);
  return lines.join('\n');
}

/** Waits until the claim's coalesced legacy file write is on disk and the data dir stops changing. */
async function settled(): Promise<void> {
  let last = '';
  for (let i = 0; i < 100; i++) {
    const claims = path.join(d.dataDir, 'work_claims.json');
    const fp = fingerprint(d.dataDir);
    if (existsSync(claims) && readFileSync(claims, 'utf8').includes('held_item') && fp === last) return;
    last = fp;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error('the data dir never settled after the claim');
}

beforeAll(async () => {
  d = await startDaemon();
  c = new HttpClient(d.url);
  expect((await c.post('/api/coordination/claim', { work_id: 'held_item', agent_id: 'holder_agent' })).status).toBe(200);
  await settled();
});
afterAll(async () => {
  c.close();
  expect(await d.stop()).toBe(0);
});

const cases: Array<[string, string, string, unknown, number, string, string?]> = [
  ['traversal work id', 'POST', '/api/coordination/claim', { work_id: '../x', agent_id: 'a' }, 400, 'invalid_id'],
  ['slash in work id', 'POST', '/api/coordination/claim', { work_id: 'a/b', agent_id: 'a' }, 400, 'invalid_id'],
  ['traversal agent id', 'POST', '/api/agents', { agent_id: '..' }, 400, 'invalid_id'],
  ['overlong id', 'POST', '/api/coordination/claim', { work_id: 'w'.repeat(200), agent_id: 'a' }, 400, 'invalid_id'],
  ['wrong type', 'POST', '/api/coordination/claim', { work_id: 123, agent_id: 'a' }, 400, 'invalid_request'],
  ['progress not a number', 'POST', '/api/coordination/progress', { work_id: 'held_item', agent_id: 'holder_agent', progress: 'half' }, 400, 'invalid_request'],
  ['progress out of range', 'POST', '/api/coordination/progress', { work_id: 'held_item', agent_id: 'holder_agent', progress: 250 }, 400, 'invalid_request'],
  ['missing agent', 'POST', '/api/coordination/claim', { work_id: 'x1' }, 400, 'invalid_request'],
  ['missing work type', 'POST', '/api/work', { description: 'no type' }, 400, 'invalid_request'],
  ['unknown priority', 'POST', '/api/work', { work_type: 't', priority: 'urgent!!' }, 400, 'invalid_request'],
  ['unknown field', 'POST', '/api/coordination/claim', { work_id: 'x2', agent_id: 'a', bogus: 1 }, 400, 'invalid_request'],
  ['array body', 'POST', '/api/agents', [1, 2], 400, 'invalid_request'],
  ['heartbeat of unknown agent', 'POST', '/api/agents/nobody/heartbeat', {}, 404, 'unknown_agent'],
  ['traversal in path', 'POST', '/api/agents/..%2Fetc/heartbeat', {}, 400, 'invalid_id'],
  ['progress by non-holder', 'POST', '/api/coordination/progress', { work_id: 'held_item', agent_id: 'intruder', progress: 5 }, 409, 'not_claim_holder'],
  ['complete of unknown work', 'POST', '/api/coordination/complete', { work_id: 'no_such_item', agent_id: 'holder_agent' }, 404, 'unknown_work'],
  [
    'stale expected_version',
    'POST',
    '/api/coordination/claim',
    { work_id: 'held_item', agent_id: 'holder_agent', expected_version: 7 },
    409,
    'version_conflict',
  ],
  [
    'wrong fencing token',
    'POST',
    '/api/coordination/progress',
    { work_id: 'held_item', agent_id: 'holder_agent', progress: 5, fencing_token: 999 },
    409,
    'stale_fencing_token',
  ],
  ['unknown route', 'GET', '/api/nope', undefined, 404, 'not_found'],
];

describe('bad input', () => {
  it.each(cases)('%s', async (_name, method, url, body, status, code) => {
    const before = fingerprint(d.dataDir);
    const rev = (await c.get('/api/coordination/status')).body.revision;
    const res = await c.request(method, url, body);
    expect(res.status).toBe(status);
    expect(res.body.error).toBe(code);
    expect(typeof res.body.message).toBe('string');
    expect(res.body.message.length).toBeGreaterThan(5);
    expect((await c.get('/api/coordination/status')).body.revision).toBe(rev);
    expect(fingerprint(d.dataDir)).toBe(before);
  });

  it('broken JSON, empty body, wrong content type and an oversized body: 4xx, nothing written', async () => {
    const before = fingerprint(d.dataDir);
    const broken = await c.request('POST', '/api/coordination/claim', undefined, {}, '{"work_id": "x", ');
    expect(broken.status).toBe(400);
    expect(broken.body.error).toBe('invalid_json');
    const empty = await c.request('POST', '/api/coordination/claim', undefined, { 'content-type': 'application/json' }, '');
    expect(empty.status).toBe(400);
    expect(empty.body.error).toBe('invalid_json');
    const text = await c.request('POST', '/api/coordination/claim', undefined, { 'content-type': 'text/plain' }, 'work_id=x');
    expect(text.status).toBe(415);
    expect(text.body.error).toBe('unsupported_media_type');
    const huge = await c.request('POST', '/api/work', undefined, {}, JSON.stringify({ work_type: 't', description: 'x'.repeat(200_000) }));
    expect(huge.status).toBe(413);
    expect(huge.body.error).toBe('payload_too_large');
    expect(fingerprint(d.dataDir)).toBe(before);
    expect((await c.get('/health')).status).toBe(200);
    expect((await c.get('/ready')).body.ready).toBe(true);
  });
});
