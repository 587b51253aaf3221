// Further bench sections register here (stream, console, postgres, legacy, memory, hooks, otlp, paths, queues).
import type { Section } from './report.js';
import { streamSection } from './stream.js';
import { postgresSection } from './postgres.js';
import { consoleSection } from './console.js';
import { legacyBigEditSection, legacySection } from './legacy.js';
import { hooksSection } from './claude-code-hooks.js';
import { memorySection } from './memory.js';
import { otlpSection } from './claude-code-otlp.js';
import { workGraphSection } from './work-graph.js';
import { pathsSection } from './path-leases.js';
import { queueComparisonSection } from './queue-comparison.js';

export const sections: Record<string, Section> = {
  stream: streamSection,
  postgres: postgresSection,
  console: consoleSection,
  legacy: legacySection,
  'legacy-big-edit': legacyBigEditSection,
  hooks: hooksSection,
  memory: memorySection,
  otlp: otlpSection,
  'work-graph': workGraphSection,
  paths: pathsSection,
  queues: queueComparisonSection,
};
