// Further bench sections register here (stream, console, postgres, legacy).
import type { Section } from './bench.js';
import { streamSection } from './stream.js';
import { postgresSection } from './postgres.js';
import { consoleSection } from './console.js';
import { legacySection } from './legacy.js';
import { hooksSection } from './claude-code-hooks.js';
import { otlpSection } from './claude-code-otlp.js';

export const sections: Record<string, Section> = {
  stream: streamSection,
  postgres: postgresSection,
  console: consoleSection,
  legacy: legacySection,
  hooks: hooksSection,
  otlp: otlpSection,
};
