// Where a text stops being valid JSON, said by position only. JSON.parse's messages quote the text
// around the error ("root:x:0:0"... is not valid JSON), and problem reports go to the unauthenticated
// /ready: a legacy file symlinked to a secret must not leak its first bytes there. Pure; runs only
// after a parse already failed.

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const ESCAPES = '"\\/bfnrtu';

/** Offset of the first character that makes `text` invalid JSON, or -1 when it is valid. Iterative: any depth. */
export function jsonErrorOffset(text: string): number {
  const n = text.length;
  let i = 0;
  const stack: Array<'array' | 'object'> = [];
  const ws = () => {
    while (i < n && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  /** At a '"': moves past the string; false (i at the fault) if it is not one. */
  const string = (): boolean => {
    if (text[i] !== '"') return false;
    i++;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 34) {
        i++;
        return true;
      }
      if (c < 32) return false;
      if (c === 92) {
        const e = text[i + 1];
        if (e === undefined || !ESCAPES.includes(e)) return (i++, false);
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) return ((i += 2), false);
          i += 6;
          continue;
        }
        i += 2;
        continue;
      }
      i++;
    }
    return false;
  };
  /** A key and its colon, after '{' or ','. */
  const key = (): boolean => {
    ws();
    if (!string()) return false;
    ws();
    if (text[i] !== ':') return false;
    i++;
    return true;
  };
  for (;;) {
    // A value.
    ws();
    const c = text[i];
    if (c === '{' || c === '[') {
      i++;
      ws();
      if (text[i] === (c === '{' ? '}' : ']')) i++;
      else {
        stack.push(c === '{' ? 'object' : 'array');
        if (c === '{' && !key()) return i;
        continue;
      }
    } else if (c === '"') {
      if (!string()) return i;
    } else if (text.startsWith('true', i)) i += 4;
    else if (text.startsWith('false', i)) i += 5;
    else if (text.startsWith('null', i)) i += 4;
    else {
      NUMBER.lastIndex = i;
      if (!NUMBER.test(text)) return i;
      i = NUMBER.lastIndex;
    }
    // After a value: close containers, or a comma and the next value.
    for (;;) {
      ws();
      const top = stack[stack.length - 1];
      if (top === undefined) return i < n ? i : -1;
      if (text[i] === ',') {
        i++;
        if (top === 'object' && !key()) return i;
        break;
      }
      if (text[i] === (top === 'object' ? '}' : ']')) {
        stack.pop();
        i++;
        continue;
      }
      return i;
    }
  }
}

/** "line L, column C (character N)" of an offset (1-based line and column). */
export function positionOf(text: string, offset: number): string {
  let line = 1;
  let lineStart = 0;
  for (let j = text.indexOf('\n'); j !== -1 && j < offset; j = text.indexOf('\n', j + 1)) {
    line++;
    lineStart = j + 1;
  }
  return `line ${line}, column ${offset - lineStart + 1} (character ${offset})`;
}

/**
 * A parse failure of `text`, described without quoting any of it. `parseError`: JSON.parse's message,
 * whose position is taken when it gives one (else the text is scanned for it).
 */
export function describeJsonError(text: string, parseError = ''): string {
  const given = /at position (\d+)/.exec(parseError);
  const at = given ? Number(given[1]) : jsonErrorOffset(text);
  if (at === -1) return 'not valid JSON';
  return at >= text.length ? `not valid JSON: ends early (${text.length} characters, cut short?)` : `not valid JSON at ${positionOf(text, at)}`;
}
