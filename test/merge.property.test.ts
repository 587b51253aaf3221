// Property test of the information-preserving merge: for random concurrent edits, no field of
// either side is lost, and the result does not depend on anything but the inputs.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { canonicalJson } from '../shared/canonical.js';
import { CONFLICTS_FIELD, mergeRecords } from '../shared/merge.js';
import type { Json, JsonObject } from '../shared/types.js';

const key = fc.constantFrom('status', 'progress', 'agent_id', 'team', 'priority', 'result', 'telemetry', 'x', 'y');
const scalar: fc.Arbitrary<Json> = fc.oneof(fc.string({ maxLength: 6 }), fc.integer({ min: -5, max: 100 }), fc.boolean(), fc.constant(null));
const value: fc.Arbitrary<Json> = fc.oneof(
  { weight: 4, arbitrary: scalar },
  { weight: 1, arbitrary: fc.dictionary(fc.constantFrom('a', 'b', 'c'), scalar, { maxKeys: 3 }) },
);
const record = fc.dictionary(key, value, { maxKeys: 6 }) as fc.Arbitrary<JsonObject>;
/** An edit of a record: some fields set, some removed. */
const edit = (base: JsonObject) =>
  fc.tuple(fc.dictionary(key, value, { maxKeys: 3 }), fc.subarray(Object.keys(base))).map(([set, removed]) => {
    const out: JsonObject = { ...base };
    for (const k of removed) delete out[k];
    return { ...out, ...(set as JsonObject) };
  });
const scenario = record.chain((base) => fc.tuple(fc.constant(base), edit(base), edit(base)));

const same = (a: unknown, b: unknown) => canonicalJson(a) === canonicalJson(b);

/** Every value either side holds for a field is in the merged record or recorded as a conflict. */
function valuesKept(
  side: JsonObject,
  base: JsonObject,
  merged: JsonObject,
  conflicts: Array<{ field: string; other: Json | null; kept: Json }>,
  prefix = '',
): boolean {
  for (const [k, v] of Object.entries(side)) {
    if (k === CONFLICTS_FIELD) continue;
    const m = merged[k];
    if (same(m, v)) continue;
    const field = prefix + k;
    if (conflicts.some((c) => c.field === field && (same(c.other, v) || same(c.kept, v)))) continue;
    // Nested objects are merged key by key.
    if (v && typeof v === 'object' && !Array.isArray(v) && m && typeof m === 'object' && !Array.isArray(m)) {
      const b = base[k] && typeof base[k] === 'object' && !Array.isArray(base[k]) ? base[k] : {};
      if (valuesKept(v, b, m, conflicts, field + '.')) continue;
    }
    // A value removed by the other side while this side left it as in the base is a legitimate deletion.
    if (same(base[k], v) && m === undefined) continue;
    if (same(base[k], v)) continue; // unchanged on this side: the other side's change wins
    return false;
  }
  return true;
}

describe('mergeRecords (property)', () => {
  it('keeps every changed value of both sides, in the record or in merge_conflicts', () => {
    fc.assert(
      fc.property(scenario, ([base, ours, theirs]) => {
        const { merged, conflicts } = mergeRecords(base, ours, theirs, 'file');
        expect(valuesKept(ours, base, merged, conflicts)).toBe(true);
        expect(valuesKept(theirs, base, merged, conflicts)).toBe(true);
        // Conflicts are visible in the record itself.
        if (conflicts.length) expect((merged[CONFLICTS_FIELD] as Json[]).length).toBeGreaterThanOrEqual(conflicts.length);
        // Fields only one side has are never dropped.
        for (const k of Object.keys(ours)) if (!(k in base) && !(k in theirs)) expect(merged[k]).toEqual(ours[k]);
        for (const k of Object.keys(theirs)) if (!(k in base) && !(k in ours)) expect(merged[k]).toEqual(theirs[k]);
      }),
      { numRuns: 500 },
    );
  });

  it('is deterministic: the same inputs, however their keys are ordered, give the same record', () => {
    const shuffle = (o: JsonObject): JsonObject => Object.fromEntries(Object.entries(o).reverse());
    fc.assert(
      fc.property(scenario, ([base, ours, theirs]) => {
        const a = mergeRecords(base, ours, theirs, 'file', 't');
        const b = mergeRecords(shuffle(base), shuffle(ours), shuffle(theirs), 'file', 't');
        expect(canonicalJson(a.merged)).toBe(canonicalJson(b.merged));
        expect(canonicalJson(mergeRecords(base, ours, theirs, 'file', 't').merged)).toBe(canonicalJson(a.merged));
      }),
      { numRuns: 300 },
    );
  });

  it('without a known base, every differing field is a conflict and ours is kept', () => {
    const { merged, conflicts } = mergeRecords(null, { a: 1, b: 2 }, { a: 1, b: 3, c: 4 }, 'file');
    expect(merged).toMatchObject({ a: 1, b: 2, c: 4 });
    expect(conflicts).toEqual([{ field: 'b', kept: 2, other: 3, source: 'file' }]);
  });

  it('keeps fields named __proto__ and constructor like any other (records come from JSON.parse)', () => {
    const base = JSON.parse('{"a":1,"__proto__":{"x":0}}') as JsonObject;
    const ours = JSON.parse('{"a":1,"__proto__":{"x":1}}') as JsonObject;
    const theirs = JSON.parse('{"a":1,"__proto__":{"x":2},"constructor":"c"}') as JsonObject;
    const { merged, conflicts } = mergeRecords(base, ours, theirs, 'file');
    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
    expect(Object.keys(merged).sort()).toEqual(['__proto__', 'a', 'constructor', CONFLICTS_FIELD].sort());
    expect(Object.getOwnPropertyDescriptor(merged, '__proto__')?.value).toEqual({ x: 1 });
    expect(Object.getOwnPropertyDescriptor(merged, 'constructor')?.value).toBe('c');
    expect(conflicts).toEqual([{ field: '__proto__.x', kept: 1, other: 2, source: 'file' }]);
    // The same through the canonical JSON every file and checksum is made of.
    expect(JSON.parse(canonicalJson(merged)).__proto__).toEqual({ x: 1 });
    // Without a base: a field only one side has is kept, never mistaken for an inherited value.
    const r = mergeRecords(null, { a: 1 }, JSON.parse('{"a":1,"constructor":"c","__proto__":5}') as JsonObject);
    expect(r.conflicts).toEqual([]);
    expect(Object.getOwnPropertyDescriptor(r.merged, 'constructor')?.value).toBe('c');
    expect(Object.getOwnPropertyDescriptor(r.merged, '__proto__')?.value).toBe(5);
  });
});
