import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { countSpanRecords, formatLegacySpan, joinSpanSegments, legacySpanValues, parseLegacySpans } from '../shared/legacy-spans.js';

const REF = new URL('./fixtures/', import.meta.url);
const read = (copy: string): string => readFileSync(new URL(`${copy}/telemetry_spans.jsonl`, REF), 'utf8');

describe('legacy telemetry_spans.jsonl on the reference copies', () => {
  it('original: 740 lines holding 27 records, 5 of them not valid JSON', () => {
    const text = read('original');
    expect(countSpanRecords(text)).toEqual({ records: 27, valid: 22, invalid: 5, stray: 0, lines: 740 });
    const p = parseLegacySpans(text);
    const spans = legacySpanValues(p);
    // 25 ok / 2 error over all 27 in the README; the 5 broken ones are all ok priority analyses.
    expect(spans.filter((s) => s.status === 'error')).toHaveLength(2);
    const fragments = p.segments.filter((s) => s.kind === 'fragment');
    expect(fragments.every((f) => f.text.includes('"s2s.recommendations_count": \n}'))).toBe(true);
    expect(fragments.map((f) => f.line)).toEqual([173, 224, 550, 575, 600]);
    // The malformed timestamps are data, kept as written.
    expect(spans[0].start_time).toBe('2025-06-15T17:35:33.3NZ');
  });

  it('legacy: 855 object-shaped records (833 valid, 22 invalid) plus 4 stray chunks in 19,314 lines', () => {
    const text = read('legacy');
    expect(countSpanRecords(text)).toEqual({ records: 855, valid: 833, invalid: 22, stray: 4, lines: 19314 });
    // Raw newline inside a string (line 7339/7340 of the file): kept as a fragment, not "repaired".
    const p = parseLegacySpans(text);
    const bad = p.segments.find((s) => s.kind === 'fragment' && s.line === 7319);
    expect(bad?.kind === 'fragment' && bad.error).toMatch(/control character/i);
  });

  for (const copy of ['original', 'legacy']) {
    it(`${copy}: segments + separators reproduce the file byte for byte`, () => {
      const text = read(copy);
      const p = parseLegacySpans(text);
      expect(joinSpanSegments(p)).toBe(text);
      expect(Buffer.from(joinSpanSegments(p), 'utf8').equals(readFileSync(new URL(`${copy}/telemetry_spans.jsonl`, REF)))).toBe(true);
      // Separators are whitespace only: every non-blank byte belongs to a span or a reported fragment.
      expect(p.segments.every((s) => /^\s*$/.test(s.sep))).toBe(true);
    });
  }
});

describe('parseLegacySpans on synthetic input', () => {
  it('reads one-line JSONL', () => {
    const text = '{"trace_id":"a","n":1}\n{"trace_id":"b","n":2}\n';
    const p = parseLegacySpans(text);
    expect(legacySpanValues(p)).toEqual([
      { trace_id: 'a', n: 1 },
      { trace_id: 'b', n: 2 },
    ]);
    expect(p.segments.map((s) => s.line)).toEqual([1, 2]);
    expect(countSpanRecords(text)).toEqual({ records: 2, valid: 2, invalid: 0, stray: 0, lines: 2 });
    expect(joinSpanSegments(p)).toBe(text);
  });

  it('reads mixed pretty-printed and one-line objects, with CRLF and no final newline', () => {
    const text = '{\r\n  "a": {"b": [1, {"c": 2}]}\r\n}\r\n{"d":"}{ \\" ]"}   {"e":3}';
    const p = parseLegacySpans(text);
    expect(legacySpanValues(p)).toEqual([{ a: { b: [1, { c: 2 }] } }, { d: '}{ " ]' }, { e: 3 }]);
    expect(countSpanRecords(text).lines).toBe(4); // three \n plus the unterminated last line
    expect(joinSpanSegments(p)).toBe(text);
  });

  it('keeps broken objects and stray text as fragments without losing the records after them', () => {
    const text = [
      '{"ok":1}',
      '{"missing": ', // never closed: must not swallow the next records
      '{"ok":2}',
      'garbage here }',
      '{"x": }',
      '{"ok":3}',
      '{"tail": "unterminated',
    ].join('\n');
    const p = parseLegacySpans(text);
    expect(joinSpanSegments(p)).toBe(text);
    expect(legacySpanValues(p)).toEqual([{ ok: 1 }, { ok: 2 }, { ok: 3 }]);
    const frags = p.segments.filter((s) => s.kind === 'fragment');
    expect(frags.map((f) => [f.text, f.objectShaped, f.unterminated])).toEqual([
      ['{"missing":', true, false], // trailing blank goes to the next separator,
      ['garbage here }', false, false],
      ['{"x": }', true, false],
      ['{"tail": "unterminated', true, true],
    ]);
    expect(countSpanRecords(text)).toMatchObject({ records: 6, valid: 3, invalid: 3, stray: 1 });
  });

  it('handles empty and whitespace-only input', () => {
    expect(parseLegacySpans('')).toEqual({ segments: [], trailing: '' });
    expect(joinSpanSegments(parseLegacySpans(' \n\n'))).toBe(' \n\n');
    expect(countSpanRecords('')).toEqual({ records: 0, valid: 0, invalid: 0, stray: 0, lines: 0 });
  });
});

describe('formatLegacySpan', () => {
  it('renders one line in the legacy field order, readable back by the parser', () => {
    const span = {
      span_attributes: { 's2s.note': 'line1\nline2' },
      extra: true,
      status: 'ok',
      trace_id: 't'.repeat(32),
      span_id: 's'.repeat(16),
      operation_name: 's2s.work.claim',
    };
    const line = formatLegacySpan(span);
    expect(line).not.toMatch(/[\r\n]/);
    expect(Object.keys(JSON.parse(line))).toEqual(['trace_id', 'span_id', 'operation_name', 'status', 'span_attributes', 'extra']);
    // Appended after the pretty-printed legacy content, it is one more valid record.
    const original = read('original');
    const appended = original + line + '\n';
    expect(countSpanRecords(appended)).toMatchObject({ records: 28, valid: 23, lines: 741 });
    expect(legacySpanValues(parseLegacySpans(appended)).at(-1)).toEqual(span);
  });

  it('keeps a field named __proto__', () => {
    const span = JSON.parse('{"trace_id":"t","__proto__":{"k":1},"extra":2}') as Record<string, unknown>;
    expect(formatLegacySpan(span)).toBe('{"trace_id":"t","__proto__":{"k":1},"extra":2}');
  });
});
