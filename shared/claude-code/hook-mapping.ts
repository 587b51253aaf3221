// Claude Code hook events -> the session's agent record (pure). One agent per session; what a hook
// says about the session (status, tool activity, waiting for a human, subagents, agent-team tasks)
// becomes fields of that record. Unknown events and fields are accepted: the event's name is kept,
// nothing else of an unknown payload is stored (never tool inputs, responses or file contents).
import { isValidId } from '../ids.js';
import { NEEDS_INPUT } from '../agent-status.js';
import type { Json, JsonObject } from '../types.js';
import { withFields } from '../types.js';

export const AGENT_PREFIX = 'cc_';
export const SOURCE = 'claude-code';
/** The operation a hook event is (metrics, traces, the journal's cause). */
export const HOOK_OPERATION = 'claude_code_hook';
/** Longest activity target, needs-input message and other shown strings (characters). */
export const MAX_TARGET = 120;
export const MAX_MESSAGE = 500;
/** Paths (cwd, transcript) longer than this are refused as malformed. */
export const MAX_PATH = 4096;
/** Subagents kept per session: the most recent, finished ones dropped first. */
export const MAX_SUBAGENTS = 20;

/** What every hook payload carries (documented), plus what some events add. Other fields are ignored. */
export interface HookPayload {
  session_id: string;
  hook_event_name: string;
  cwd?: string;
  transcript_path?: string;
  permission_mode?: string;
  model?: string;
  /** Not sent by Claude Code: a wrapper may name the project itself. */
  project?: string;
  [field: string]: unknown;
}

export type ParseResult = { ok: true; payload: HookPayload } | { ok: false; message: string };

const EVENT_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
const OPTIONAL_STRINGS: Array<[string, number]> = [
  ['cwd', MAX_PATH],
  ['transcript_path', MAX_PATH],
  ['permission_mode', 64],
  ['model', 256],
  ['project', 256],
];

/** The agent id of a session: `cc_<session_id>`, or null when that is not a valid id. */
export function agentIdFor(sessionId: string): string | null {
  const id = AGENT_PREFIX + sessionId;
  return isValidId(id) ? id : null;
}

/** Checks the fields the mapping relies on; everything else passes through untouched. */
export function parseHookPayload(body: unknown): ParseResult {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    return { ok: false, message: 'the body must be a JSON object (a Claude Code hook payload)' };
  const b = body as Record<string, unknown>;
  if (typeof b.session_id !== 'string' || b.session_id === '') return { ok: false, message: 'session_id: a non-empty string is required' };
  if (agentIdFor(b.session_id) === null)
    return { ok: false, message: `session_id: at most ${128 - AGENT_PREFIX.length} characters of letters, digits, _ - . : and never ".."` };
  if (typeof b.hook_event_name !== 'string' || !EVENT_NAME.test(b.hook_event_name))
    return { ok: false, message: 'hook_event_name: an event name (letters, digits, _; at most 64) is required' };
  for (const [field, max] of OPTIONAL_STRINGS) {
    const v = b[field];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string') return { ok: false, message: `${field}: must be a string` };
    if (v.length > max) return { ok: false, message: `${field}: longer than ${max} characters` };
  }
  return { ok: true, payload: b as HookPayload };
}

export interface MapContext {
  /** ISO UTC seconds. */
  now: string;
  /** The project of `cwd` as the caller found it: a name, null for "not in a repository", undefined for "unknown: keep". */
  project?: string | null;
}

export interface TaskChange {
  kind: 'created' | 'completed';
  work_id: string;
  description: string;
}

export interface HookPlan {
  /** The agent record after the event. */
  agent: JsonObject;
  /** SessionEnd: the session's claims are to be released. */
  releaseClaims: boolean;
  /** Agent-team task events: a work item to create+claim, or to complete. */
  task?: TaskChange;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** At most `max` characters: the head of a text, with an ellipsis when cut. */
export function clip(s: string, max = MAX_TARGET): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length <= max ? one : one.slice(0, max - 1) + '…';
}

/** At most `max` characters of a path: its tail (the file name matters most). */
function clipPath(s: string, max = MAX_TARGET): string {
  return s.length <= max ? s : '…' + s.slice(s.length - max + 1);
}

/** A URL without its query and fragment (they may carry credentials), bounded. */
function clipUrl(s: string): string {
  const cut = s.search(/[?#]/);
  return clip(cut >= 0 ? s.slice(0, cut) : s);
}

/** The first words of a shell command: enough to recognise it, not its arguments' contents. */
function firstWords(command: string, words = 4): string {
  const firstLine = command.trim().split('\n', 1)[0];
  return clip(firstLine.split(/\s+/).slice(0, words).join(' '));
}

/** What a tool call is about, in a few words: a path, a command's first words, a URL, a pattern. */
export function toolTarget(tool: string, input: unknown): string | null {
  if (input === null || typeof input !== 'object') return null;
  const i = input as Record<string, unknown>;
  switch (tool) {
    case 'Edit':
    case 'Write':
    case 'MultiEdit':
    case 'Read': {
      const p = str(i.file_path);
      return p ? clipPath(p) : null;
    }
    case 'NotebookEdit': {
      const p = str(i.notebook_path);
      return p ? clipPath(p) : null;
    }
    case 'Bash': {
      const c = str(i.command);
      return c ? firstWords(c) : null;
    }
    case 'WebFetch': {
      const u = str(i.url);
      return u ? clipUrl(u) : null;
    }
    case 'Grep':
    case 'Glob': {
      const p = str(i.pattern);
      return p ? clip(p) : null;
    }
    case 'WebSearch': {
      const q = str(i.query);
      return q ? clip(q) : null;
    }
    case 'Task':
    case 'Agent': {
      const d = str(i.description) ?? str(i.subagent_type);
      return d ? clip(d) : null;
    }
    default:
      return null;
  }
}

const WORKING_EVENTS = new Set(['UserPromptSubmit', 'PreToolUse', 'PostToolUse', 'PostToolUseFailure', 'PostToolBatch', 'ElicitationResult']);
const TOOL_EVENTS = new Set(['PreToolUse', 'PostToolUse', 'PostToolUseFailure']);
const WAITING_NOTIFICATIONS = new Set(['permission_prompt', 'agent_needs_input']);

/** The status an event moves the session to, or undefined to keep the current one. */
export function statusAfter(p: HookPayload): string | undefined {
  const event = p.hook_event_name;
  if (event === 'SessionStart') return 'idle';
  if (WORKING_EVENTS.has(event)) return 'working';
  if (event === 'Notification') {
    const type = str(p.notification_type);
    if (type && WAITING_NOTIFICATIONS.has(type)) return NEEDS_INPUT;
    if (type === 'idle_prompt') return 'idle';
    return undefined;
  }
  if (event === 'PermissionRequest' || event === 'Elicitation') return NEEDS_INPUT;
  if (event === 'Stop' || event === 'StopFailure') return 'idle';
  if (event === 'SessionEnd') return 'offline';
  return undefined;
}

/** What the human is asked, for the console. */
function waitingMessage(p: HookPayload): string {
  const message = str(p.message);
  if (message) return clip(message, MAX_MESSAGE);
  const tool = str(p.tool_name);
  if (p.hook_event_name === 'PermissionRequest' && tool) {
    const target = toolTarget(tool, p.tool_input);
    return clip(`Claude needs your permission to use ${tool}${target ? ': ' + target : ''}`, MAX_MESSAGE);
  }
  const server = str(p.mcp_server_name);
  if (p.hook_event_name === 'Elicitation' && server) return clip(`${server} asks for input`, MAX_MESSAGE);
  return 'Claude Code is waiting for your input';
}

function isObject(v: Json | undefined): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The subagent list after a SubagentStart/SubagentStop, bounded to MAX_SUBAGENTS. */
function nextSubagents(current: Json | undefined, p: HookPayload, now: string): JsonObject[] | undefined {
  const id = str(p.agent_id);
  if (!id) return undefined;
  const list: JsonObject[] = Array.isArray(current) ? current.filter(isObject).map((s) => withFields(s)) : [];
  let entry = list.find((s) => s.agent_id === id);
  if (!entry) {
    entry = { agent_id: clip(id, 128), agent_type: null, started_at: null, stopped_at: null };
    list.push(entry);
  }
  const type = str(p.agent_type);
  if (type) entry.agent_type = clip(type, 128);
  if (p.hook_event_name === 'SubagentStart') {
    entry.started_at = now;
    entry.stopped_at = null;
  } else {
    entry.stopped_at = now;
  }
  while (list.length > MAX_SUBAGENTS) {
    const finished = list.findIndex((s) => s.stopped_at !== null);
    list.splice(finished >= 0 ? finished : 0, 1);
  }
  return list;
}

/** The work item of an agent-team task: per team when the payload names one (teammates share its list), else per session. */
export function taskWorkId(p: HookPayload): string | null {
  const task = str(p.task_id) ?? (typeof p.task_id === 'number' ? String(p.task_id) : undefined);
  if (!task) return null;
  const scope = str(p.team_name) ?? p.session_id;
  const id = `cc_task_${scope}_${task}`;
  return isValidId(id) ? id : null;
}

function taskChange(p: HookPayload): TaskChange | undefined {
  const kind = p.hook_event_name === 'TaskCreated' ? 'created' : p.hook_event_name === 'TaskCompleted' ? 'completed' : null;
  if (!kind) return undefined;
  const work_id = taskWorkId(p);
  if (!work_id) return undefined;
  const description = clip(str(p.task_subject) ?? str(p.task_description) ?? `Claude Code task ${String(p.task_id)}`, MAX_MESSAGE);
  return { kind, work_id, description };
}

/**
 * The session's agent record after one hook event. `current` is the record as it is (or a freshly
 * made one for an unknown session: hooks may be installed mid-session, any event registers it).
 */
export function mapHookEvent(p: HookPayload, current: JsonObject, ctx: MapContext): HookPlan {
  const { now } = ctx;
  const event = p.hook_event_name;
  const known = current.source === SOURCE;
  const agent = withFields(current, { source: SOURCE, session_id: p.session_id, last_heartbeat: now, last_event: event, last_event_at: now });
  if (p.cwd) agent.cwd = p.cwd;
  if (ctx.project !== undefined) agent.project = ctx.project;
  else if (!known) agent.project = null;
  for (const field of ['transcript_path', 'permission_mode', 'model'] as const) {
    const v = str(p[field]);
    if (v) agent[field] = v;
  }
  if (!known) {
    agent.subagents = [];
    if (!('model' in agent)) agent.model = null;
  }

  const moved = statusAfter(p);
  const status = moved ?? (known ? undefined : 'idle');
  if (status !== undefined) agent.status = status;
  if (agent.status !== NEEDS_INPUT) {
    if ('needs_input' in agent) delete agent.needs_input;
  } else if (moved === NEEDS_INPUT || !isObject(agent.needs_input)) {
    // A repeated prompt within one wait updates the message and keeps since when.
    const waiting = current.status === NEEDS_INPUT && isObject(current.needs_input) ? current.needs_input : null;
    agent.needs_input = { message: waitingMessage(p), since: typeof waiting?.since === 'string' ? waiting.since : now };
  }

  const tool = str(p.tool_name);
  if (TOOL_EVENTS.has(event) && tool) {
    const activity: JsonObject = { tool: clip(tool, 128), target: toolTarget(tool, p.tool_input), at: now };
    const sub = str(p.agent_id);
    if (sub) activity.agent_id = clip(sub, 128);
    agent.activity = activity;
  }
  if (event === 'SubagentStart' || event === 'SubagentStop') {
    const list = nextSubagents(current.subagents, p, now);
    if (list) agent.subagents = list;
  }
  if (event === 'SessionEnd') agent.ended_reason = str(p.reason) ? clip(p.reason as string, 64) : null;
  else if (event === 'SessionStart' && 'ended_reason' in agent) delete agent.ended_reason;

  return { agent, releaseClaims: event === 'SessionEnd', task: taskChange(p) };
}
