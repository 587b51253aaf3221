// Reading a legacy file as an external writer left it: its bytes and sha256 (the content is skipped
// when it is what we know), then its records, or the reason it cannot be taken (too large, not a
// JSON array of objects, nested too deep), said by position and never by quoting it.
import { createHash } from 'node:crypto';
import { splitJsonArray, type ArrayItem } from '../../shared/legacy-json.js';
import type { ViewProblemKind } from './store-events.js';
import { DEFAULTS } from '../defaults.js';
import type { FileStat } from './file-stat.js';
import { readBufferIfExists } from '../../io/fsutil.js';
import { describeJsonError } from './json-error.js';
import { splitJsonArraySteps } from './piecewise-json.js';

/** Largest legacy file read by default: one external edit costs at most this much parsing and memory. */
export const DEFAULT_MAX_FILE_BYTES = DEFAULTS.max_legacy_file_bytes;
/**
 * Files from this many characters on are parsed a slice at a time, with the event loop let through
 * in between (piecewise-json.ts); smaller ones in one go, which takes little.
 */
export const PIECEWISE_PARSE_FROM_CHARS = 1024 * 1024;
/** Records checked for depth between two pauses, in a file parsed piecewise. */
const DEPTH_CHECK_SLICE = 4096;
/** Deepest nesting of a record taken from a file: deeper ones would overflow the stack when merged or written. */
export const MAX_RECORD_DEPTH = 512;

/**
 * A file's sha256 and its text (null when the sha256 is `unlessSha`: the content is known). The
 * bytes are dropped on return, before the text is parsed.
 */
export async function readText(file: string, unlessSha: string | null = null): Promise<{ sha: string; text: string | null } | null> {
  const bytes = await readBufferIfExists(file);
  if (bytes === null) return null;
  const sha = await sha256Of(bytes);
  return { sha, text: sha === unlessSha ? null : bytes.toString('utf8') };
}

/** sha256 of a file's bytes, a megabyte at a time with the event loop let through in between. */
async function sha256Of(bytes: Buffer): Promise<string> {
  const hash = createHash('sha256');
  const step = 1024 * 1024;
  for (let off = 0; off < bytes.length; off += step) {
    if (off > 0) await new Promise((resolve) => setImmediate(resolve));
    hash.update(bytes.subarray(off, off + step));
  }
  return hash.digest('hex');
}

/** Why a file of this size is not read (over `max` bytes), or null. */
export function sizeProblem(st: FileStat, max: number): string | null {
  if (!st || st.size <= max) return null;
  return `file is ${st.size} bytes, over the limit of ${max} (max_legacy_file_bytes): not read, not overwritten; shrink it or raise the limit`;
}

/** Lets the event loop through (timers, I/O, requests) before going on. */
const pause = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Runs a computation that pauses between its slices, letting the event loop through at each pause. */
async function inSlices<T>(steps: Generator<void, T>): Promise<T> {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    await pause();
  }
}

/** Index of the first value in items [from, to) nested deeper than `max` (objects and arrays), or -1. Iterative. */
function tooDeep(items: ArrayItem[], max: number, from = 0, to = items.length): number {
  for (let i = from; i < to; i++) {
    const stack: Array<[unknown, number]> = [[items[i].value, 1]];
    while (stack.length > 0) {
      const [v, depth] = stack.pop()!;
      if (depth > max) return i;
      if (v !== null && typeof v === 'object') for (const c of Object.values(v)) if (c !== null && typeof c === 'object') stack.push([c, depth + 1]);
    }
  }
  return -1;
}

export type RecordsResult =
  | { ok: true; items: ArrayItem[] }
  /** `error` is described only when reported (a scan of the text). `now`: reported without retries. */
  | { ok: false; kind: ViewProblemKind; error: string | (() => string); now: boolean };

/** tooDeep over all items, a slice of items at a time. */
function* tooDeepSteps(items: ArrayItem[], max: number): Generator<void, number> {
  for (let from = 0; from < items.length; from += DEPTH_CHECK_SLICE) {
    if (from > 0) yield;
    const deep = tooDeep(items, max, from, Math.min(items.length, from + DEPTH_CHECK_SLICE));
    if (deep !== -1) return deep;
  }
  return -1;
}

/**
 * A file's text as its records, or why not (by position, never quoting it). A large file is parsed
 * and checked a slice at a time: the result is the same, and requests are served in between.
 */
export async function parseRecords(text: string): Promise<RecordsResult> {
  const big = text.length >= PIECEWISE_PARSE_FROM_CHARS;
  const split = big ? await inSlices(splitJsonArraySteps(text)) : splitJsonArray(text);
  if (!split.ok) {
    const error = split.error;
    return { ok: false, kind: 'unparseable', error: error.startsWith('not valid JSON') ? () => describeJsonError(text, error) : error, now: false };
  }
  const deep = big ? await inSlices(tooDeepSteps(split.items, MAX_RECORD_DEPTH)) : tooDeep(split.items, MAX_RECORD_DEPTH);
  if (deep !== -1) {
    return {
      ok: false,
      kind: 'too_deep',
      error: `element ${deep} is nested deeper than ${MAX_RECORD_DEPTH} levels: file not imported, not overwritten`,
      now: true,
    };
  }
  return { ok: true, items: split.items };
}
