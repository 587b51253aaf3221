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
  return JSON.stringify(data, null, 2).replace(/\n/g, '\n  ');
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
export function renderArrayBuffers(texts: readonly string[], chunkBytes?: number): Generator<Uint8Array>;
/** Same, with each element's text taken from `textOf(item)` as the chunk it goes in is filled. */
export function renderArrayBuffers<T>(items: readonly T[], textOf: (item: T) => string, chunkBytes?: number): Generator<Uint8Array>;
export function* renderArrayBuffers<T>(items: readonly T[], a?: number | ((item: T) => string), b?: number): Generator<Uint8Array> {
  const textOf = typeof a === 'function' ? a : (item: T) => item as unknown as string;
  const chunkBytes = (typeof a === 'number' ? a : b) ?? 256 * 1024;
  if (items.length === 0) {
    yield Buffer.from('[]\n');
    return;
  }
  const buf = Buffer.allocUnsafe(chunkBytes);
  let used = buf.write('[\n', 0, 'latin1');
  for (let i = 0; i < items.length; i++) {
    const t = textOf(items[i]);
    // At most 3 UTF-8 bytes per UTF-16 unit, plus the separator: flush first if it might not fit.
    const worst = t.length * 3 + 4;
    if (used + worst > chunkBytes && used > 0) {
      yield buf.subarray(0, used);
      used = 0;
    }
    if (worst > chunkBytes) {
      yield Buffer.from((i === 0 ? '  ' : ',\n  ') + t); // a record larger than a chunk: on its own
      continue;
    }
    used += buf.write(i === 0 ? '  ' : ',\n  ', used, 'latin1');
    used += buf.write(t, used, 'utf8');
  }
  used += buf.write('\n]\n', used, 'latin1');
  yield buf.subarray(0, used);
}
