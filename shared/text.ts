// A value of unknown type as text for a message or a key: strings as they are, anything else as JSON,
// so an object shows its fields instead of "[object Object]".
export function textOf(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'bigint') return v.toString();
  return JSON.stringify(v) ?? String(v);
}
