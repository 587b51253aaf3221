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

/** The handler install writes on every event: an http hook (a command that fails could fail the session; our one command hook, opt-in, always exits 0). */
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

/** The daemon's endpoint for a session's repository (top-level, origin), sent by our command hook. */
export const REPO_CONTEXT_PATH = '/api/hooks/claude-code/repo';
/** The events our command hook runs on: the session's directory is known, or it changed. */
export const REPO_CONTEXT_EVENTS = ['SessionStart', 'CwdChanged'] as const;
/** The verb of the command hook (the mark of ours: `... hooks repo-context ...`). */
export const REPO_CONTEXT_VERB = 'hooks repo-context';
const REPO_CONTEXT_MARK = /(^|\s)hooks repo-context(\s|$)/;

/**
 * For sessions on another host than the daemon: a command hook that reports the session's git
 * top-level and origin, which the daemon cannot look at there. `command` runs this program.
 */
export function repoContextHandler(command: string): JsonObject {
  return { type: 'command', command, timeout: HOOK_TIMEOUT_S };
}

export function isOurCommand(handler: Json): boolean {
  return isObject(handler) && handler.type === 'command' && typeof handler.command === 'string' && REPO_CONTEXT_MARK.test(handler.command);
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
function removeOurs(groups: Json[], mine: (h: Json) => boolean = isOurs): { groups: Json[]; removed: number } {
  let removed = 0;
  const out: Json[] = [];
  for (const g of groups) {
    if (!isObject(g) || !Array.isArray(g.hooks)) {
      out.push(g);
      continue;
    }
    const kept = g.hooks.filter((h) => !mine(h));
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
  return placeHandler(text, HOOK_EVENTS, ourHandler(opts), isOurs, file);
}

/** Our repo-context command hook on REPO_CONTEXT_EVENTS, beside the http hooks; idempotent like them. */
export function installRepoContext(text: string | null, command: string, file?: string): EditResult {
  return placeHandler(text, REPO_CONTEXT_EVENTS, repoContextHandler(command), isOurCommand, file);
}

/** `handler` (recognised by `mine`) on every event of `wanted` (added, or updated in place), and on no other event. */
function placeHandler(text: string | null, wantedEvents: readonly string[], handler: JsonObject, mine: (h: Json) => boolean, file?: string): EditResult {
  const p = parse(text, file);
  const hooks = hooksOf(p.settings, file ?? 'settings file') ?? {};
  const events: string[] = [];
  const wanted = new Set<string>(wantedEvents);
  for (const event of Object.keys(hooks)) {
    if (wanted.has(event)) continue;
    const groups = groupsOf(hooks, event, file ?? 'settings file') ?? [];
    const { groups: kept, removed } = removeOurs(groups, mine);
    if (removed === 0) continue;
    events.push(event);
    if (kept.length > 0) hooks[event] = kept;
    else delete hooks[event];
  }
  for (const event of wantedEvents) {
    const groups = groupsOf(hooks, event, file ?? 'settings file');
    const ours = (groups ?? []).flatMap((g) => (isObject(g) && Array.isArray(g.hooks) ? g.hooks.filter(mine) : []));
    if (ours.length === 1 && same(ours[0], handler)) continue;
    events.push(event);
    if (ours.length === 1) {
      // Updated where it stands (a new URL or token setting), the group's other handlers untouched.
      for (const g of groups ?? []) {
        if (!isObject(g) || !Array.isArray(g.hooks)) continue;
        const i = g.hooks.findIndex(mine);
        if (i >= 0) g.hooks[i] = handler;
      }
    } else {
      const kept = groups ? removeOurs(groups, mine).groups : [];
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
  return removeHandlers(text, (h) => isOurs(h) || isOurCommand(h), file);
}

function removeHandlers(text: string | null, mine: (h: Json) => boolean, file?: string): EditResult {
  if (text === null) return { text: '', changed: false, events: [] };
  const p = parse(text, file);
  const hooks = hooksOf(p.settings, file ?? 'settings file');
  if (!hooks) return { text, changed: false, events: [] };
  const events: string[] = [];
  for (const event of Object.keys(hooks)) {
    const groups = groupsOf(hooks, event, file ?? 'settings file') ?? [];
    const { groups: kept, removed } = removeOurs(groups, mine);
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
  /** Events carrying our repo-context command hook (`hooks install --repo-context`). */
  repo_context: string[];
}

export function hooksStatus(text: string | null, file?: string): HooksStatus {
  const p = parse(text, file);
  const hooks = hooksOf(p.settings, file ?? 'settings file') ?? {};
  const installed: HooksStatus['installed'] = [];
  const repoContext = new Set<string>();
  for (const event of Object.keys(hooks)) {
    for (const g of groupsOf(hooks, event, file ?? 'settings file') ?? []) {
      if (!isObject(g) || !Array.isArray(g.hooks)) continue;
      for (const h of g.hooks) {
        if (isOurCommand(h)) repoContext.add(event);
        if (!isOurs(h) || !isObject(h)) continue;
        installed.push({ event, url: h.url as string, token: Array.isArray(h.allowedEnvVars) && h.allowedEnvVars.includes(TOKEN_ENV) });
      }
    }
  }
  const have = new Set(installed.map((i) => i.event));
  return { installed, missing: HOOK_EVENTS.filter((e) => !have.has(e)), repo_context: [...repoContext] };
}

// ---- Telemetry: the `env` block that points Claude Code's OpenTelemetry exporter at the daemon ----

/** Lists the env keys install set, so uninstall removes exactly those (and no value the user had). */
export const TELEMETRY_MARK = 'AI_PROCESSOR_TELEMETRY';

/** The daemon's base URL: the exporter appends /v1/metrics and /v1/logs itself. */
export function telemetryEndpoint(url: string): string {
  const base = url.replace(/\/+$/, '');
  return base.endsWith(HOOK_PATH) ? base.slice(0, -HOOK_PATH.length) : base;
}

/** What install writes into `env`. No header: a token is never written into the file (docs/claude-code.md). */
export function telemetryEnv(url: string): Record<string, string> {
  return {
    CLAUDE_CODE_ENABLE_TELEMETRY: '1',
    OTEL_METRICS_EXPORTER: 'otlp',
    OTEL_LOGS_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_ENDPOINT: telemetryEndpoint(url),
  };
}

function envOf(settings: JsonObject, file: string): JsonObject | null {
  const env = settings.env;
  if (env === undefined) return null;
  if (!isObject(env)) throw new SettingsError(`${file}: "env" is not an object; left untouched`);
  return env;
}

function markedKeys(env: JsonObject): string[] {
  return typeof env[TELEMETRY_MARK] === 'string' ? env[TELEMETRY_MARK].split(',').filter(Boolean) : [];
}

/**
 * Our telemetry keys in `env`, merged: a key the user already set to the same value is left theirs;
 * one they set to another value (their own collector) is refused, the file untouched. A second
 * install with another URL updates our keys in place.
 */
export function installTelemetry(text: string | null, opts: { url: string }, file = 'settings file'): EditResult {
  const p = parse(text, file);
  const env = envOf(p.settings, file) ?? {};
  const ours = new Set(markedKeys(env));
  const wanted = telemetryEnv(opts.url);
  const changedKeys: string[] = [];
  for (const [key, value] of Object.entries(wanted)) {
    const have = env[key];
    if (have === value) continue;
    if (have !== undefined && !ours.has(key)) {
      throw new SettingsError(
        `${file}: env.${key} is already ${JSON.stringify(have)} (telemetry set up for another collector?); left untouched: remove it, or leave out --telemetry`,
      );
    }
    env[key] = value;
    ours.add(key);
    changedKeys.push(key);
  }
  const mark = Object.keys(wanted)
    .filter((k) => ours.has(k))
    .join(',');
  if (changedKeys.length === 0 && (env[TELEMETRY_MARK] ?? '') === mark) return { text: text ?? '', changed: false, events: [] };
  if (mark) env[TELEMETRY_MARK] = mark;
  else delete env[TELEMETRY_MARK];
  p.settings.env = env;
  return { text: serialise(p), changed: true, events: changedKeys };
}

/** Removes the env keys install set (as its mark lists them), the mark, and `env` when that left it empty. */
export function uninstallTelemetry(text: string | null, file = 'settings file'): EditResult {
  if (text === null) return { text: '', changed: false, events: [] };
  const p = parse(text, file);
  const env = envOf(p.settings, file);
  if (!env || env[TELEMETRY_MARK] === undefined) return { text, changed: false, events: [] };
  const keys = markedKeys(env).filter((k) => k in env);
  for (const k of keys) delete env[k];
  delete env[TELEMETRY_MARK];
  if (Object.keys(env).length === 0) delete p.settings.env;
  return { text: serialise(p), changed: true, events: keys };
}

/** The endpoint our telemetry keys point at, or null when install did not set them here. */
export function telemetryStatus(text: string | null, file = 'settings file'): { endpoint: string | null; keys: string[] } | null {
  if (text === null) return null;
  const env = envOf(parse(text, file).settings, file);
  if (!env || env[TELEMETRY_MARK] === undefined) return null;
  const endpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT;
  return { endpoint: typeof endpoint === 'string' ? endpoint : null, keys: markedKeys(env) };
}
