const BARS = '▁▂▃▄▅▆▇█';

/**
 * The last `width` values as block characters, scaled to the largest shown (or `max` when given,
 * e.g. a target, so bars compare against it). Missing values (NaN) are blanks.
 */
export function sparkline(values: number[], width: number, max?: number): string {
  if (width <= 0) return '';
  const shown = values.slice(-width);
  const finite = shown.filter(Number.isFinite);
  const top = Math.max(max ?? 0, ...finite, 0);
  return shown
    .map((v) => (!Number.isFinite(v) ? ' ' : top <= 0 ? BARS[0] : BARS[Math.min(BARS.length - 1, Math.max(0, Math.round((v / top) * (BARS.length - 1))))]))
    .join('');
}
