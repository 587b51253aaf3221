// The piecewise splitter of large legacy files (daemon/store/piecewise-json.ts) against the one-go
// splitter it stands in for (splitJsonArray: one JSON.parse of the whole text): the same records in
// the same order, the same values (duplicate keys, escapes, numbers), and the same refusals, with
// parse errors at the same position. Pure: no daemon.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { splitJsonArray, type SplitResult } from '../shared/legacy-json.js';
import { PARSE_SLICE_CHARS, splitJsonArraySteps } from '../daemon/store/piecewise-json.js';
import { PIECEWISE_PARSE_FROM_CHARS, parseRecords } from '../daemon/store/legacy-read.js';
import { describeJsonError } from '../daemon/store/json-error.js';

const FIXTURES = path.resolve(import.meta.dirname, 'fixtures');

/** Runs the steps to the end; how many pauses it made. */
function drain(text: string, sliceChars?: number): { result: SplitResult; pauses: number } {
  const steps = splitJsonArraySteps(text, sliceChars);
  let pauses = 0;
  for (;;) {
    const step = steps.next();
    if (step.done) return { result: step.value, pauses };
    pauses++;
  }
}

/** What a caller sees of a result: the items (texts, values, key order), or the error as reported. */
function observed(text: string, r: SplitResult): unknown {
  if (r.ok) return { items: r.items.map((i) => ({ text: i.text, value: i.value, keys: deepKeys(i.value) })) };
  return { error: r.error.startsWith('not valid JSON') ? describeJsonError(text, r.error) : r.error };
}

/** Every object's keys in order, depth first (toEqual does not compare key order). Iterative: any depth. */
function deepKeys(root: unknown): string[] {
  const out: string[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object') continue;
    const entries = Object.entries(v);
    for (const [k] of entries) out.push(k);
    for (let j = entries.length - 1; j >= 0; j--) stack.push(entries[j][1]);
  }
  return out;
}

function expectSame(text: string, sliceChars = 1): void {
  const one = splitJsonArray(text);
  const { result } = drain(text, sliceChars);
  expect(result.ok, JSON.stringify(text.slice(0, 80))).toBe(one.ok);
  expect(observed(text, result), JSON.stringify(text.slice(0, 80))).toEqual(observed(text, one));
}

const fixtureFiles = ['legacy', 'original'].flatMap((dir) =>
  readdirSync(path.join(FIXTURES, dir))
    .filter((f) => f.endsWith('.json'))
    .map((f) => path.join(FIXTURES, dir, f)),
);

/** A small deterministic generator (mulberry32): the same cases every run. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('splitJsonArraySteps', () => {
  it('gives the same records as JSON.parse for every fixture file, whatever the slice size', () => {
    let arrays = 0;
    for (const file of fixtureFiles) {
      const text = readFileSync(file, 'utf8');
      for (const slice of [1, 4096, 1 << 20]) expectSame(text, slice);
      if (!Array.isArray(JSON.parse(text))) continue; // active_sprints.json is an object: refused alike (above)
      const { result } = drain(text);
      if (!result.ok) throw new Error(`${file}: ${result.error}`);
      expect(result.items.map((i) => i.value)).toEqual(JSON.parse(text));
      arrays++;
    }
    expect(arrays).toBeGreaterThanOrEqual(5);
  });

  it('keeps what JSON.parse makes of tricky records', () => {
    const cases = [
      '[]',
      ' [ ] \n',
      '[{}]',
      '\r\n\t[\r\n\t{}\r\n\t,\r\n\t{"a":1}\r\n\t]\r\n\t',
      '[{"a":1,"a":2,"b":{"c":1,"c":[3]}}]', // duplicate keys: the last wins
      '[{"s":"\\u00e9\\ud83d\\ude00 \\ud800 \\u0000 \\"}{][\\\\"}, {"t":"é😀"}]', // escapes, lone surrogate, raw UTF-8
      '[{"a":"}"},{"b":"{"},{"c":"\\\\"},{"d":"\\\\\\""}]', // braces and backslashes inside strings
      '[{"n":[1.0,-0,1e400,-1e-400,12345678901234567890,0.1,1E+2,-1.5e3]}]', // numbers as JSON.parse reads them
      '[{"__proto__":{"x":1},"constructor":2}]',
      '[{"a":[{"b":[[],{}]}],"c":[{"d":"]"}]}]',
      '[{"deep":' + '['.repeat(2000) + ']'.repeat(2000) + '}]',
    ];
    for (const text of cases) expectSame(text);
    const dup = drain('[{"a":1,"a":2}]').result;
    expect(dup.ok && dup.items[0].value).toEqual({ a: 2 });
    const proto = drain('[{"__proto__":{"x":1}}]').result;
    expect(proto.ok && Object.hasOwn(proto.items[0].value, '__proto__')).toBe(true);
  });

  it('rejects what JSON.parse rejects, naming the same position', () => {
    const cases = [
      '',
      '   ',
      '[',
      '[{}',
      '[{},]',
      '[,{}]',
      '[{} {}]',
      '[{}]x',
      '[{}]]',
      '[] x',
      '[{"a":1,}]',
      '[{"a":tru}]',
      '[{"a":"x\ny"}]',
      '[{"a":"\\x"}]',
      '[{"a":01}]',
      '[{"a":1}',
      '[{"a":"}',
      '[{"a":[1}]',
      '[{"a":1]}]',
      '{"a":1}',
      '"x"',
      '\ufeff[{}]',
      '[1]',
      '[{},1]',
      '[{},null]',
      '[{},[]]',
      '[{},"x"]',
      '[{},1,{]',
      '[{}, {"a": nope}]',
    ];
    for (const text of cases) {
      expect(splitJsonArray(text).ok, text).toBe(false);
      expectSame(text);
    }
  });

  it('rejects damaged copies of the fixtures as JSON.parse does: cut, a character dropped, one inserted', () => {
    const next = random(15);
    const insert = ['{', '}', '[', ']', ',', '"', '\\', ':', ' ', 'x', '1', '\n', '\u0001'];
    let rejected = 0;
    for (const file of fixtureFiles) {
      const text = readFileSync(file, 'utf8');
      if (text.length < 10) continue;
      for (let n = 0; n < 40; n++) {
        const at = Math.floor(next() * text.length);
        const damaged =
          n % 3 === 0
            ? text.slice(0, at)
            : n % 3 === 1
              ? text.slice(0, at) + text.slice(at + 1)
              : text.slice(0, at) + insert[Math.floor(next() * insert.length)] + text.slice(at);
        if (!splitJsonArray(damaged).ok) rejected++;
        expectSame(damaged, 1 + Math.floor(next() * 8192));
      }
    }
    expect(rejected).toBeGreaterThan(100);
  });

  it('pauses between slices of a large text, and only there', () => {
    const records = Array.from({ length: 5000 }, (_, i) => JSON.stringify({ work_item_id: `w${i}`, description: 'x'.repeat(200), n: i }));
    const text = '[\n  ' + records.join(',\n  ') + '\n]\n';
    const slice = 64 * 1024;
    const { result, pauses } = drain(text, slice);
    expect(result.ok && result.items.length).toBe(5000);
    expect(pauses).toBeGreaterThanOrEqual(Math.floor(text.length / slice) - 1);
    expect(pauses).toBeLessThanOrEqual(Math.ceil(text.length / slice));
  });

  it('a large file read by the daemon lets the event loop run between slices, and gives the same records', async () => {
    const records = Array.from({ length: 20_000 }, (_, i) => ({ work_item_id: `w${i}`, description: 'é'.repeat(150), n: i }));
    const text = JSON.stringify(records, null, 2) + '\n';
    expect(text.length).toBeGreaterThan(4 * PIECEWISE_PARSE_FROM_CHARS);
    // Turns of the event loop while the parse runs: none if it held the loop from start to end.
    let turns = 0;
    let done = false;
    const spin = () => {
      if (done) return;
      turns++;
      setImmediate(spin);
    };
    setImmediate(spin);
    const parsed = await parseRecords(text);
    done = true;
    expect(parsed.ok && parsed.items.map((i) => i.value)).toEqual(records);
    expect(turns).toBeGreaterThanOrEqual(Math.floor(text.length / PARSE_SLICE_CHARS) - 1);
    // A too-deep record in a large file is found too (the depth check runs in slices as well).
    const deep = JSON.stringify([...records, { work_item_id: 'deep', d: JSON.parse('['.repeat(600) + ']'.repeat(600)) as unknown }]);
    const refused = await parseRecords(deep);
    expect(refused.ok === false && refused.kind).toBe('too_deep');
  });
});
