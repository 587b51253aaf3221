// Information conservation, daemon side: the entropy baseline. Captured on request (POST
// /api/entropy/baseline), kept in <data-dir>/.ai-processor/baseline.json (+ baseline-state.json, the
// coordination state at capture), loaded at startup, and compared with the live entropy everywhere it
// is shown: /api/entropy (http/entropy-routes.ts), /api/stats (entropy.baseline, entropy.ratio), /api/coordination/status
// (entropy) and the information_entropy_baseline_bits gauge that alerts.yml's InformationLoss uses.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { compareToBaseline, conservationRatio, CONSERVED_MAX, CONSERVED_MIN } from '../../shared/entropy.js';
import type { BaselineSummary, DaemonBaseline, EntropyNow } from '../../shared/baseline-format.js';
import { isBaseline } from '../../shared/baseline-format.js';
import type { DaemonContext } from '../context.js';
import { setEntropyGauges } from '../metrics.js';
import { writeFileAtomic } from '../../io/fsutil.js';
import { VERSION } from '../../io/version.js';
import { fingerprintState } from '../../shared/record-check.js';
import type { StatsResponse } from '../../shared/protocol.js';

export const BASELINE_FILE = 'baseline.json';
export const BASELINE_STATE_FILE = 'baseline-state.json';

const roundRatio = (r: number): number => (Number.isFinite(r) ? Math.round(r * 1e6) / 1e6 : r);

export class EntropyBaselines {
  private current: DaemonBaseline | null = null;
  readonly file: string;
  readonly stateFile: string;

  constructor(private ctx: DaemonContext) {
    this.file = path.join(ctx.store.metaDir, BASELINE_FILE);
    this.stateFile = path.join(ctx.store.metaDir, BASELINE_STATE_FILE);
  }

  get baseline(): DaemonBaseline | null {
    return this.current;
  }

  async load(): Promise<void> {
    let text: string;
    try {
      text = await fsp.readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        this.ctx.logger.warn({ file: this.file, err: (err as Error).message }, 'cannot read the entropy baseline; running without one');
      return;
    }
    try {
      const parsed = JSON.parse(text) as unknown;
      if (!isBaseline(parsed)) throw new Error('not a baseline');
      this.current = parsed as DaemonBaseline;
      this.gauges();
    } catch (err) {
      this.ctx.logger.warn({ file: this.file, err: (err as Error).message }, 'ignoring an unreadable entropy baseline (capture a new one)');
    }
  }

  /** Captures the baseline now: one synchronous read, so state, entropy, keys and revision agree. */
  capture(): DaemonBaseline {
    const { store, entropy } = this.ctx;
    const report = entropy.snapshot();
    const state = store.state();
    const keys = { work: Object.keys(state.work), agents: Object.keys(state.agents), log: Object.keys(state.log) };
    return {
      format: 1,
      created_at: new Date().toISOString(),
      revision: store.revision,
      checksum: store.checksum(),
      daemon_version: VERSION,
      data_dir: store.dataDir,
      entropy: { components: report.components, total: report.total, fields: report.fields },
      counts: { work: keys.work.length, agents: keys.agents.length, log: keys.log.length, spans: report.counts.spans },
      keys,
      records: fingerprintState(state),
      state,
    };
  }

  /** Captures, stores (durably) and adopts a new baseline; returns it with its state. */
  async captureAndStore(): Promise<DaemonBaseline> {
    const b = this.capture();
    const { state, ...withoutState } = b;
    await writeFileAtomic(this.stateFile, JSON.stringify({ revision: b.revision, checksum: b.checksum, created_at: b.created_at, state }));
    await writeFileAtomic(this.file, JSON.stringify(withoutState));
    this.current = withoutState;
    this.gauges();
    this.ctx.logger.info({ revision: b.revision, total_bits: b.entropy.total, counts: b.counts }, 'entropy baseline captured');
    return b;
  }

  summary(): BaselineSummary | null {
    const b = this.current;
    return b ? { created_at: b.created_at, revision: b.revision, total: b.entropy.total, components: { ...b.entropy.components } } : null;
  }

  ratio(total: number): number | null {
    return this.current ? roundRatio(conservationRatio(this.current.entropy.total, total)) : null;
  }

  gauges(): void {
    setEntropyGauges(this.ctx.metrics, this.ctx.entropy.snapshot(), this.current?.entropy.total ?? 0);
  }

  /** Its part of GET /api/stats. */
  stats(): StatsResponse['entropy'] {
    const r = this.ctx.entropy.snapshot();
    return { components: r.components, total: r.total, fields: r.fields, baseline: this.summary(), ratio: this.ratio(r.total) };
  }

  now(withKeys: boolean): EntropyNow {
    const { store, entropy } = this.ctx;
    const report = entropy.snapshot();
    const keys = { work: [...store.tables.maps.work.keys()], agents: [...store.tables.maps.agents.keys()], log: [...store.tables.maps.log.keys()] };
    const out: EntropyNow = {
      revision: store.revision,
      checksum: store.checksum(),
      entropy: report,
      counts: { work: keys.work.length, agents: keys.agents.length, log: keys.log.length, spans: report.counts.spans },
      baseline: this.summary(),
      ratio: this.ratio(report.total),
      conserved: null,
    };
    if (this.current) {
      const cmp = compareToBaseline(this.current, { entropy: report, keys });
      out.conserved = cmp.missing_count === 0;
      out.ratio_in_range = cmp.conserved;
      out.missing = { work: cmp.missing.work.slice(0, 100), agents: cmp.missing.agents.slice(0, 100), log: cmp.missing.log.slice(0, 100) };
      out.missing_count = cmp.missing_count;
    }
    if (withKeys) out.keys = keys;
    return out;
  }
}

export async function installEntropy(ctx: DaemonContext): Promise<EntropyBaselines> {
  const baselines = new EntropyBaselines(ctx);
  await baselines.load();
  baselines.gauges();
  ctx.statusExtras.push(() => {
    const r = ctx.entropy.snapshot();
    const ratio = baselines.ratio(r.total);
    return {
      entropy: {
        components: r.components,
        total: r.total,
        counts: r.counts,
        baseline_total: baselines.baseline?.entropy.total ?? null,
        ratio,
        conserved: ratio === null ? null : ratio >= CONSERVED_MIN && ratio <= CONSERVED_MAX,
      },
    };
  });
  return baselines;
}
