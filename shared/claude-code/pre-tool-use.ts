// PreToolUse of an edit, pure: which file a tool call is about to change, and the answers Claude
// Code documents for a PreToolUse hook (deny with a reason; add context without a decision, so the
// user's own permission rules still apply).

/** The tools that change a file, and the tool_input field naming it. */
export const EDIT_TOOLS: Readonly<Record<string, string>> = { Edit: 'file_path', Write: 'file_path', MultiEdit: 'file_path', NotebookEdit: 'notebook_path' };

/** The path an edit tool call names (as given: absolute, or relative to cwd), or null for other calls. */
export function editedPath(payload: { hook_event_name: string; tool_name?: unknown; tool_input?: unknown }): string | null {
  if (payload.hook_event_name !== 'PreToolUse' || typeof payload.tool_name !== 'string' || !Object.hasOwn(EDIT_TOOLS, payload.tool_name)) return null;
  const input = payload.tool_input;
  if (input === null || typeof input !== 'object') return null;
  const p = (input as Record<string, unknown>)[EDIT_TOOLS[payload.tool_name]];
  return typeof p === 'string' && p !== '' ? p : null;
}

export interface PreToolUseAnswer {
  hookSpecificOutput: { hookEventName: 'PreToolUse'; permissionDecision?: 'deny'; permissionDecisionReason?: string; additionalContext?: string };
}

export function denyAnswer(reason: string): PreToolUseAnswer {
  return { hookSpecificOutput: { hookEventName: 'PreToolUse', permissionDecision: 'deny', permissionDecisionReason: reason } };
}

export function contextAnswer(context: string): PreToolUseAnswer {
  return { hookSpecificOutput: { hookEventName: 'PreToolUse', additionalContext: context } };
}
