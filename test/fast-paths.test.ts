// The faster forms of pure functions on the claim and file-write paths give exactly what the plain
// forms give: canonical JSON (the checksum depends on it), record formatting and file rendering
// (the legacy files' bytes depend on it), record copies (the records' fields and key order).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { canonicalJson } from '../shared/canonical.js';
import { formatRecord, renderArray, renderArrayBuffers, renderRecordBuffers } from '../shared/legacy-json.js';
import { withFields, type JsonObject } from '../shared/types.js';
import { applyHeapPolicy, OLD_GROWING_PERCENT, OLD_MIN_HEADROOM_MB, oldGrowingPercent } from '../daemon/observability/heap-policy.js';
import { heapPolicyInputs } from '../daemon/config.js';

/** The plain definition: keys sorted at every depth, no whitespace, undefined as null / left out. */
function plainCanonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return '[' + value.map((v) => plainCanonical(v === undefined ? null : v)).join(',') + ']';
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return '{' + keys.map((k) => JSON.stringify(k) + ':' + plainCanonical(obj[k])).join(',') + '}';
}

const plainFormat = (data: JsonObject) => JSON.stringify(data, null, 2).replace(/\n/g, '\n  ');
const record = fc.dictionary(fc.string(), fc.jsonValue()) as fc.Arbitrary<JsonObject>;

/** The bytes of a chunked rendering (each chunk copied: it is a view of a reused buffer). */
function bytesOf(chunks: Iterable<Uint8Array>): string {
  const parts: Buffer[] = [];
  for (const c of chunks) parts.push(Buffer.from(c));
  return Buffer.concat(parts).toString('utf8');
}

describe('fast paths equal the plain definitions', () => {
  it('canonical JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => canonicalJson(v) === plainCanonical(v)),
      { numRuns: 3000 },
    );
    expect(canonicalJson({ b: 1, a: undefined, c: [undefined, { z: 1, y: '\u2028' }] })).toBe(
      plainCanonical({ b: 1, a: undefined, c: [undefined, { z: 1, y: '\u2028' }] }),
    );
  });

  it('record formatting and file rendering, in chunks of any size', () => {
    fc.assert(
      fc.property(record, (r) => formatRecord(r) === plainFormat(r)),
      { numRuns: 2000 },
    );
    const items = fc.array(
      fc.oneof(
        record.map((d) => ({ d })),
        fc.constantFrom({ t: '{"own":  "text", "n": 100.0}' }, { t: '{\n    "é": "😀"\n  }' }),
      ),
      { maxLength: 120 },
    );
    fc.assert(
      fc.property(items, fc.integer({ min: 16, max: 4096 }), (list, chunk) => {
        const expected = renderArray(list.map((x) => ('t' in x ? x.t : plainFormat(x.d))));
        return (
          bytesOf(renderRecordBuffers(list, (x) => ('t' in x ? x.t : x.d), chunk)) === expected &&
          bytesOf(
            renderArrayBuffers(
              list.map((x) => ('t' in x ? x.t : plainFormat(x.d))),
              chunk,
            ),
          ) === expected
        );
      }),
      { numRuns: 500 },
    );
    expect(bytesOf(renderRecordBuffers([], (x: JsonObject) => x))).toBe('[]\n');
  });

  it('record copies: same fields in the same order as a spread, and __proto__ stays a plain field', () => {
    fc.assert(
      fc.property(record, record, (a, b) => JSON.stringify(withFields(a, b)) === JSON.stringify({ ...a, ...b })),
      { numRuns: 1000 },
    );
    const parsed = JSON.parse('{"a":1,"__proto__":{"x":1}}') as JsonObject;
    const copy = withFields(parsed, { b: 2 });
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(Object.keys(copy)).toEqual(['a', '__proto__', 'b']);
    expect(JSON.stringify(copy)).toBe(JSON.stringify({ ...parsed, b: 2 }));
  });
});

describe('heap policy', () => {
  it('is off on request, and leaves alone what flags given to node set', () => {
    expect(applyHeapPolicy(heapPolicyInputs({ AI_PROCESSOR_HEAP_POLICY: 'off' }, [])).applied).toEqual({
      old_growing_percent: null,
      young_semi_space_mb: null,
    });
    const p = applyHeapPolicy(heapPolicyInputs({}, ['--max_old_space_size=512']));
    expect(p.applied.old_growing_percent).toBeNull();
    expect(p.applied.young_semi_space_mb).not.toBeNull();
    p.loaded();
    p.stop();
    const q = applyHeapPolicy(heapPolicyInputs({ NODE_OPTIONS: '--max-semi-space-size=4' }, []));
    expect(q.applied.young_semi_space_mb).toBeNull();
    q.stop();
  });

  it('gives the old generation at least 16 MB of headroom, 30% of a large heap, never more than doubling', () => {
    const MB = 1024 * 1024;
    expect(oldGrowingPercent(26 * MB)).toBe(Math.ceil((100 * OLD_MIN_HEADROOM_MB) / 26)); // 1k records: 62%
    expect(oldGrowingPercent(55 * MB)).toBe(OLD_GROWING_PERCENT); // 50k records
    expect(oldGrowingPercent(500 * MB)).toBe(OLD_GROWING_PERCENT);
    expect(oldGrowingPercent(4 * MB)).toBe(100);
    expect(oldGrowingPercent(0)).toBe(100);
    const p = applyHeapPolicy(heapPolicyInputs({}, []));
    expect(p.applied.old_growing_percent).toBe(OLD_GROWING_PERCENT); // while the data loads
    p.loaded();
    // From now on sized from the heap in use: this test process's, between the floor and doubling.
    const after = p.applied.old_growing_percent!;
    expect(after).toBeGreaterThanOrEqual(OLD_GROWING_PERCENT);
    expect(after).toBeLessThanOrEqual(100);
    p.stop();
  });
});
