// The critical path (the longest chain of unfinished dependencies): the pure function in
// shared/work-graph.ts, pinned on chains, diamonds and ties; then the Scrum-at-Scale reports naming
// it, computed from a known state and printed by bin/coordination_helper.sh against a real daemon.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { healthAnalysis } from '../shared/legacy-insights.js';
import { buildReport, computeFigures, renderReport } from '../shared/legacy-reports.js';
import type { CoordinationState, JsonObject } from '../shared/types.js';
import { criticalPath, dependsOn } from '../shared/work-graph.js';
import { ROOT, startDaemon, type DaemonHandle } from './helpers/daemon.js';
import { HttpClient } from './helpers/http.js';

/** id -> record from [id, status, depends_on?] triples. */
function graph(...items: Array<[string, string, string[]?]>): Map<string, JsonObject> {
  return new Map(items.map(([id, status, deps]) => [id, { work_item_id: id, status, ...(deps ? { depends_on: deps } : {}) }]));
}

describe('criticalPath', () => {
  it('is empty without a dependency between unfinished items', () => {
    expect(criticalPath(new Map())).toEqual([]);
    expect(criticalPath(graph(['a', 'pending'], ['b', 'claimed']))).toEqual([]);
    // b waits for a finished item only: no chain of unfinished work.
    expect(criticalPath(graph(['a', 'completed'], ['b', 'pending', ['a']]))).toEqual([]);
    // A missing prerequisite is no item of the chain.
    expect(criticalPath(graph(['b', 'pending', ['gone']]))).toEqual([]);
  });

  it('follows a chain from the item to start with to the last dependent; finished items end it', () => {
    expect(criticalPath(graph(['c', 'pending', ['b']], ['b', 'pending', ['a']], ['a', 'in_progress']))).toEqual(['a', 'b', 'c']);
    expect(criticalPath(graph(['c', 'pending', ['b']], ['b', 'claimed', ['a']], ['a', 'completed']))).toEqual(['b', 'c']);
    // Finished dependents are not on it either.
    expect(criticalPath(graph(['a', 'pending'], ['b', 'pending', ['a']], ['c', 'completed', ['b']]))).toEqual(['a', 'b']);
  });

  it('keeps a failed item: it must be retried before its dependents can start', () => {
    expect(criticalPath(graph(['a', 'failed'], ['b', 'pending', ['a']], ['c', 'pending', ['b']]))).toEqual(['a', 'b', 'c']);
  });

  it('diamonds: the longer branch wins, whatever the order of depends_on', () => {
    //   a <- b <- d,  a <- x <- c <- d
    const g = graph(['d', 'pending', ['b', 'c']], ['b', 'pending', ['a']], ['c', 'pending', ['x']], ['x', 'pending', ['a']], ['a', 'pending']);
    expect(criticalPath(g)).toEqual(['a', 'x', 'c', 'd']);
    const swapped = graph(['d', 'pending', ['c', 'b']], ['b', 'pending', ['a']], ['c', 'pending', ['x']], ['x', 'pending', ['a']], ['a', 'pending']);
    expect(criticalPath(swapped)).toEqual(['a', 'x', 'c', 'd']);
  });

  it('ties: the smaller prerequisite at each step back, then the smaller end, independent of insertion order', () => {
    // A symmetric diamond: b and c tie; b is the smaller id.
    expect(criticalPath(graph(['d', 'pending', ['c', 'b']], ['c', 'pending', ['a']], ['b', 'pending', ['a']], ['a', 'pending']))).toEqual(['a', 'b', 'd']);
    // Two separate chains of two: the one ending at the smaller id.
    const items: Array<[string, string, string[]?]> = [
      ['q2', 'pending', ['q1']],
      ['q1', 'pending'],
      ['p2', 'pending', ['p1']],
      ['p1', 'pending'],
    ];
    expect(criticalPath(graph(...items))).toEqual(['p1', 'p2']);
    expect(criticalPath(graph(...items.reverse()))).toEqual(['p1', 'p2']);
    // Two roots feeding one item: the smaller root.
    expect(criticalPath(graph(['z', 'pending', ['r2', 'r1']], ['r2', 'pending'], ['r1', 'pending']))).toEqual(['r1', 'z']);
  });

  it('a cycle (only an external file edit can write one) ends without repeating an item', () => {
    const g = graph(['a', 'pending', ['c']], ['b', 'pending', ['a']], ['c', 'pending', ['b']], ['d', 'pending', ['c']]);
    const path = criticalPath(g);
    expect(path.length).toBeGreaterThanOrEqual(2);
    expect(new Set(path).size).toBe(path.length);
    // Every step is a real dependency: each item lists the one before it.
    for (let i = 1; i < path.length; i++) expect(dependsOn(g.get(path[i])!)).toContain(path[i - 1]);
    expect(criticalPath(graph(['s', 'pending', ['s']]))).toEqual([]); // depends on itself
  });

  it('a chain of 50,000 items, without recursion', () => {
    const items = new Map<string, JsonObject>();
    for (let i = 0; i < 50_000; i++)
      items.set(`w${String(i).padStart(5, '0')}`, { status: 'pending', ...(i ? { depends_on: [`w${String(i - 1).padStart(5, '0')}`] } : {}) });
    const path = criticalPath(items);
    expect(path.length).toBe(50_000);
    expect(path[0]).toBe('w00000');
    expect(path.at(-1)).toBe('w49999');
  });
});

const NOW = Date.UTC(2026, 10, 24, 12, 0, 0);

function state(work: JsonObject[]): CoordinationState {
  const entries = (list: JsonObject[], id: string) => Object.fromEntries(list.map((d) => [d[id] as string, { v: 1, rev: 1, data: d }]));
  return {
    agents: entries([{ agent_id: 'a1', team: 'alpha', capacity: 100, status: 'active' }], 'agent_id'),
    work: entries(work, 'work_item_id'),
    log: {},
  };
}

describe('the reports name the critical path', () => {
  const release: JsonObject[] = [
    { work_item_id: 'design', status: 'in_progress', agent_id: 'a1', team: 'alpha', priority: 'high', claimed_at: new Date(NOW - 3600_000).toISOString() },
    { work_item_id: 'build', status: 'pending', team: 'alpha', priority: 'high', depends_on: ['design'] },
    { work_item_id: 'docs', status: 'pending', team: 'beta', priority: 'low', depends_on: ['design'] },
    { work_item_id: 'ship', status: 'pending', team: 'beta', priority: 'critical', depends_on: ['build', 'docs'] },
  ];

  it('in the figures, every report that plans work, and as the next action', () => {
    const s = state(release);
    const f = computeFigures(s, { now: NOW });
    expect(f.critical_path.items.map((i) => [i.work_id, i.state, i.agent_id])).toEqual([
      ['design', 'held', 'a1'],
      ['build', 'waiting', null],
      ['ship', 'waiting', null],
    ]);
    const line = '🧭 Critical path (3 items): design (held by a1) → build (waiting) → ship (waiting)';
    for (const kind of ['dashboard', 'pi-planning', 'scrum-of-scrums', 'art-sync']) {
      const r = buildReport(kind, s, { now: NOW });
      expect((r.critical_path as { length: number }).length, kind).toBe(3);
      expect(renderReport(r), kind).toContain(line);
    }
    const sos = buildReport('scrum-of-scrums', s, { now: NOW });
    expect(sos.cross_team_actions).toContain('Keep design (held by a1) moving: it heads the critical path (3 items, ending at ship)');
    expect(healthAnalysis(f, [], null).recommendations.short_term[0]).toBe(
      'Keep design (held by a1) moving: it heads the critical path (3 items, ending at ship)',
    );
  });

  it('a failed head stalls the path: an immediate action and a reason in the health analysis', () => {
    const s = state([{ ...release[0], status: 'failed' }, ...release.slice(1)]);
    const f = computeFigures(s, { now: NOW });
    expect(f.critical_path.items[0]).toMatchObject({ work_id: 'design', state: 'failed' });
    const h = healthAnalysis(f, [], null);
    expect(h.system_health).toBe('degraded');
    expect(h.reasons).toContain('the critical path (3 items) is stalled at design (failed)');
    expect(h.recommendations.immediate).toContain('Retry or replace design (failed): it heads the critical path (3 items, ending at ship)');
  });

  it('says so when there is none; a long path keeps its head and its end', () => {
    expect(renderReport(buildReport('dashboard', state([{ work_item_id: 'x', status: 'pending' }]), { now: NOW }))).toContain(
      '🧭 Critical path: none (no unfinished item waits for another)',
    );
    const chain = Array.from({ length: 12 }, (_, i) => ({ work_item_id: `c${i + 10}`, status: 'pending', ...(i ? { depends_on: [`c${i + 9}`] } : {}) }));
    expect(renderReport(buildReport('art-sync', state(chain), { now: NOW }))).toContain(
      '🧭 Critical path (12 items): c10 (ready) → c11 (waiting) → c12 (waiting) → c13 (waiting) → c14 (waiting) → c15 (waiting) → c16 (waiting) → … 4 more → c21 (waiting)',
    );
  });
});

/** bin/coordination_helper.sh with the daemon's URL. */
function helper(url: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, AI_PROCESSOR_URL: url };
  delete env.AI_PROCESSOR_TOKEN;
  delete env.AGENT_ID;
  return new Promise((resolve) => {
    const p = spawn(path.join(ROOT, 'bin/coordination_helper.sh'), args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c) => (stdout += c));
    p.stderr.on('data', (c) => (stderr += c));
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('coordination_helper.sh prints the critical path of a real daemon', () => {
  let d: DaemonHandle;
  let c: HttpClient;
  beforeAll(async () => {
    d = await startDaemon({ args: ['--lease-ms', '3600000'] });
    c = new HttpClient(d.url);
  });
  afterAll(async () => {
    c?.close();
    expect(await d?.stop()).toBe(0);
  });

  it('follows the graph as items complete and fail', async () => {
    const created = await c.post('/api/work/batch', {
      items: [
        { work_id: 'cp_ship', work_type: 'release', team: 'ops', depends_on: ['cp_build', 'cp_docs'] },
        { work_id: 'cp_docs', work_type: 'docs', team: 'docs', depends_on: ['cp_design'] },
        { work_id: 'cp_build', work_type: 'code', team: 'dev', depends_on: ['cp_api'] },
        { work_id: 'cp_api', work_type: 'code', team: 'dev', depends_on: ['cp_design'] },
        { work_id: 'cp_design', work_type: 'design', team: 'dev', priority: 'high' },
      ],
    });
    expect(created.status).toBe(201);

    let dash = await helper(d.url, ['dashboard']);
    expect(dash.code, dash.stderr).toBe(0);
    expect(dash.stdout).toContain('🧭 Critical path (4 items): cp_design (ready) → cp_api (waiting) → cp_build (waiting) → cp_ship (waiting)');
    const json = JSON.parse((await helper(d.url, ['scrum-of-scrums', '--json'])).stdout);
    expect(json.critical_path.items.map((i: { work_id: string }) => i.work_id)).toEqual(['cp_design', 'cp_api', 'cp_build', 'cp_ship']);
    expect(json.cross_team_actions).toContain('Start cp_design (dev, high): it heads the critical path (4 items, ending at cp_ship)');

    // Design done, the API claimed: the path shrinks and names the holder.
    expect((await c.post('/api/coordination/claim', { work_id: 'cp_design', agent_id: 'cp_agent' })).status).toBe(200);
    expect((await c.post('/api/coordination/complete', { work_id: 'cp_design', agent_id: 'cp_agent' })).status).toBe(200);
    expect((await c.post('/api/coordination/claim', { work_id: 'cp_api', agent_id: 'cp_agent' })).status).toBe(200);
    dash = await helper(d.url, ['art-sync']);
    expect(dash.stdout).toContain('🧭 Critical path (3 items): cp_api (held by cp_agent) → cp_build (waiting) → cp_ship (waiting)');

    // The API fails: the path is stalled at it, and its dependent is blocked.
    expect((await c.post('/api/coordination/complete', { work_id: 'cp_api', agent_id: 'cp_agent', status: 'failed' })).status).toBe(200);
    const sos = await helper(d.url, ['scrum-of-scrums']);
    expect(sos.stdout).toContain('🧭 Critical path (3 items): cp_api (failed) → cp_build (blocked) → cp_ship (waiting)');
    expect(sos.stdout).toMatch(/\d+\. Retry or replace cp_api \(failed\): it heads the critical path \(3 items, ending at cp_ship\)/);
  });
});
