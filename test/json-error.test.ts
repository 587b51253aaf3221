// Parse errors of legacy files are described by position, never by quoting the text (pure).
import { describe, expect, it } from 'vitest';
import { describeJsonError, jsonErrorOffset } from '../daemon/store/json-error.js';

describe('describeJsonError', () => {
  it('agrees with JSON.parse on what is valid, and points at the first bad character', () => {
    const cases: Array<[string, number]> = [
      ['[{"a":1},{"b":[true,false,null,-1.5e3,"x\\u00e9\\n"]}]', -1],
      ['  {"a": {"b": {}} , "c": []}\n', -1],
      ['root:x:0:0:root:/root:/bin/bash', 0],
      ['[{"a":1}', 8],
      ['[{"a":1}]]', 9],
      ['[{"a": tru}]', 7],
      ['[{"a":1,}]', 8],
      ['["a\u0001"]', 3],
      ['["\\x"]', 3],
      ['{"a" 1}', 5],
      ['', 0],
      ['[01]', 2],
    ];
    for (const [text, at] of cases) {
      expect(jsonErrorOffset(text), text).toBe(at);
      let valid = true;
      try {
        JSON.parse(text);
      } catch {
        valid = false;
      }
      expect(valid, text).toBe(at === -1);
    }
  });

  it('handles any depth without recursion', () => {
    expect(jsonErrorOffset('['.repeat(100_000) + ']'.repeat(100_000))).toBe(-1);
    expect(jsonErrorOffset('['.repeat(100_000))).toBe(100_000);
  });

  it('says line and column, never the content', () => {
    const secret = 'root:x:0:0:TOPSECRET:/root:/bin/bash\n';
    expect(describeJsonError(secret)).toBe('not valid JSON at line 1, column 1 (character 0)');
    expect(describeJsonError('[\n  {"a": 1},\n  {"b": nope}\n]')).toBe('not valid JSON at line 3, column 9 (character 22)');
    expect(describeJsonError('[{"a": "TOPSECRET')).toBe('not valid JSON: ends early (17 characters, cut short?)');
  });
});

describe("describeJsonError with the parser's own message", () => {
  it('takes the position JSON.parse gives, and scans when it gives none', () => {
    const text = '[\n  {"a": 1},\n  {"b": 1,}\n]';
    let message = '';
    try {
      JSON.parse(text);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(describeJsonError(text, message)).toBe(describeJsonError(text));
    expect(describeJsonError('xyz', 'Unexpected token at position 2')).toBe('not valid JSON at line 1, column 3 (character 2)');
  });
});
