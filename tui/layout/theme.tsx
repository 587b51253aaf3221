// Colour is an accent, never the only signal: with NO_COLOR (or a monochrome terminal) no colour
// props are emitted at all, and meaning is carried by text ("stale", "!"), bold and inverse.
import { createContext, useContext } from 'react';

/** attention: a session waiting for a human (its own colour, apart from warnings and errors). */
export type Tone = 'ok' | 'warn' | 'error' | 'dim' | 'accent' | 'attention';

const COLORS: Record<Tone, string> = { ok: 'green', warn: 'yellow', error: 'red', dim: 'gray', accent: 'cyan', attention: 'magenta' };

export interface Theme {
  noColor: boolean;
}

export const ThemeContext = createContext<Theme>({ noColor: false });

/** no-color.org: set and non-empty disables colour. */
export function noColorFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  return typeof env.NO_COLOR === 'string' && env.NO_COLOR !== '';
}

export interface ToneStyle {
  color?: string;
  bold?: boolean;
}

/** Text props for a tone: a colour, or in monochrome bold for what needs attention. */
export function useTone(): (tone: Tone | undefined) => ToneStyle {
  const { noColor } = useContext(ThemeContext);
  return (tone) => {
    if (!tone) return {};
    if (noColor) return tone === 'warn' || tone === 'error' || tone === 'attention' ? { bold: true } : {};
    return { color: COLORS[tone], ...(tone === 'error' || tone === 'attention' ? { bold: true } : {}) };
  };
}
