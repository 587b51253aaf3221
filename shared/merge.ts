// Information-preserving merge of two concurrent versions of one record (the seed's
// merge_concurrent_states). Fields changed on one side only take that side; fields changed on both
// sides to different values keep `ours` (the daemon's acknowledged write) and record `theirs` in
// `merge_conflicts`, so no value from either side is ever dropped. Deterministic: same inputs, same output.
import { canonicalJson } from './canonical.js';
import type { Json, JsonObject } from './types.js';
import { getOwn, setOwn } from './types.js';

export const CONFLICTS_FIELD = 'merge_conflicts';

export interface FieldConflict {
  field: string;
  kept: Json;
  other: Json | null;
  source: string;
}

function same(a: Json | undefined, b: Json | undefined): boolean {
  return canonicalJson(a ?? null) === canonicalJson(b ?? null) && (a === undefined) === (b === undefined);
}

function isObject(v: Json | undefined): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function mergeInto(
  base: JsonObject | null,
  ours: JsonObject,
  theirs: JsonObject,
  prefix: string,
  out: JsonObject,
  conflicts: FieldConflict[],
  source: string,
): void {
  // Sorted, so the conflict list (and everything else) does not depend on the order of keys.
  const keys = [...new Set([...Object.keys(ours), ...Object.keys(theirs)])].filter((k) => k !== CONFLICTS_FIELD || prefix !== '').sort();
  // Own fields only, set as own properties: a field may be named `__proto__` or `constructor`.
  const put = (k: string, v: Json): void => setOwn(out, k, v);
  for (const k of keys) {
    const o = getOwn(ours, k);
    const t = getOwn(theirs, k);
    const b = base ? getOwn(base, k) : undefined;
    if (same(o, t)) put(k, o ?? (t as Json));
    else if (base && same(o, b)) {
      if (t !== undefined) put(k, t); // only theirs changed (or added)
    } else if (base && same(t, b)) {
      if (o !== undefined) put(k, o); // only ours changed
    } else if (isObject(o) && isObject(t)) {
      const nested: JsonObject = {};
      mergeInto(isObject(b) ? b : base ? {} : null, o, t, prefix + k + '.', nested, conflicts, source);
      put(k, nested);
    } else if (o === undefined) {
      put(k, t as Json); // a field only theirs has: keep it
    } else if (t === undefined) {
      put(k, o); // a field only ours has: keep it
    } else {
      put(k, o);
      conflicts.push({ field: prefix + k, kept: o, other: t, source });
    }
  }
}

/**
 * Three-way merge. `base` is the version both sides started from (null when unknown: then every
 * differing field is a conflict). Returns the merged record and the conflicts, which are also
 * appended to the record's `merge_conflicts` list so the losing values stay visible in the files.
 */
export function mergeRecords(
  base: JsonObject | null,
  ours: JsonObject,
  theirs: JsonObject,
  source = 'file',
  at?: string,
): { merged: JsonObject; conflicts: FieldConflict[] } {
  const merged: JsonObject = {};
  const conflicts: FieldConflict[] = [];
  mergeInto(base, ours, theirs, '', merged, conflicts, source);
  const prior = [
    ...(Array.isArray(ours[CONFLICTS_FIELD]) ? ours[CONFLICTS_FIELD] : []),
    ...(Array.isArray(theirs[CONFLICTS_FIELD]) ? theirs[CONFLICTS_FIELD] : []),
  ];
  const seen = new Set<string>();
  const list: Json[] = [];
  for (const c of [...prior, ...conflicts.map((c) => ({ ...c, ...(at ? { at } : {}) }))]) {
    const key = canonicalJson(c);
    if (!seen.has(key)) {
      seen.add(key);
      list.push(c);
    }
  }
  if (list.length > 0) merged[CONFLICTS_FIELD] = list;
  return { merged, conflicts };
}
