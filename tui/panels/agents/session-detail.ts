// The drill-down of a Claude Code session: what it is, what it does, what it waits for and what it
// has cost, as lines above the record's raw fields.
import type { Json, JsonObject } from '../../../shared/types.js';
import { fmtAge, fmtClock, fmtCount, fmtUsd } from '../../layout/format.js';
import { activityText, isSession, waitingMessage, waitingSince } from '../../model/sessions.js';
import { parseTime } from '../../model/selectors.js';
import type { DetailLine } from '../record-detail.js';

const str = (v: Json | undefined): string | null => (typeof v === 'string' && v !== '' ? v : null);
const num = (v: Json | undefined): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const obj = (v: Json | undefined): JsonObject | null => (v !== null && typeof v === 'object' && !Array.isArray(v) ? v : null);
const ago = (t: number | null, now: number): string => (t === null ? '' : ` (${fmtAge(Math.max(0, now - t))} ago)`);

/** Summary lines of a session's agent record; none for other agents. */
export function sessionLines(d: JsonObject, now: number): DetailLine[] {
  if (!isSession(d)) return [];
  const lines: DetailLine[] = [
    { field: '(session)', value: str(d.session_id) ?? '-' },
    { field: '(project)', value: `${str(d.project) ?? '-'}${str(d.cwd) ? `  in ${str(d.cwd)}` : ''}` },
    { field: '(model)', value: str(d.model) ?? '-' },
  ];
  const since = waitingSince(d);
  if (d.status === 'needs_input') {
    lines.push({
      field: '(needs input)',
      value: `! waiting ${since === null ? '' : `${fmtAge(now - since)} (since ${fmtClock(since)}): `}${waitingMessage(d) ?? '-'}`,
    });
  } else {
    lines.push({ field: '(status)', value: str(d.status) ?? '-' });
  }
  const activity = activityText(d);
  lines.push({ field: '(activity)', value: activity ? activity + ago(parseTime(obj(d.activity)?.at), now) : '-' });
  const usage = obj(d.usage);
  if (usage) {
    const t = obj(usage.tokens) ?? {};
    const day = obj(d.usage_day);
    lines.push({
      field: '(cost)',
      value: `${fmtUsd(num(usage.cost_usd))}${day ? `, ${fmtUsd(num(day.cost_usd))} on ${str(day.date) ?? '?'}` : ''}${d.over_budget === true ? '  ! over budget' : ''}`,
    });
    lines.push({
      field: '(tokens)',
      value: `input ${fmtCount(num(t.input))} · output ${fmtCount(num(t.output))} · cache read ${fmtCount(num(t.cache_read))} · cache creation ${fmtCount(num(t.cache_creation))}`,
    });
    lines.push({
      field: '(work)',
      value: `active ${fmtAge(num(usage.active_s) * 1000)} · lines +${num(usage.lines_added)} -${num(usage.lines_removed)} · ${num(usage.commits)} commits · ${num(usage.pull_requests)} PRs`,
    });
  } else {
    lines.push({ field: '(cost)', value: '- (no telemetry from this session)' });
  }
  const subagents = Array.isArray(d.subagents) ? d.subagents.map(obj).filter((s): s is JsonObject => s !== null) : [];
  const running = subagents.filter((s) => s.stopped_at === null || s.stopped_at === undefined).length;
  lines.push({ field: '(subagents)', value: subagents.length ? `${running} running, ${subagents.length - running} finished` : 'none' });
  for (const s of subagents) {
    const stopped = parseTime(s.stopped_at);
    const started = parseTime(s.started_at);
    lines.push({
      field: `  ${str(s.agent_id) ?? '?'}`,
      value: `${str(s.agent_type) ?? '-'} · ${stopped === null ? `running${ago(started, now)}` : `finished${ago(stopped, now)}`}`,
    });
  }
  return lines;
}
