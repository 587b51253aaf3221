// Figures, the readable table, and the comparison of two runs (the seed's compare_performance.py).
export interface Figure {
  name: string;
  value: number;
  unit: string;
  /** Target from the issues, if any, and which direction is better. */
  target?: number;
  better: 'higher' | 'lower';
}

export function meets(f: Figure): boolean | null {
  if (f.target === undefined) return null;
  return f.better === 'higher' ? f.value >= f.target : f.value <= f.target;
}

export function printTable(figures: Figure[], write: (s: string) => void): void {
  const w = Math.max(...figures.map((f) => f.name.length), 10);
  write(`\n${'figure'.padEnd(w)}  ${'value'.padStart(12)}  unit      target        ok\n`);
  for (const f of figures) {
    const ok = meets(f);
    const target = f.target === undefined ? '' : `${f.better === 'higher' ? '>=' : '<='} ${f.target}`;
    write(`${f.name.padEnd(w)}  ${fmt(f.value).padStart(12)}  ${f.unit.padEnd(8)}  ${target.padEnd(12)}  ${ok === null ? '' : ok ? 'yes' : 'NO'}\n`);
  }
}

function fmt(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(4);
}

export interface Comparison {
  name: string;
  old: number;
  new: number;
  change: number;
  regression: boolean;
}

/** A change of more than 10% in the worse direction is a regression. */
export function compareRuns(a: { figures: Figure[] }, b: { figures: Figure[] }): { compared: Comparison[]; regressions: Comparison[] } {
  const old = new Map(a.figures.map((f) => [f.name, f]));
  const compared: Comparison[] = [];
  for (const f of b.figures) {
    const o = old.get(f.name);
    if (!o || o.value === 0) continue;
    const change = (f.value - o.value) / Math.abs(o.value);
    const regression = f.better === 'higher' ? change < -0.1 : change > 0.1;
    compared.push({ name: f.name, old: o.value, new: f.value, change: Math.round(change * 1000) / 1000, regression });
  }
  return { compared, regressions: compared.filter((c) => c.regression) };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

/** A bench section: measures, appends its figures, logs its progress. */
export type Section = (figures: Figure[], log: (msg: string) => void) => Promise<void>;
