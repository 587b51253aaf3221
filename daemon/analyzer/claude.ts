// The Claude Code CLI as it is called today: `claude -p "<prompt>" --output-format json`, the data on
// stdin. It prints an envelope {"type":"result","subtype":"success","is_error":false,...,"result":"<text>"}
// whose `result` is the model's text, often a ```json fenced block. Everything here is pure.
import { textOf } from '../../shared/text.js';

export const CLAUDE_PRIORITIES_PROMPT = [
  'You are the priority analyzer of an AI agent coordination system.',
  'Standard input holds the coordination state as JSON: {"work": {id: {"v", "rev", "data"}}, "agents": {...}, "log": {...}};',
  'each `data` is a record. Work: work_item_id, agent_id, status, priority (critical|high|medium|low), team, work_type, created_at, claimed_at.',
  'Agents: agent_id, team, status, capacity, current_workload. Work is claimable when its status is pending or released, or it has no agent.',
  'Rank the claimable work (priority first, then age, then how overloaded its team is) and suggest agents with spare capacity for it, same team first.',
  'Answer with ONE JSON object and nothing else, in this shape:',
  '{"analysis": {"summary": string, "bottlenecks": [{"team": string, "reason": string}], "recommendations": [string]},',
  ' "priorities": [{"work_id": string, "score": number (0-125, higher first), "reason": string}],',
  ' "assignments": [{"work_id": string, "agent_id": string, "reason": string}]}',
  'Use only work_id and agent_id values that occur in the input.',
].join('\n');

export function claudeArgs(prompt = CLAUDE_PRIORITIES_PROMPT): string[] {
  return ['-p', prompt, '--output-format', 'json'];
}

/** What a Claude run costs and who answered, for the log. */
export interface ClaudeMeta {
  session_id?: string;
  total_cost_usd?: number;
  duration_ms?: number;
  num_turns?: number;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The model's JSON out of its text: the whole text when it is JSON, else the first fenced block
 * (```json or bare ```) that parses, else the outermost {...} or [...] span. Throws when none parses.
 */
export function extractJson(text: string): unknown {
  const trimmed = text.trim();
  try {
    return JSON.parse(trimmed);
  } catch {
    /* not bare JSON */
  }
  for (const m of trimmed.matchAll(/```[ \t]*([A-Za-z0-9_-]*)[ \t]*\r?\n([\s\S]*?)```/g)) {
    if (m[1] && !/^json[c5l]?$/i.test(m[1])) continue; // a ```bash block is not the answer
    try {
      return JSON.parse(m[2]);
    } catch {
      /* try the next block */
    }
  }
  for (const [open, close] of [['{', '}'], ['[', ']']]) {
    const start = trimmed.indexOf(open);
    const end = trimmed.lastIndexOf(close);
    if (start >= 0 && end > start) {
      try {
        return JSON.parse(trimmed.slice(start, end + 1));
      } catch {
        /* not it */
      }
    }
  }
  throw new Error(`Claude's answer holds no JSON: ${JSON.stringify(trimmed.slice(0, 200))}`);
}

/**
 * Unwraps the CLI's stdout into the model's JSON. Accepts the single result envelope, or an array of
 * messages (as `--verbose` prints) whose last `result` message is the envelope. Throws an Error whose
 * message says what was wrong: not JSON, no result, is_error, no JSON in the answer.
 */
export function unwrapClaudeEnvelope(stdout: string): { value: unknown; meta: ClaudeMeta } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch {
    throw new Error(`claude printed something that is not JSON: ${JSON.stringify(stdout.trim().slice(0, 200))}`);
  }
  const envelope = Array.isArray(parsed) ? parsed.filter((m) => isObject(m) && m.type === 'result').pop() : parsed;
  if (!isObject(envelope) || envelope.type !== 'result') throw new Error('claude printed no result envelope');
  const meta: ClaudeMeta = {};
  for (const k of ['session_id', 'total_cost_usd', 'duration_ms', 'num_turns'] as const) {
    if (envelope[k] !== undefined) (meta as Record<string, unknown>)[k] = envelope[k];
  }
  const text = typeof envelope.result === 'string' ? envelope.result : '';
  if (envelope.is_error === true || (envelope.subtype !== undefined && envelope.subtype !== 'success')) {
    throw new Error(`claude reported an error (${textOf(envelope.subtype ?? 'is_error')}): ${text.slice(0, 500) || 'no message'}`);
  }
  if (typeof envelope.result !== 'string') throw new Error('claude result envelope has no result text');
  return { value: extractJson(text), meta };
}
