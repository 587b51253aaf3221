// Further bench sections register here (stream, console, postgres).
import type { Section } from './bench.js';
import { streamSection } from './stream.js';

export const sections: Record<string, Section> = {
  stream: streamSection,
};
