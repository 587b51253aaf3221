// Reading and writing the legacy JSON array files (work_claims.json, agent_status.json,
// coordination_log.json) without losing a byte: each element's original text is kept, so a file
// whose records did not change is written back identical (jq's `100.0` stays `100.0`).
import type { JsonObject } from './types.js';

export interface ArrayItem {
  /** The element's exact text in the file (no surrounding whitespace or comma). */
  text: string;
  value: JsonObject;
}

export type SplitResult = { ok: true; items: ArrayItem[] } | { ok: false; error: string };

/**
 * Splits a top-level JSON array into its elements' texts. Fails (never guesses) on anything that
 * is not a complete array of objects: an empty or half-written file is an error, not "no records".
 */
export function splitJsonArray(text: string): SplitResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `not valid JSON: ${(err as Error).message}` };
  }
  if (!Array.isArray(value)) return { ok: false, error: 'not a JSON array' };
  const values = value as unknown[];
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return { ok: false, error: `element ${i} is not an object` };
  }
  // The text is valid JSON, so a depth scan aware of strings finds each element's bounds.
  const items: ArrayItem[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
      continue;
    }
    if (c === 34) inString = true;
    else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (depth === 1 && c === 123) start = i;
      depth++;
    } else if (c === 125 /* } */ || c === 93 /* ] */) {
      depth--;
      if (depth === 1 && c === 125) {
        items.push({ text: text.slice(start, i + 1), value: values[items.length] as JsonObject });
      }
    }
  }
  if (items.length !== values.length) return { ok: false, error: 'could not delimit array elements' };
  return { ok: true, items };
}

/** One record as jq pretty-prints it inside an array (two-space indent, nested one level). */
export function formatRecord(data: JsonObject): string {
  // JSON.stringify of a one-element array indents the element exactly so: "[\n  " + record + "\n]".
  // One native call instead of a stringify and a replace of every newline.
  return JSON.stringify([data], null, 2).slice(4, -2);
}

/** The whole file as jq writes it: `[\n  {...},\n  {...}\n]\n`, or `[]\n` when empty. */
export function renderArray(texts: Iterable<string>): string {
  const parts: string[] = [];
  for (const t of texts) parts.push('  ' + t);
  return parts.length === 0 ? '[]\n' : '[\n' + parts.join(',\n') + '\n]\n';
}

/**
 * The same bytes as renderArray (UTF-8), in chunks of about `chunkBytes`, for writing a large file
 * piecewise without building it as a string. Each chunk is a view of one reused buffer: it is only
 * valid until the next one is asked for (write it, or copy it, first).
 */
export function renderArrayBuffers(texts: readonly string[], chunkBytes?: number): Generator<Uint8Array> {
  return renderRecordBuffers(texts, (t) => t, chunkBytes);
}

/** Records formatted together by renderRecordBuffers (one JSON.stringify call per run; a few kB). */
const RUN = 16;

/**
 * Like renderArrayBuffers, for records given each as its text, or as its data to be formatted
 * (formatRecord). Consecutive records given as data are formatted a run at a time: JSON.stringify
 * of an array indents its elements exactly as the file has them, so one call makes the text of
 * the whole run, at a fraction of the cost of formatting them one by one.
 */
export function renderRecordBuffers<T>(items: readonly T[], textOrData: (item: T) => string | JsonObject, chunkBytes = 256 * 1024): Generator<Uint8Array> {
  return bufferPieces(elementPieces(items, textOrData), chunkBytes);
}

/** Pieces of the array's body: each is one or more elements, each element indented by two spaces, joined by ",\n". */
function* elementPieces<T>(items: readonly T[], textOrData: (item: T) => string | JsonObject): Generator<string> {
  let run: JsonObject[] = [];
  for (let i = 0; i < items.length; i++) {
    const x = textOrData(items[i]);
    if (typeof x !== 'string') {
      run.push(x);
      if (run.length < RUN) continue;
    }
    if (run.length > 0) {
      yield JSON.stringify(run, null, 2).slice(2, -2); // "[\n" + "  e1,\n  e2" + "\n]"
      run = [];
    }
    if (typeof x === 'string') yield '  ' + x;
  }
  if (run.length > 0) yield JSON.stringify(run, null, 2).slice(2, -2);
}

/** `[\n` + pieces joined by `,\n` + `\n]\n` (or `[]\n`), as UTF-8 in chunks of one reused buffer. */
function* bufferPieces(pieces: Iterable<string>, chunkBytes: number): Generator<Uint8Array> {
  const buf = Buffer.allocUnsafe(chunkBytes);
  let used = 0;
  let first = true;
  for (const piece of pieces) {
    const head = first ? '[\n' : ',\n';
    first = false;
    // At most 3 UTF-8 bytes per UTF-16 unit (plus 2 for the separator); the exact size only when that might not fit.
    const size = used + piece.length * 3 + 2 <= chunkBytes ? 0 : Buffer.byteLength(piece) + 2;
    if (used + size > chunkBytes && used > 0) {
      yield buf.subarray(0, used);
      used = 0;
    }
    if (size > chunkBytes) {
      yield Buffer.from(head + piece); // a piece larger than a chunk: on its own
      continue;
    }
    used += buf.write(head, used, 'latin1');
    used += buf.write(piece, used, 'utf8');
  }
  if (first) {
    yield Buffer.from('[]\n');
    return;
  }
  if (used + 4 > chunkBytes) {
    yield buf.subarray(0, used);
    used = 0;
  }
  used += buf.write('\n]\n', used, 'latin1');
  yield buf.subarray(0, used);
}
