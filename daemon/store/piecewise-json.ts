// Splitting a large legacy file into its records a slice at a time, so the daemon keeps serving
// requests while it reads one: one JSON.parse of a whole file of tens of megabytes holds the event
// loop for the whole parse. The top-level array is walked here (whitespace, commas, the bounds of
// each element, strings and escapes respected); each element is parsed by JSON.parse on its own, so
// records, key order, duplicate keys, escapes and numbers are exactly JSON.parse's. Pure: the caller
// decides what to do between slices (see legacy-read.ts).
import { splitJsonArray, type ArrayItem, type SplitResult } from '../../shared/legacy-json.js';
import { jsonErrorOffset } from './json-error.js';

/** Characters of records parsed between two pauses: a short parse, so a request waits little behind one. */
export const PARSE_SLICE_CHARS = 256 * 1024;

const isWs = (c: number) => c === 32 || c === 10 || c === 13 || c === 9;

function skipWs(text: string, i: number): number {
  while (i < text.length && isWs(text.charCodeAt(i))) i++;
  return i;
}

/** At a '{': the index after its matching '}' (strings and escapes respected), or -1 if the text ends first. */
function objectEnd(text: string, i: number): number {
  let depth = 0;
  const n = text.length;
  for (; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      for (i++; i < n; i++) {
        const s = text.charCodeAt(i);
        if (s === 92 /* \ */) i++;
        else if (s === 34) break;
      }
    } else if (c === 123 /* { */ || c === 91 /* [ */) depth++;
    else if (c === 125 /* } */ || c === 93 /* ] */) {
      if (--depth === 0) return i + 1;
    }
  }
  return -1;
}

/**
 * The text is valid up to `start`, where an element of the top-level array begins (0: from the
 * beginning): its first fault is found by parsing from there in the same context (inside the array,
 * after its '[' or after a comma), which stops at the fault, and is given as splitJsonArray's error
 * would give it (describeJsonError takes the position, or scans for one when JSON.parse names none).
 * Null when the text is valid JSON after all.
 */
function faultFrom(text: string, start: number, afterComma: boolean): SplitResult | null {
  const head = start === 0 ? '' : afterComma ? '[0,' : '[';
  const rest = head + text.slice(start);
  try {
    JSON.parse(rest);
  } catch (err) {
    const given = /at position (\d+)/.exec((err as Error).message);
    const at = given ? Number(given[1]) : jsonErrorOffset(rest);
    return { ok: false, error: at === -1 ? 'not valid JSON' : `not valid JSON at position ${at - head.length + start}` };
  }
  return null;
}

/**
 * splitJsonArray's result (the same items, or an error at the same position), computed a slice at a
 * time: the generator pauses (yields) after each slice of about `sliceChars` characters of records.
 */
export function* splitJsonArraySteps(text: string, sliceChars = PARSE_SLICE_CHARS): Generator<void, SplitResult> {
  let i = skipWs(text, 0);
  // Not an array: an error either way, said as splitJsonArray says it.
  if (text.charCodeAt(i) !== 91 /* [ */) return splitJsonArray(text);
  i = skipWs(text, i + 1);
  const items: ArrayItem[] = [];
  // Any fault found below is one: the text is valid up to where it is looked for.
  let afterComma = false;
  const fault = (start: number): SplitResult => faultFrom(text, start, afterComma) ?? splitJsonArray(text);
  if (text.charCodeAt(i) === 93 /* ] */) return skipWs(text, i + 1) === text.length ? { ok: true, items } : fault(0);
  let budget = sliceChars;
  for (;;) {
    const start = i;
    if (text.charCodeAt(start) !== 123 /* { */) {
      // Not an object: the file is invalid JSON from here, or a valid array with a non-object element.
      return faultFrom(text, start, afterComma) ?? { ok: false, error: `element ${items.length} is not an object` };
    }
    const end = objectEnd(text, start);
    if (end === -1) return fault(start);
    const itemText = text.slice(start, end);
    let value: ArrayItem['value'];
    try {
      value = JSON.parse(itemText) as ArrayItem['value'];
    } catch {
      return fault(start);
    }
    items.push({ text: itemText, value });
    i = skipWs(text, end);
    const c = text.charCodeAt(i);
    if (c === 44 /* , */) {
      i = skipWs(text, i + 1);
      afterComma = true;
    } else if (c === 93 /* ] */ && skipWs(text, i + 1) === text.length) return { ok: true, items };
    else return fault(start);
    budget -= i - start;
    if (budget <= 0) {
      budget = sliceChars;
      yield;
    }
  }
}
