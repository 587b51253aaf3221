// Our http hooks in a Claude Code settings file (pure: text in, text out). Install merges them in
// without touching anything else; uninstall takes out exactly what install added; both leave the
// text byte-identical when there is nothing to do. Our handlers are recognised by their URL path.
import type { Json, JsonObject } from '../types.js';

/** The daemon's endpoint for every hook event (the mark of our handlers). */
export const HOOK_PATH = '/api/hooks/claude-code';
/** The environment variable the session takes the token from (never written into the file). */
export const TOKEN_ENV = 'AI_PROCESSOR_TOKEN';
/** Seconds (the unit of a hook's timeout): a live daemon answers in milliseconds; a dead one must not hold the session up. */
export const HOOK_TIMEOUT_S = 5;

/**
 * The events we install. PermissionRequest is left out on purpose: an unreachable http hook on it
 * has been reported to deny the tool call instead of failing open, and the Notification
 * `permission_prompt` that accompanies every permission dialog tells the same. The daemon still
 * maps a PermissionRequest it receives.
 */
export const HOOK_EVENTS = [
  'SessionStart',
  'UserPromptSubmit',
  'PreToolUse',
  'PostToolUse',
  'PostToolUseFailure',
  'Notification',
  'Elicitation',
  'ElicitationResult',
  'Stop',
  'StopFailure',
  'SubagentStart',
  'SubagentStop',
  'TaskCreated',
  'TaskCompleted',
  'SessionEnd',
] as const;

export class SettingsError extends Error {}

export interface HookOptions {
  /** The daemon's base URL (http://127.0.0.1:4001) or the full hook URL. */
  url: string;
  /** Send the token: an Authorization header filled from $AI_PROCESSOR_TOKEN by Claude Code. */
  token: boolean;
}

export interface EditResult {
  text: string;
  changed: boolean;
  /** Events whose handler was added, updated or removed. */
  events: string[];
}

export function hookUrl(url: string): string {
  const base = url.replace(/\/+$/, '');
  return base.endsWith(HOOK_PATH) ? base : base + HOOK_PATH;
}

/** The handler install writes: an http hook, never a command (a command that fails could fail the session). */
export function ourHandler(opts: HookOptions): JsonObject {
  const h: JsonObject = { type: 'http', url: hookUrl(opts.url), timeout: HOOK_TIMEOUT_S };
  if (opts.token) {
    h.headers = { Authorization: `Bearer $${TOKEN_ENV}` };
    h.allowedEnvVars = [TOKEN_ENV];
  }
  return h;
}

function isObject(v: Json | undefined): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function isOurs(handler: Json): boolean {
  if (!isObject(handler) || handler.type !== 'http' || typeof handler.url !== 'string') return false;
  try {
    return new URL(handler.url).pathname.replace(/\/+$/, '') === HOOK_PATH;
  } catch {
    return false;
  }
}

interface Parsed {
  settings: JsonObject;
  indent: string;
  newline: boolean;
}

function parse(text: string | null, file = 'settings file'): Parsed {
  if (text === null || text.trim() === '') return { settings: {}, indent: '  ', newline: true };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new SettingsError(`${file} is not valid JSON (${(err as Error).message}); left untouched: fix it or choose another file`);
  }
  if (!isObject(value as Json)) throw new SettingsError(`${file} does not hold a JSON object; left untouched`);
  const indent = /\n([ \t]+)["}\]]/.exec(text)?.[1] ?? '  ';
  return { settings: value as JsonObject, indent, newline: text.endsWith('\n') };
}

function serialise(p: Parsed): string {
  return JSON.stringify(p.settings, null, p.indent) + (p.newline ? '\n' : '');
}

function hooksOf(settings: JsonObject, file: string): JsonObject | null {
  const hooks = settings.hooks;
  if (hooks === undefined) return null;
  if (!isObject(hooks)) throw new SettingsError(`${file}: "hooks" is not an object; left untouched`);
  return hooks;
}

function groupsOf(hooks: JsonObject, event: string, file: string): Json[] | null {
  const groups = hooks[event];
  if (groups === undefined) return null;
  if (!Array.isArray(groups)) throw new SettingsError(`${file}: hooks.${event} is not a list; left untouched`);
  return groups;
}

/** Removes our handlers from one event's groups; drops the groups (and reports emptiness) that removal alone emptied. */
function removeOurs(groups: Json[]): { groups: Json[]; removed: number } {
  let removed = 0;
  const out: Json[] = [];
  for (const g of groups) {
    if (!isObject(g) || !Array.isArray(g.hooks)) {
      out.push(g);
      continue;
    }
    const kept = g.hooks.filter((h) => !isOurs(h));
    if (kept.length === g.hooks.length) {
      out.push(g);
      continue;
    }
    removed += g.hooks.length - kept.length;
    if (kept.length > 0) out.push(Object.assign({}, g, { hooks: kept }));
  }
  return { groups: out, removed };
}

const same = (a: Json, b: Json) => JSON.stringify(a) === JSON.stringify(b);

/** Our handler on every event of HOOK_EVENTS (added, or updated in place), and on no other event. */
export function installHooks(text: string | null, opts: HookOptions, file?: string): EditResult {
  const p = parse(text, file);
  const handler = ourHandler(opts);
  const hooks = hooksOf(p.settings, file ?? 'settings file') ?? {};
  const events: string[] = [];
  const wanted = new Set<string>(HOOK_EVENTS);
  for (const event of Object.keys(hooks)) {
    if (wanted.has(event)) continue;
    const groups = groupsOf(hooks, event, file ?? 'settings file') ?? [];
    const { groups: kept, removed } = removeOurs(groups);
    if (removed === 0) continue;
    events.push(event);
    if (kept.length > 0) hooks[event] = kept;
    else delete hooks[event];
  }
  for (const event of HOOK_EVENTS) {
    const groups = groupsOf(hooks, event, file ?? 'settings file');
    const ours = (groups ?? []).flatMap((g) => (isObject(g) && Array.isArray(g.hooks) ? g.hooks.filter(isOurs) : []));
    if (ours.length === 1 && same(ours[0], handler)) continue;
    events.push(event);
    if (ours.length === 1) {
      // Updated where it stands (a new URL or token setting), the group's other handlers untouched.
      for (const g of groups ?? []) {
        if (!isObject(g) || !Array.isArray(g.hooks)) continue;
        const i = g.hooks.findIndex(isOurs);
        if (i >= 0) g.hooks[i] = handler;
      }
    } else {
      const kept = groups ? removeOurs(groups).groups : [];
      kept.push({ hooks: [handler] });
      hooks[event] = kept;
    }
  }
  if (events.length === 0) return { text: text ?? '', changed: false, events };
  p.settings.hooks = hooks;
  return { text: serialise(p), changed: true, events };
}

/** Removes exactly our handlers, and the groups, events and hooks object that their removal alone left empty. */
export function uninstallHooks(text: string | null, file?: string): EditResult {
  if (text === null) return { text: '', changed: false, events: [] };
  const p = parse(text, file);
  const hooks = hooksOf(p.settings, file ?? 'settings file');
  if (!hooks) return { text, changed: false, events: [] };
  const events: string[] = [];
  for (const event of Object.keys(hooks)) {
    const groups = groupsOf(hooks, event, file ?? 'settings file') ?? [];
    const { groups: kept, removed } = removeOurs(groups);
    if (removed === 0) continue;
    events.push(event);
    if (kept.length > 0) hooks[event] = kept;
    else delete hooks[event];
  }
  if (events.length === 0) return { text, changed: false, events };
  if (Object.keys(hooks).length === 0) delete p.settings.hooks;
  return { text: serialise(p), changed: true, events };
}

export interface HooksStatus {
  /** Events carrying our handler, with its URL and whether it sends the token. */
  installed: Array<{ event: string; url: string; token: boolean }>;
  /** Events of HOOK_EVENTS without our handler. */
  missing: string[];
}

export function hooksStatus(text: string | null, file?: string): HooksStatus {
  const p = parse(text, file);
  const hooks = hooksOf(p.settings, file ?? 'settings file') ?? {};
  const installed: HooksStatus['installed'] = [];
  for (const event of Object.keys(hooks)) {
    for (const g of groupsOf(hooks, event, file ?? 'settings file') ?? []) {
      if (!isObject(g) || !Array.isArray(g.hooks)) continue;
      for (const h of g.hooks) {
        if (!isOurs(h) || !isObject(h)) continue;
        installed.push({ event, url: h.url as string, token: Array.isArray(h.allowedEnvVars) && h.allowedEnvVars.includes(TOKEN_ENV) });
      }
    }
  }
  const have = new Set(installed.map((i) => i.event));
  return { installed, missing: HOOK_EVENTS.filter((e) => !have.has(e)) };
}
