// Durations as people and the legacy data write them: "30m", "15m", "1h", "2h", "90s", "1h30m",
// "45 min", "1.5h", "500ms". Pure: used by the daemon (claim leases) and the clients (--lease).

/** The estimated_duration the legacy helper wrote on every claim (136 of the 141 legacy claims say so). */
export const LEGACY_ESTIMATED_DURATION = '30m';

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  sec: 1000,
  secs: 1000,
  second: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  mins: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hr: 3_600_000,
  hrs: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000,
};

/**
 * Milliseconds for a duration text, or null when it is not one. Every number needs a unit (a bare
 * "30" could be seconds or minutes); the result is positive and finite.
 */
export function parseDuration(text: unknown): number | null {
  if (typeof text !== 'string' || text.length > 64) return null;
  const s = text.trim().toLowerCase();
  if (s === '') return null;
  const part = /(\d+(?:\.\d+)?)\s*([a-z]+)\s*/y;
  let total = 0;
  let at = 0;
  while (at < s.length) {
    part.lastIndex = at;
    const m = part.exec(s);
    if (!m) return null;
    const unit = UNIT_MS[m[2]];
    if (unit === undefined) return null;
    total += Number(m[1]) * unit;
    at = part.lastIndex;
  }
  const ms = Math.round(total);
  return Number.isFinite(ms) && ms > 0 ? ms : null;
}
