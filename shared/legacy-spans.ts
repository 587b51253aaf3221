// Reader for the legacy `telemetry_spans.jsonl`. Despite its name the file is mostly pretty-printed
// multi-line JSON objects written back to back, sometimes real one-line JSONL, and it holds chunks
// that are not valid JSON at all (`"s2s.recommendations_count": ` with no value, raw newlines inside
// strings). Zero loss: every byte of the input lands in exactly one segment's `sep` or `text`, so
// `joinSpanSegments(parseLegacySpans(t)) === t`, and unparseable chunks are kept verbatim as fragments.
// Pure: no I/O.
import type { JsonObject } from './types.js';

interface SegmentBase {
  /** Whitespace between the previous segment (or the start of the input) and this one. */
  sep: string;
  /** The segment's own bytes, verbatim. */
  text: string;
  /** UTF-16 offset of `text` in the input. */
  offset: number;
  /** 1-based line of `text`'s first character. */
  line: number;
}
export interface SpanSegment extends SegmentBase {
  kind: 'span';
  value: JsonObject;
}
export interface FragmentSegment extends SegmentBase {
  kind: 'fragment';
  error: string;
  /** True when the chunk starts like an object (`{`), false for stray text between objects. */
  objectShaped: boolean;
  /** True when the input ended inside this object: a writer may still be appending to it. */
  unterminated: boolean;
}
export type LegacySegment = SpanSegment | FragmentSegment;

export interface LegacySpanParse {
  segments: LegacySegment[];
  /** Whitespace after the last segment (usually the final newline). */
  trailing: string;
}

const isWs = (c: string): boolean => c === ' ' || c === '\n' || c === '\r' || c === '\t';

/**
 * Index just past the object starting at `start` (text[start] === '{'), or -1 if the input ends first.
 * Braces inside strings don't count; a backslash escapes the next character. Raw newlines inside a
 * string are tolerated (the legacy writer produced them), so they don't end the string here.
 */
function scanObject(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

export function parseLegacySpans(text: string): LegacySpanParse {
  const segments: LegacySegment[] = [];
  let pos = 0;
  let line = 1;
  const advanceLines = (s: string): void => {
    for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) === 10) line++;
  };
  while (true) {
    let start = pos;
    while (start < text.length && isWs(text[start])) start++;
    const sep = text.slice(pos, start);
    if (start >= text.length) return { segments, trailing: sep };
    advanceLines(sep);
    const base = { sep, offset: start, line };
    let end: number;
    if (text[start] === '{') {
      const close = scanObject(text, start);
      end = close === -1 ? text.length : close;
      let value: JsonObject | undefined;
      let error = 'unterminated object at end of input';
      if (close !== -1) {
        try {
          value = JSON.parse(text.slice(start, end)) as JsonObject;
        } catch (e) {
          error = (e as Error).message;
        }
      }
      if (value !== undefined) {
        segments.push({ ...base, kind: 'span', text: text.slice(start, end), value });
      } else {
        // A broken object (missing brace, unterminated string) would otherwise swallow every record
        // after it. Top-level objects start at column 0 and nested ones never do in this file, so a
        // failed chunk is cut before its first line that starts with '{' and scanning resumes there.
        const cut = text.indexOf('\n{', start);
        let unterminated = close === -1;
        if (cut !== -1 && cut < end) {
          end = cut;
          while (end > start && isWs(text[end - 1])) end--;
          unterminated = false;
          if (close !== -1) error = 'invalid object (cut at the next line starting with "{"): ' + error;
          else error = 'unterminated object (cut at the next line starting with "{")';
        }
        segments.push({ ...base, kind: 'fragment', text: text.slice(start, end), error, objectShaped: true, unterminated });
      }
    } else {
      // Stray text outside any object (a lone '}', a truncated line's tail): keep it up to the next
      // line that starts an object, so one bad byte doesn't swallow the valid records after it.
      end = start;
      while (end < text.length && !(text[end] === '{' && (end === 0 || text[end - 1] === '\n'))) end++;
      while (end > start && isWs(text[end - 1])) end--; // trailing whitespace becomes the next sep
      segments.push({ ...base, kind: 'fragment', text: text.slice(start, end), error: 'text outside a JSON object', objectShaped: false, unterminated: false });
    }
    advanceLines(text.slice(start, end));
    pos = end;
  }
}

/** Reassembles the input exactly: the inverse of parseLegacySpans. */
export function joinSpanSegments(parse: LegacySpanParse): string {
  let out = '';
  for (const s of parse.segments) out += s.sep + s.text;
  return out + parse.trailing;
}

/** The parsed span objects only, in file order (fragments are reported, not returned here). */
export function legacySpanValues(parse: LegacySpanParse): JsonObject[] {
  return parse.segments.flatMap((s) => (s.kind === 'span' ? [s.value] : []));
}

export interface SpanRecordCounts {
  /** Object-shaped chunks: valid spans plus unparseable objects. */
  records: number;
  valid: number;
  /** Object-shaped chunks that are not valid JSON. */
  invalid: number;
  /** Stray non-object text chunks (not records, but kept and reported). */
  stray: number;
  /** Lines as `wc -l` would see them, plus one for a final line without a newline. */
  lines: number;
}

export function countSpanRecords(text: string): SpanRecordCounts {
  const { segments } = parseLegacySpans(text);
  let valid = 0;
  let invalid = 0;
  let stray = 0;
  for (const s of segments) {
    if (s.kind === 'span') valid++;
    else if (s.objectShaped) invalid++;
    else stray++;
  }
  let lines = 0;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) lines++;
  if (text.length > 0 && !text.endsWith('\n')) lines++;
  return { records: valid + invalid, valid, invalid, stray, lines };
}

// Field order of the legacy writer, so new lines look like the old records; other keys follow in
// their own order.
const LEGACY_KEY_ORDER = [
  'trace_id',
  'span_id',
  'parent_span_id',
  'operation_name',
  'span_kind',
  'status',
  'start_time',
  'duration_ms',
  'service',
  'resource_attributes',
  'span_attributes',
];

/**
 * One span as a single line of JSON, without the trailing newline (the appender adds it; it must
 * also add one first if the file does not end with a newline). JSON.stringify escapes control
 * characters, so the result never contains a raw newline.
 */
export function formatLegacySpan(span: object): string {
  const src = span as Record<string, unknown>;
  // Null prototype: a span field named `__proto__` is kept as a field, not taken for the prototype.
  const ordered: Record<string, unknown> = Object.create(null);
  for (const k of LEGACY_KEY_ORDER) if (Object.hasOwn(src, k)) ordered[k] = src[k];
  for (const k of Object.keys(src)) if (!Object.hasOwn(ordered, k)) ordered[k] = src[k];
  return JSON.stringify(ordered);
}
