// The work item drill-down's graph section: what the item waits for, then its prerequisites and its
// dependents as trees (tui/model/graph-selectors.ts bounds them), above the record's fields.
import type { GraphDetail, TreeLine } from '../../model/graph-selectors.js';
import { waitsForText } from '../../model/graph-selectors.js';
import type { DetailLine } from '../record-detail.js';

function readinessText(g: GraphDetail): string {
  const r = g.readiness;
  switch (r.state) {
    case 'ready':
      return 'ready: every prerequisite completed';
    case 'waiting':
      return `waiting for ${waitsForText(r)}`;
    case 'blocked':
      return `blocked: ${waitsForText(r)} (retry it or remove the dependency)`;
    case 'closed':
      if (g.holder) return `held by ${g.holder} (${g.status})`;
      if (g.outcome === 'done') return `finished (${g.status})`;
      if (g.outcome !== 'failed') return `not claimable (${g.status})`;
      return g.dependents.length ? `${g.status}: its dependents are blocked until it is retried` : g.status;
  }
}

function tree(field: string, lines: TreeLine[]): DetailLine[] {
  if (lines.length === 0) return [{ field, value: 'none' }];
  return lines.map((l, i) => ({ field: i === 0 ? field : '', value: l.prefix + l.text }));
}

export function workGraphLines(g: GraphDetail | null): DetailLine[] {
  if (!g) return [];
  return [{ field: '(readiness)', value: readinessText(g) }, ...tree('(prerequisites)', g.prerequisites), ...tree('(dependents)', g.dependents)];
}
