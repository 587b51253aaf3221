// Which metric names alerts.yml and the Grafana dashboard use, so tests can hold them against what
// the daemon registers (createMetrics()) or exposes (GET /metrics). No YAML dependency: alerts.yml
// keeps each `expr:` on one line or in a `|`/`>` block, and extractRuleExpressions() checks it found
// one expression per rule, so a layout it cannot read fails loudly instead of checking nothing.
import { readFileSync } from 'node:fs';

export const REPO_ROOT = new URL('../../', import.meta.url);
export const ALERTS_FILE = new URL('alerts.yml', REPO_ROOT);
export const DASHBOARD_FILE = new URL('grafana/dashboards/ai-processor.json', REPO_ROOT);

/** Metrics Prometheus itself makes (not exposed by the daemon). */
export const EXEMPT_METRICS = new Set(['up']);

export interface RuleExpression {
  name: string;
  kind: 'alert' | 'record';
  expr: string;
}

/** `alert:`/`record:` rules and their `expr:` from a Prometheus rule file (layout as in alerts.yml). */
export function extractRuleExpressions(yamlText: string): RuleExpression[] {
  const lines = yamlText.split('\n');
  const out: RuleExpression[] = [];
  let current: { name: string; kind: 'alert' | 'record' } | null = null;
  let ruleCount = 0;
  for (let i = 0; i < lines.length; i++) {
    const rule = /^\s*-?\s*(alert|record):\s*(\S+)\s*$/.exec(lines[i]);
    if (rule) {
      current = { kind: rule[1] as 'alert' | 'record', name: unquote(rule[2]) };
      ruleCount++;
      continue;
    }
    const m = /^(\s*)-?\s*expr:\s*(.*)$/.exec(lines[i]);
    if (!m || !current) continue;
    let expr = m[2].trim();
    if (expr === '|' || expr === '>' || expr === '|-' || expr === '>-') {
      // Block scalar: the following lines indented deeper than `expr:` belong to it.
      const baseIndent = m[1].length;
      const body: string[] = [];
      while (i + 1 < lines.length && (lines[i + 1].trim() === '' || indentOf(lines[i + 1]) > baseIndent)) body.push(lines[++i].trim());
      expr = body.join(expr.startsWith('>') ? ' ' : '\n').trim();
    } else {
      expr = unquote(expr);
    }
    out.push({ ...current, expr });
    current = null;
  }
  if (out.length !== ruleCount) throw new Error(`found ${ruleCount} rules but ${out.length} expressions: unexpected rule file layout`);
  return out;
}

const indentOf = (line: string): number => line.length - line.trimStart().length;
function unquote(s: string): string {
  if (s.length >= 2 && s.startsWith('"') && s.endsWith('"')) return JSON.parse(s) as string;
  if (s.length >= 2 && s.startsWith("'") && s.endsWith("'")) return s.slice(1, -1).replace(/''/g, "'");
  return s;
}

export interface DashboardQuery {
  panel: string;
  expr: string;
}

/** Every PromQL expression of a Grafana dashboard: panel targets (rows' nested panels too) and
 * query variables (`label_values(<selector>, label)` yields its selector). */
export function dashboardExpressions(dashboard: unknown): DashboardQuery[] {
  const d = dashboard as { panels?: unknown[]; templating?: { list?: Array<{ name?: string; query?: unknown }> } };
  const out: DashboardQuery[] = [];
  const walk = (panels: unknown[] | undefined): void => {
    for (const p of panels ?? []) {
      const panel = p as { title?: string; targets?: Array<{ expr?: string }>; panels?: unknown[] };
      for (const t of panel.targets ?? []) if (t.expr) out.push({ panel: panel.title ?? '?', expr: t.expr });
      walk(panel.panels);
    }
  };
  walk(d.panels);
  for (const v of d.templating?.list ?? []) {
    const q = typeof v.query === 'string' ? v.query : (v.query as { query?: string } | undefined)?.query;
    if (!q) continue;
    const lv = /^label_values\((.*),\s*[a-zA-Z_]\w*\s*\)$/.exec(q.trim());
    out.push({ panel: `$${v.name ?? '?'}`, expr: lv ? lv[1] : q });
  }
  return out;
}

/** Replaces Grafana's variables with values PromQL accepts, for parsing outside Grafana. */
export function substituteGrafanaVariables(expr: string): string {
  return expr.replace(/\$__(rate_interval|interval|range)\b/g, (_m, v: string) => (v === 'range' ? '1h' : '1m')).replace(/\$\{?(\w+)(?::\w+)?\}?/g, '.*');
}

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'atan2', 'inf', 'nan']);
const AGGREGATORS = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
  'limitk',
  'limit_ratio',
]);
const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

/**
 * Metric names referenced by a PromQL expression: identifiers that are not functions, aggregators,
 * keywords, label names (in `{...}` or grouping lists), durations or numbers.
 */
export function metricNamesInPromQL(expr: string): string[] {
  const names = new Set<string>();
  const s = expr;
  let i = 0;
  const skipWs = (j: number): number => {
    while (j < s.length && /\s/.test(s[j])) j++;
    return j;
  };
  const skipBalanced = (j: number, open: string, close: string): number => {
    let depth = 0;
    for (; j < s.length; j++) {
      if (s[j] === '"' || s[j] === "'" || s[j] === '`') j = skipString(j);
      else if (s[j] === open) depth++;
      else if (s[j] === close && --depth === 0) return j + 1;
    }
    return j;
  };
  const skipString = (j: number): number => {
    const q = s[j];
    for (j++; j < s.length && s[j] !== q; j++) if (s[j] === '\\') j++;
    return j;
  };
  while (i < s.length) {
    const c = s[i];
    if (c === '"' || c === "'" || c === '`') i = skipString(i) + 1;
    else if (c === '{')
      i = skipBalanced(i, '{', '}'); // label matchers
    else if (c === '[')
      i = skipBalanced(i, '[', ']'); // ranges, subqueries
    else if (c === '$')
      i = /^\$\{?\w+(:\w+)?\}?/.exec(s.slice(i))![0].length + i; // Grafana variable
    else if (/[0-9.]/.test(c)) {
      // number or duration (0.95, 1e-9, 0x1f, 5m, 1h30m)
      i++;
      while (i < s.length && (/[0-9a-zA-Z_.]/.test(s[i]) || (/[+-]/.test(s[i]) && /[eE]/.test(s[i - 1]) && /^[0-9.]/.test(s.slice(i - 2, i - 1))))) i++;
    } else if (/[a-zA-Z_:]/.test(c)) {
      const m = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(s.slice(i))!;
      const word = m[0];
      i += word.length;
      const next = skipWs(i);
      const lower = word.toLowerCase();
      if (GROUPING.has(lower)) {
        if (s[next] === '(') i = skipBalanced(next, '(', ')'); // label list, not metrics
      } else if (KEYWORDS.has(lower)) {
        // operator or literal
      } else if (s[next] === '(') {
        // function call or aggregator with its argument list following
      } else if (AGGREGATORS.has(word) && /^(by|without)\b/.test(s.slice(next))) {
        // `sum by (x) (...)`
      } else {
        names.add(word);
      }
    } else i++;
  }
  return [...names];
}

/** Metric names (as written, e.g. `x_bucket`) used by alerts.yml and the dashboard, minus `up`. */
export function metricNamesUsedByConfigs(): string[] {
  const exprs = [
    ...extractRuleExpressions(readFileSync(ALERTS_FILE, 'utf8')).map((r) => r.expr),
    ...dashboardExpressions(JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8'))).map((q) => q.expr),
  ];
  const names = new Set(exprs.flatMap((e) => metricNamesInPromQL(e)));
  for (const n of EXEMPT_METRICS) names.delete(n);
  return [...names].sort();
}

/**
 * Names not declared in a Prometheus text exposition (`GET /metrics`, registry.metrics()). Checks
 * `# TYPE` lines, so a labelled histogram with no observation yet still counts; a histogram's
 * _bucket/_sum/_count and a summary's _sum/_count count as the family's name.
 */
export function missingFromExposition(names: string[], exposition: string): string[] {
  const families = new Map<string, string>();
  for (const m of exposition.matchAll(/^# TYPE (\S+) (\S+)/gm)) families.set(m[1], m[2]);
  return names.filter((n) => {
    if (families.has(n)) return false;
    const suffix = /^(.*)_(bucket|sum|count)$/.exec(n);
    if (suffix) {
      const type = families.get(suffix[1]);
      if (type === 'histogram' || (type === 'summary' && suffix[2] !== 'bucket')) return false;
    }
    return true;
  });
}
