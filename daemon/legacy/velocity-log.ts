// velocity_log.txt, the legacy helper's velocity record: one line per completion,
// `<ISO time>: Team <team> +<n> velocity points`. The daemon appends a line for each coordination
// log entry that an API call adds (never for entries that came from a legacy file edit or an import:
// the script that wrote those appended its own line). Append-only: O_APPEND writes, never a rewrite,
// so lines written by legacy scripts in the same file stay as they are.
import { appendFile } from 'node:fs/promises';
import path from 'node:path';
import { isoSeconds } from '../../shared/ids.js';
import type { JsonObject } from '../../shared/types.js';
import type { DaemonContext } from '../context.js';

export const VELOCITY_LOG_FILE = 'velocity_log.txt';
const DEFAULT_TEAM = 'autonomous_team';

const str = (v: unknown): string | null => (typeof v === 'string' && v.trim() !== '' ? v : null);

/** The velocity line of one completion; the team is the work item's, else its agent's. */
export function velocityLine(log: JsonObject, team: string | null, now: number = Date.now()): string {
  const at = str(log.completed_at) ?? isoSeconds(now);
  const n = Number(log.velocity_points);
  const points = Number.isFinite(n) ? n : 0;
  // One line per record: a newline inside a team name would forge a second entry.
  const teamName = (team ?? DEFAULT_TEAM).replace(/[\r\n]+/g, ' ');
  return `${at}: Team ${teamName} +${points} velocity points\n`;
}

export function installVelocityLog(ctx: DaemonContext): void {
  const file = path.join(ctx.store.dataDir, VELOCITY_LOG_FILE);
  let chain: Promise<void> = Promise.resolve(); // appends in commit order
  ctx.store.on('commit', (delta) => {
    const source = delta.cause?.source;
    if (source === 'file' || source === 'import') return;
    // The work item as this very revision left it (a completion changes it in the same delta).
    const workInDelta = new Map<string, JsonObject>();
    for (const c of delta.changes) if (c.section === 'work' && c.entry) workInDelta.set(c.key, c.entry.data);
    const teamOf = (log: JsonObject): string | null => {
      const workId = str(log.work_item_id);
      const agentId = str(log.agent_id);
      const work = workId ? (workInDelta.get(workId) ?? ctx.store.get('work', workId)?.data) : undefined;
      const agent = agentId ? ctx.store.get('agents', agentId)?.data : undefined;
      return str(work?.team) ?? str(agent?.team);
    };
    let lines = '';
    for (const c of delta.changes) {
      if (c.section !== 'log' || c.op !== 'put' || !c.entry || c.entry.v !== 1) continue; // new entries only
      lines += velocityLine(c.entry.data, teamOf(c.entry.data));
    }
    if (!lines) return;
    chain = chain.then(() =>
      appendFile(file, lines, { encoding: 'utf8', flag: 'a' }).catch((err: Error) => {
        ctx.logger.warn({ file, err: err.message }, 'cannot append to velocity_log.txt');
        ctx.events.emit('event', 'file_problem', { file: VELOCITY_LOG_FILE, error: `append failed: ${err.message}` });
      }),
    );
  });
  ctx.onClose.push(() => chain);
}
