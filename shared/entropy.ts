// Information entropy of the coordination state, as the seed's validation script measured it:
// Shannon entropy (bits, -sum p log2 p) of each field's value distribution, summed per component.
// A baseline can be captured and compared later: ratio now/baseline within 0.99..1.01 = conserved.
// Pure: no I/O.
//
// Missing values: a record without the field (or with it set to null) counts as the value null, one
// more bucket in the distribution, so records are never silently left out of the denominator. Both
// reference snapshots have every measured claim/agent field present, so the seed's figures (claims
// work_type 4.04, status 1.43, team 2.97; agents team 3.08 bits on reference/original) come out the
// same under either treatment; null-as-a-value is the one that stays defined when fields go missing.
// Values are compared by canonical JSON, so 1 and "1" differ and {"code":"OK"} objects group together.
import { canonicalJson } from './canonical.js';
import type { CoordinationState, JsonObject, Section } from './types.js';

/**
 * Spans of the daemon's own steps (a journal fsync per group commit, a legacy file write or merge):
 * not fleet telemetry, so the telemetry component never counts them, wherever they come from (the
 * span file may hold them when telemetry_internal_spans is on, or from an older version).
 */
export const DAEMON_INTERNAL_SPANS: ReadonlySet<string> = new Set(['s2s.journal.fsync', 's2s.legacy.write', 's2s.legacy.merge']);

/** True for a span record of the daemon's own steps (see DAEMON_INTERNAL_SPANS). */
export function isDaemonInternalSpan(span: JsonObject): boolean {
  const op = span.operation_name ?? span.operation;
  return typeof op === 'string' && DAEMON_INTERNAL_SPANS.has(op);
}

/** Which fields are measured, per input section, and which component each section feeds. */
export const ENTROPY_FIELDS = {
  work: ['work_type', 'status', 'team', 'priority'],
  agents: ['team', 'status', 'specialization'],
  spans: ['operation', 'status'],
} as const;
export type EntropySection = keyof typeof ENTROPY_FIELDS;
export const ENTROPY_COMPONENTS = ['coordination', 'agents', 'telemetry'] as const;
export type EntropyComponent = (typeof ENTROPY_COMPONENTS)[number];
const COMPONENT_OF: Record<EntropySection, EntropyComponent> = { work: 'coordination', agents: 'agents', spans: 'telemetry' };

export interface EntropyInput {
  work: JsonObject[];
  agents: JsonObject[];
  spans: JsonObject[];
}

export interface EntropyReport {
  /** Per component: sum of its fields' entropies (bits). */
  components: Record<EntropyComponent, number>;
  /** Sum of the components (bits). */
  total: number;
  /** Per component, per field (bits). */
  fields: Record<EntropyComponent, Record<string, number>>;
  /** Records measured per section. */
  counts: Record<EntropySection, number>;
}

/** Shannon entropy in bits of a distribution given by its counts (zeros ignored). */
export function shannonEntropy(counts: Iterable<number>): number {
  let n = 0;
  let s = 0; // sum c*log2(c); H = log2(n) - s/n avoids a second pass
  for (const c of counts) {
    if (c > 0) {
      n += c;
      s += c * Math.log2(c);
    }
  }
  return n === 0 ? 0 : Math.max(0, Math.log2(n) - s / n);
}

/** Shannon entropy in bits of a list of values (compared by canonical JSON; undefined = null). */
export function valueEntropy(values: Iterable<unknown>): number {
  const counts = new Map<string, number>();
  for (const v of values) {
    const k = valueKey(v);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return shannonEntropy(counts.values());
}

function valueKey(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : v === undefined ? 'null' : canonicalJson(v);
}

/**
 * The value a record contributes for a measured field. Spans: legacy spans call the operation
 * `operation_name`; the one-line daemon-cycle records in the newer legacy file call it `operation`.
 */
export function fieldValue(section: EntropySection, data: JsonObject, field: string): unknown {
  if (section === 'spans' && field === 'operation') return data.operation_name ?? data.operation ?? null;
  return data[field] ?? null;
}

/** Full recomputation (EntropyTracker is the incremental twin; tests hold them equal). */
export function stateEntropy(input: EntropyInput): EntropyReport {
  const fields = { coordination: {}, agents: {}, telemetry: {} } as EntropyReport['fields'];
  const components = { coordination: 0, agents: 0, telemetry: 0 } as EntropyReport['components'];
  for (const section of Object.keys(ENTROPY_FIELDS) as EntropySection[]) {
    const comp = COMPONENT_OF[section];
    const records = section === 'spans' ? input.spans.filter((sp) => !isDaemonInternalSpan(sp)) : input[section];
    for (const f of ENTROPY_FIELDS[section]) {
      const h = valueEntropy(records.map((d) => fieldValue(section, d, f)));
      fields[comp][f] = h;
      components[comp] += h;
    }
  }
  const total = components.coordination + components.agents + components.telemetry;
  return {
    components,
    total,
    fields,
    counts: { work: input.work.length, agents: input.agents.length, spans: input.spans.filter((sp) => !isDaemonInternalSpan(sp)).length },
  };
}

/** Plain records of a coordination state (its entries' `data`) plus spans, ready for stateEntropy. */
export function entropyInputFromState(state: CoordinationState, spans: JsonObject[] = []): EntropyInput {
  return {
    work: Object.values(state.work).map((e) => e.data),
    agents: Object.values(state.agents).map((e) => e.data),
    spans,
  };
}

/**
 * Counts per field value, kept as records come and go, so gauges update in O(fields) per change
 * instead of a full recomputation. Per field it keeps n and sum(c*log2 c), so H = log2 n - sum/n.
 * remove() must be given the same data that was add()ed (the record before its change).
 */
export class EntropyTracker {
  private readonly n: Record<EntropySection, number> = { work: 0, agents: 0, spans: 0 };
  private readonly fields = new Map<string, FieldCounts>();
  /** The same counts per section, in ENTROPY_FIELDS order (no key building per update). */
  private readonly bySection = new Map<string, FieldCounts[]>();

  constructor() {
    for (const section of Object.keys(ENTROPY_FIELDS) as EntropySection[]) {
      const list: FieldCounts[] = [];
      for (const f of ENTROPY_FIELDS[section]) {
        const st: FieldCounts = { field: f, counts: new Map(), sum: 0 };
        this.fields.set(section + '.' + f, st);
        list.push(st);
      }
      this.bySection.set(section, list);
    }
  }

  // Sections that are not measured (the coordination log) are accepted and ignored, so the daemon
  // can feed every RecordChange without filtering.
  add(section: EntropySection | Section, data: JsonObject): void {
    this.apply(section, data, +1);
  }

  remove(section: EntropySection | Section, data: JsonObject): void {
    this.apply(section, data, -1);
  }

  /** A record changed: take the old version out and put the new one in. */
  update(section: EntropySection | Section, before: JsonObject | undefined, after: JsonObject | undefined): void {
    if (!before || !after) {
      if (before) this.remove(section, before);
      if (after) this.add(section, after);
      return;
    }
    // Most changes leave most measured fields as they were: only the fields whose value moved count.
    const list = this.bySection.get(section);
    if (list === undefined) return;
    const s = section as EntropySection;
    for (let i = 0; i < list.length; i++) {
      const st = list[i];
      const was = valueKey(fieldValue(s, before, st.field));
      const now = valueKey(fieldValue(s, after, st.field));
      if (was === now) continue;
      this.bump(s, st, was, -1);
      this.bump(s, st, now, +1);
    }
  }

  private bump(section: EntropySection, st: FieldCounts, k: string, delta: 1 | -1): void {
    const c = st.counts.get(k) ?? 0;
    const next = c + delta;
    if (next < 0) throw new Error(`EntropyTracker.remove: ${section}.${st.field} value ${k} was never added`);
    st.sum += xlog2x(next) - xlog2x(c);
    if (next === 0) st.counts.delete(k);
    else st.counts.set(k, next);
  }

  private apply(s: EntropySection | Section, data: JsonObject, delta: 1 | -1): void {
    const list = this.bySection.get(s);
    if (list === undefined) return;
    if (s === 'spans' && isDaemonInternalSpan(data)) return;
    const section = s as EntropySection;
    for (let i = 0; i < list.length; i++) this.bump(section, list[i], valueKey(fieldValue(section, data, list[i].field)), delta);
    this.n[section] += delta;
    // Float drift from many +/- updates: an emptied field is exactly zero again.
    if (this.n[section] === 0) for (const st of list) st.sum = 0;
  }

  snapshot(): EntropyReport {
    const fields = { coordination: {}, agents: {}, telemetry: {} } as EntropyReport['fields'];
    const components = { coordination: 0, agents: 0, telemetry: 0 } as EntropyReport['components'];
    for (const section of Object.keys(ENTROPY_FIELDS) as EntropySection[]) {
      const comp = COMPONENT_OF[section];
      const n = this.n[section];
      for (const f of ENTROPY_FIELDS[section]) {
        const h = n === 0 ? 0 : Math.max(0, Math.log2(n) - this.fields.get(section + '.' + f)!.sum / n);
        fields[comp][f] = h;
        components[comp] += h;
      }
    }
    const total = components.coordination + components.agents + components.telemetry;
    return { components, total, fields, counts: { ...this.n } };
  }
}

interface FieldCounts {
  field: string;
  counts: Map<string, number>;
  sum: number;
}

function xlog2x(c: number): number {
  return c > 0 ? c * Math.log2(c) : 0;
}

// ---- Baselines ------------------------------------------------------------------------------

export interface Baseline {
  /** ISO time of capture. */
  created_at: string;
  /** Coordination revision the baseline was taken at. */
  revision: number;
  entropy: { components: Record<EntropyComponent, number>; total: number; fields?: EntropyReport['fields'] };
  counts: { work: number; agents: number; log: number; spans: number };
  /** Record keys per section, to name what went missing, not just that entropy moved. */
  keys: Record<Section, string[]>;
}

/** What compareToBaseline needs of the present: the same shape as a baseline, minus its stamp. */
export type BaselineNow = Pick<Baseline, 'entropy' | 'keys'>;

export interface BaselineComparison {
  /** now.total / baseline.total (see conservationRatio). */
  ratio: number;
  /** ratio within [CONSERVED_MIN, CONSERVED_MAX]. */
  conserved: boolean;
  /** Per component ratios, for telling where information went. */
  components: Record<EntropyComponent, number>;
  /** Baseline record keys absent now, per section. */
  missing: Record<Section, string[]>;
  missing_count: number;
}

export const CONSERVED_MIN = 0.99;
export const CONSERVED_MAX = 1.01;

/**
 * now / baseline. A zero baseline has nothing to lose: 1 if now is also zero, otherwise Infinity
 * (information appeared from nothing; not "conserved", but not a loss either).
 */
export function conservationRatio(baselineTotal: number, nowTotal: number): number {
  if (baselineTotal === 0) return nowTotal === 0 ? 1 : Infinity;
  return nowTotal / baselineTotal;
}

export function compareToBaseline(baseline: BaselineNow, now: BaselineNow): BaselineComparison {
  const ratio = conservationRatio(baseline.entropy.total, now.entropy.total);
  const components = {} as Record<EntropyComponent, number>;
  for (const c of ENTROPY_COMPONENTS) components[c] = conservationRatio(baseline.entropy.components[c] ?? 0, now.entropy.components[c] ?? 0);
  const missing = {} as Record<Section, string[]>;
  let missing_count = 0;
  for (const s of ['work', 'agents', 'log'] as const) {
    const present = new Set(now.keys[s] ?? []);
    missing[s] = (baseline.keys[s] ?? []).filter((k) => !present.has(k));
    missing_count += missing[s].length;
  }
  return { ratio, conserved: ratio >= CONSERVED_MIN && ratio <= CONSERVED_MAX, components, missing, missing_count };
}

/** Captures a baseline from a coordination state and the spans currently known. */
export function captureBaseline(state: CoordinationState, spans: JsonObject[], revision: number, createdAt: Date = new Date()): Baseline {
  const report = stateEntropy(entropyInputFromState(state, spans));
  return {
    created_at: createdAt.toISOString(),
    revision,
    entropy: { components: report.components, total: report.total, fields: report.fields },
    counts: { work: report.counts.work, agents: report.counts.agents, log: Object.keys(state.log).length, spans: spans.length },
    keys: { work: Object.keys(state.work), agents: Object.keys(state.agents), log: Object.keys(state.log) },
  };
}
