// The console's work-graph selectors, pure: readiness per item, the counts for the header, and the
// drill-down's trees with their bounds (depth, width, lines), diamonds drawn once and a cycle (which
// only an external file edit can write) stopped.
import { describe, expect, it } from 'vitest';
import type { CoordinationState, JsonObject } from '../shared/types.js';
import { dependencyTree, graphCounts, graphDetail, itemReadiness, waitsForText } from '../tui/model/graph-selectors.js';

function state(items: Array<[string, string, string[]?]>): CoordinationState {
  const work = Object.fromEntries(
    items.map(([id, status, deps]): [string, { v: number; rev: number; data: JsonObject }] => [
      id,
      { v: 1, rev: 1, data: { work_item_id: id, status, agent_id: status === 'claimed' ? 'ag' : null, ...(deps ? { depends_on: deps } : {}) } },
    ]),
  );
  return { work, agents: {}, log: {} };
}

const deps = (s: CoordinationState) => (id: string) => (s.work[id]?.data.depends_on as string[] | undefined) ?? [];
const draw = (lines: { prefix: string; text: string }[]) => lines.map((l) => l.prefix + l.text);

describe('readiness and counts', () => {
  it('ready, waiting, blocked and what for; legacy records without prerequisites skip the graph', () => {
    const s = state([
      ['a', 'failed'],
      ['b', 'pending', ['a', 'c']],
      ['c', 'claimed'],
      ['d', 'pending', ['c']],
      ['e', 'pending'],
      ['f', 'completed'],
      ['g', 'pending', ['gone']],
    ]);
    expect(waitsForText(itemReadiness(s, s.work.b.data))).toBe('✗ a failed; c');
    expect(itemReadiness(s, s.work.d.data)).toEqual({ state: 'waiting', waiting_for: ['c'], blocked_by: [] });
    expect(itemReadiness(s, s.work.e.data).state).toBe('ready');
    expect(itemReadiness(s, s.work.f.data).state).toBe('closed');
    expect(waitsForText(itemReadiness(s, s.work.g.data))).toBe('✗ gone missing');
    expect(graphCounts(s, 1)).toEqual({ ready: 1, waiting: 1, blocked: 2, linked: 3 });
    // Counted once per version: the same version gives the same answer without a recount.
    expect(graphCounts(s, 1)).toBe(graphCounts(s, 1));
    s.work.a.data.status = 'completed';
    expect(graphCounts(s, 2)).toEqual({ ready: 1, waiting: 2, blocked: 1, linked: 3 });
  });
});

describe('dependencyTree', () => {
  it('draws a diamond once and names the repeat', () => {
    const s = state([
      ['top', 'pending', ['l', 'r']],
      ['l', 'pending', ['base']],
      ['r', 'pending', ['base']],
      ['base', 'claimed'],
    ]);
    expect(draw(dependencyTree(s, 'top', deps(s)))).toEqual([
      '├─ l  pending · waiting (base)',
      '│  └─ base  claimed · ag',
      '└─ r  pending · waiting (base)',
      '   └─ base  (shown above)',
    ]);
    const g = graphDetail(s, 1, 'base')!;
    expect(draw(g.dependents)).toEqual([
      '├─ l  pending · waiting (base)',
      '│  └─ top  pending · waiting (l, r)',
      '└─ r  pending · waiting (base)',
      '   └─ top  (shown above)',
    ]);
    expect(g.prerequisites).toEqual([]);
    expect(g.holder).toBe('ag');
  });

  it('is bounded in depth, width and lines', () => {
    const chain = state(Array.from({ length: 10 }, (_, i): [string, string, string[]?] => [`c${i}`, 'pending', i < 9 ? [`c${i + 1}`] : undefined]));
    const deep = draw(dependencyTree(chain, 'c0', deps(chain), { depth: 3, width: 10, lines: 60 }));
    expect(deep).toHaveLength(4);
    expect(deep.slice(2)).toEqual(['      └─ c3  pending · waiting (c4)', '         └─ … 1 more below']);

    const wide = state([
      ['hub', 'pending', Array.from({ length: 15 }, (_, i) => `w${i}`)],
      ...Array.from({ length: 15 }, (_, i): [string, string] => [`w${i}`, 'pending']),
    ]);
    const w = draw(dependencyTree(wide, 'hub', deps(wide), { depth: 3, width: 4, lines: 60 }));
    expect(w).toEqual(['├─ w0  pending · ready', '├─ w1  pending · ready', '├─ w2  pending · ready', '├─ w3  pending · ready', '└─ … 11 more']);

    const l = draw(dependencyTree(wide, 'hub', deps(wide), { depth: 3, width: 20, lines: 5 }));
    expect(l).toHaveLength(6);
    expect(l[5]).toBe('… cut at 5 lines');
  });

  it('stops at a cycle', () => {
    const s = state([
      ['a', 'pending', ['b']],
      ['b', 'pending', ['c']],
      ['c', 'pending', ['a']],
    ]);
    expect(draw(dependencyTree(s, 'a', deps(s)))).toEqual(['└─ b  pending · waiting (c)', '   └─ c  pending · waiting (a)', '      └─ a  (cycle)']);
    const self = state([['s', 'pending', ['s']]]);
    expect(draw(dependencyTree(self, 's', deps(self)))).toEqual(['└─ s  (cycle)']);
  });
});
