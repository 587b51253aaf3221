// Text formatting for cells. Column widths are counted in code points: every glyph we emit
// (ASCII, box drawing, block elements, ellipsis) is one terminal cell wide.

/**
 * Pads or truncates to exactly `width` cells. `middle` keeps both ends: ids like
 * `work_1750100000123456000` differ in their last digits, which an end-ellipsis would hide.
 */
export function fit(text: string, width: number, align: 'left' | 'right' = 'left', ellipsis: 'end' | 'middle' = 'end'): string {
  if (width <= 0) return '';
  const chars = [...text];
  if (chars.length > width) {
    if (width === 1) return '…';
    if (ellipsis === 'middle' && width >= 5) {
      const tail = Math.floor((width - 1) / 2);
      return chars.slice(0, width - 1 - tail).join('') + '…' + chars.slice(chars.length - tail).join('');
    }
    return chars.slice(0, width - 1).join('') + '…';
  }
  const pad = ' '.repeat(width - chars.length);
  return align === 'right' ? pad + text : text + pad;
}

export function truncate(text: string, width: number): string {
  const chars = [...text];
  return chars.length <= width ? text : fit(text, width);
}

const two = (n: number): string => String(n).padStart(2, '0');

/** Compact age: 42s, 12m05s, 3h12m, 5d03h. */
export function fmtAge(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '-';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${two(s % 60)}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${two(m % 60)}m`;
  return `${Math.floor(h / 24)}d${two(h % 24)}h`;
}

/** Local wall-clock time HH:MM:SS. */
export function fmtClock(ms: number): string {
  const d = new Date(ms);
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

export function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '-';
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)}s`;
  return ms >= 100 ? `${ms.toFixed(0)}ms` : `${ms.toFixed(1)}ms`;
}

export function fmtBits(b: number | null): string {
  return b === null || !Number.isFinite(b) ? '-' : b.toFixed(2);
}

export function fmtBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '-';
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(0)} MB`;
  return `${(n / 1024).toFixed(0)} KB`;
}

export function fmtJson(v: unknown): string {
  if (typeof v === 'string') return v;
  return JSON.stringify(v) ?? 'undefined';
}

/** Dollars: $0.42, $12.30, $1234 (cents dropped past $1000); "-" when unknown. */
export function fmtUsd(usd: number | null | undefined): string {
  if (usd === null || usd === undefined || !Number.isFinite(usd)) return '-';
  return usd >= 1000 ? `$${usd.toFixed(0)}` : `$${usd.toFixed(2)}`;
}

/** Counts such as tokens: 950, 12.3k, 4.56M. */
export function fmtCount(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '-';
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return String(Math.round(n));
}
