import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  EntropyTracker,
  captureBaseline,
  compareToBaseline,
  conservationRatio,
  shannonEntropy,
  stateEntropy,
  valueEntropy,
  type EntropyInput,
  type EntropyReport,
  type EntropySection,
} from '../shared/entropy.js';
import { legacySpanValues, parseLegacySpans } from '../shared/legacy-spans.js';
import type { CoordinationState, JsonObject } from '../shared/types.js';

const REF = new URL('./fixtures/', import.meta.url);
function loadReference(copy: 'original' | 'legacy'): EntropyInput {
  const dir = new URL(`${copy}/`, REF);
  return {
    work: JSON.parse(readFileSync(new URL('work_claims.json', dir), 'utf8')) as JsonObject[],
    agents: JSON.parse(readFileSync(new URL('agent_status.json', dir), 'utf8')) as JsonObject[],
    spans: legacySpanValues(parseLegacySpans(readFileSync(new URL('telemetry_spans.jsonl', dir), 'utf8'))),
  };
}

function expectReportsClose(a: EntropyReport, b: EntropyReport): void {
  expect(a.counts).toEqual(b.counts);
  expect(a.total).toBeCloseTo(b.total, 9);
  for (const c of ['coordination', 'agents', 'telemetry'] as const) {
    expect(a.components[c]).toBeCloseTo(b.components[c], 9);
    for (const [f, h] of Object.entries(b.fields[c])) expect(a.fields[c][f]).toBeCloseTo(h, 9);
  }
}

describe('shannonEntropy / valueEntropy', () => {
  it('gives the textbook values', () => {
    expect(shannonEntropy([1, 1, 1, 1, 1, 1, 1, 1])).toBeCloseTo(3, 12); // uniform over 8
    expect(shannonEntropy([7])).toBe(0); // a single value
    expect(shannonEntropy([5, 5])).toBeCloseTo(1, 12); // 50/50
    expect(shannonEntropy([2, 1, 1])).toBeCloseTo(1.5, 12);
    expect(shannonEntropy([])).toBe(0);
    expect(shannonEntropy([3, 0, 3])).toBeCloseTo(1, 12); // zero counts ignored
  });

  it('treats missing and null as one value, and compares values by canonical JSON', () => {
    expect(valueEntropy(['a', null, undefined, 'a'])).toBeCloseTo(1, 12); // {a:2, null:2}
    expect(valueEntropy([1, '1'])).toBeCloseTo(1, 12); // number 1 and string "1" differ
    expect(
      valueEntropy([
        { code: 'OK', m: 1 },
        { m: 1, code: 'OK' },
      ]),
    ).toBe(0); // key order irrelevant
  });
});

describe('stateEntropy on the reference data', () => {
  it("reproduces the seed's table on reference/original", () => {
    const input = loadReference('original');
    const r = stateEntropy(input);
    expect(r.counts).toEqual({ work: 19, agents: 22, spans: 22 });
    expect(r.fields.coordination.work_type).toBeCloseTo(4.04, 2);
    expect(r.fields.coordination.status).toBeCloseTo(1.43, 2);
    expect(r.fields.coordination.team).toBeCloseTo(2.97, 2);
    expect(r.fields.agents.team).toBeCloseTo(3.08, 2);
    // The seed's "total_coordination = 8.43 bits" is work_type + status + team (it left out priority).
    const f = r.fields.coordination;
    expect(f.work_type + f.status + f.team).toBeCloseTo(8.43, 1);
    expect(r.components.coordination).toBeCloseTo(f.work_type + f.status + f.team + f.priority, 12);
    expect(r.total).toBeCloseTo(r.components.coordination + r.components.agents + r.components.telemetry, 12);
    // Every agent of that snapshot is "active".
    expect(r.fields.agents.status).toBe(0);
  });

  it('reads the span operation from operation_name, or operation for one-line daemon records', () => {
    const r = stateEntropy({ work: [], agents: [], spans: [{ operation_name: 'a' }, { operation: 'b' }, { operation_name: 'a', status: 'ok' }] });
    expect(r.fields.telemetry.operation).toBeCloseTo(shannonEntropy([2, 1]), 12);
    expect(r.fields.telemetry.status).toBeCloseTo(shannonEntropy([2, 1]), 12); // null twice, ok once
  });
});

describe('EntropyTracker', () => {
  it('equals the full recomputation after adds, updates and removes', () => {
    const input = loadReference('legacy');
    const t = new EntropyTracker();
    const live: EntropyInput = { work: [], agents: [], spans: [] };
    const sections: EntropySection[] = ['work', 'agents', 'spans'];
    for (const s of sections)
      for (const d of input[s]) {
        t.add(s, d);
        live[s].push(d);
      }
    expectReportsClose(t.snapshot(), stateEntropy(live));
    // Churn: complete every third claim, drop every fifth agent, forget half the spans.
    live.work = live.work.map((d, i) => {
      if (i % 3 !== 0) return d;
      const after = { ...d, status: 'completed' };
      t.update('work', d, after);
      return after;
    });
    live.agents = live.agents.filter((d, i) => (i % 5 === 0 ? (t.remove('agents', d), false) : true));
    live.spans = live.spans.filter((d, i) => (i % 2 === 0 ? (t.remove('spans', d), false) : true));
    const after = t.snapshot();
    expectReportsClose(after, stateEntropy(live));
    expect(after.counts.work).toBe(141);
    // Empty again: exactly zero, no float residue.
    for (const s of sections) for (const d of live[s]) t.remove(s, d);
    expect(t.snapshot().total).toBe(0);
  });

  it('ignores the unmeasured log section', () => {
    const t = new EntropyTracker();
    t.add('log', { work_item_id: 'w', status: 'x' });
    expect(t.snapshot().counts).toEqual({ work: 0, agents: 0, spans: 0 });
  });

  it('refuses to remove what was never added', () => {
    const t = new EntropyTracker();
    t.add('work', { status: 'pending' });
    expect(() => t.remove('work', { status: 'completed' })).toThrow(/never added/);
  });
});

describe('baselines', () => {
  const state = (n: number, status = 'active'): CoordinationState => {
    const s: CoordinationState = { work: {}, agents: {}, log: {} };
    for (let i = 0; i < n; i++) {
      s.work[`work_${i}`] = { v: 1, rev: i + 1, data: { work_item_id: `work_${i}`, work_type: `t${i % 4}`, status, team: `team${i % 3}`, priority: 'high' } };
      s.agents[`agent_${i}`] = { v: 1, rev: i + 1, data: { agent_id: `agent_${i}`, team: `team${i % 2}`, status: 'active' } };
    }
    s.log['work_0'] = { v: 1, rev: n + 1, data: { work_item_id: 'work_0' } };
    return s;
  };

  it('conservationRatio: now / baseline, with a defined answer for an empty baseline', () => {
    expect(conservationRatio(10, 9.95)).toBeCloseTo(0.995, 12);
    expect(conservationRatio(0, 0)).toBe(1);
    expect(conservationRatio(0, 3)).toBe(Infinity);
  });

  it('same state: conserved, nothing missing', () => {
    const b = captureBaseline(state(12), [], 12, new Date('2026-01-01T00:00:00Z'));
    expect(b.created_at).toBe('2026-01-01T00:00:00.000Z');
    expect(b.counts).toEqual({ work: 12, agents: 12, log: 1, spans: 0 });
    const c = compareToBaseline(b, captureBaseline(state(12), [], 13));
    expect(c.ratio).toBe(1);
    expect(c.conserved).toBe(true);
    expect(c.missing_count).toBe(0);
  });

  it('lost records: ratio below 0.99, not conserved, and the missing keys are named', () => {
    const b = captureBaseline(state(12), [], 12);
    const now = state(12);
    for (const k of ['work_1', 'work_2', 'work_5', 'work_6', 'work_9']) delete now.work[k];
    delete now.agents.agent_3;
    const c = compareToBaseline(b, captureBaseline(now, [], 20));
    expect(c.conserved).toBe(false);
    expect(c.ratio).toBeLessThan(0.99);
    expect(c.missing).toEqual({ work: ['work_1', 'work_2', 'work_5', 'work_6', 'work_9'], agents: ['agent_3'], log: [] });
    expect(c.missing_count).toBe(6);
    expect(c.components.coordination).toBeLessThan(1);
  });
});
