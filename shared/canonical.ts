// Canonical JSON: object keys sorted (by UTF-16 code unit, like JSON.stringify's default sort),
// no whitespace. Two equal values always give the same text, so hashes of it can be compared.
import type { Json } from './types.js';

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const text = JSON.stringify(value);
    return text === undefined ? 'null' : text;
  }
  return canonicalObject(value);
}

/** Text of a value inside an array or object (same rules as canonicalJson, one call less). */
function canonicalValue(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
      return Number.isFinite(v) ? String(v) : 'null';
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object':
      return v === null ? 'null' : canonicalObject(v);
    default: {
      const text = JSON.stringify(v); // undefined, functions, symbols: null; bigint: throws, as before
      return text === undefined ? 'null' : text;
    }
  }
}

function canonicalObject(value: object): string {
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalValue(value[i]);
    return out + ']';
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  sortKeys(keys);
  let out = '{';
  let first = true;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    const v = obj[k];
    if (v === undefined) continue;
    out += (first ? '' : ',') + JSON.stringify(k) + ':' + canonicalValue(v);
    first = false;
  }
  return out + '}';
}

/**
 * Sorts keys by UTF-16 code unit (what Array.prototype.sort does by default). Records have a few
 * dozen keys at most: an insertion sort in place, which allocates nothing, unlike the built-in sort.
 */
function sortKeys(keys: string[]): void {
  if (keys.length > 64) {
    keys.sort();
    return;
  }
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i];
    let j = i - 1;
    if (keys[j] <= k) continue;
    while (j >= 0 && keys[j] > k) {
      keys[j + 1] = keys[j];
      j--;
    }
    keys[j + 1] = k;
  }
}

export function jsonEqual(a: Json | undefined, b: Json | undefined): boolean {
  return canonicalJson(a) === canonicalJson(b);
}
