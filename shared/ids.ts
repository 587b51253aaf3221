// IDs travel into file names, logs and URLs: validate them once, everywhere the same way.
export const ID_PATTERN = /^[A-Za-z0-9_\-.:]{1,128}$/;

export function isValidId(id: unknown): id is string {
  return typeof id === 'string' && ID_PATTERN.test(id) && !id.includes('..');
}

let lastNs = 0n;

/** Nanoseconds since the epoch, strictly increasing within this process (the legacy `date +%s%N`). */
export function nowNs(): bigint {
  const ns = BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
  lastNs = ns > lastNs ? ns : lastNs + 1n;
  return lastNs;
}

/** `work_<ns>` / `agent_<ns>`, as the legacy helper generates them. */
export function generateId(prefix: string): string {
  return `${prefix}_${nowNs()}`;
}

let lastSecond = NaN;
let lastIso = '';

/** ISO UTC with seconds, the legacy timestamp format (2025-06-16T06:38:08Z). Formatted once a second. */
export function isoSeconds(ms: number = Date.now()): string {
  const second = Math.floor(ms / 1000);
  if (second !== lastSecond) {
    lastSecond = second;
    lastIso = new Date(second * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }
  return lastIso;
}
