// The baseline file format and the GET /api/entropy answer, shared by the daemon and the
// `baseline` / `validate` commands. Types and one shape check only (pure), so the client commands
// stay light to load.
import type { Baseline, EntropyReport } from './entropy.js';
import type { CoordinationState, Section } from './types.js';
import type { RecordFingerprints } from './record-check.js';

/** A baseline as the daemon captures it (shared/entropy.ts's Baseline plus where and what it was). */
export interface DaemonBaseline extends Baseline {
  format: 1;
  /** State checksum at capture (same as GET /api/coordination/status's `checksum`). */
  checksum: string;
  daemon_version: string;
  data_dir: string;
  /** Fingerprint and field names of every record, what `validate` judges (absent in older baselines). */
  records?: RecordFingerprints;
  /** The coordination state at capture (in the POST answer and baseline-state.json; not in baseline.json). */
  state?: CoordinationState;
}

export interface BaselineSummary {
  created_at: string;
  revision: number;
  total: number;
  components: Record<string, number>;
}

/** What GET /api/entropy answers. */
export interface EntropyNow {
  revision: number;
  checksum: string;
  entropy: EntropyReport;
  counts: { work: number; agents: number; log: number; spans: number };
  baseline: BaselineSummary | null;
  ratio: number | null;
  /** No baseline record missing (records, not entropy: normal work moves the ratio); null without a baseline. */
  conserved: boolean | null;
  /** The entropy ratio within 0.99..1.01 (a before/after check of a migration; informational). */
  ratio_in_range?: boolean;
  /** Baseline records missing now (first 100 per section) and how many in all. */
  missing?: Record<Section, string[]>;
  missing_count?: number;
  /** Record keys per section (with ?keys=1), for validating against a baseline file. */
  keys?: Record<Section, string[]>;
}

export function isBaseline(v: unknown): v is Baseline {
  const b = v as Baseline | null;
  return (
    !!b &&
    typeof b === 'object' &&
    typeof b.entropy?.total === 'number' &&
    typeof b.entropy.components === 'object' &&
    !!b.keys &&
    Array.isArray(b.keys.work) &&
    Array.isArray(b.keys.agents) &&
    Array.isArray(b.keys.log)
  );
}
