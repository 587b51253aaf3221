// The names of the legacy files in the data directory, and of the daemon's own folder beside them.
import type { Section } from '../../shared/types.js';

export const VIEW_FILES: Record<Section, string> = {
  work: 'work_claims.json',
  agents: 'agent_status.json',
  log: 'coordination_log.json',
};

export const META_DIR = '.ai-processor';
