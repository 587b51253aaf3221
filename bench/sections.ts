// Further bench sections register here (stream, console, postgres).
import type { Section } from './bench.js';

export const sections: Record<string, Section> = {};
