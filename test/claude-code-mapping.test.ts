// The pure mapping of Claude Code hook payloads onto a session's agent record.
import { describe, expect, it } from 'vitest';
import {
  MAX_SUBAGENTS,
  MAX_TARGET,
  agentIdFor,
  mapHookEvent,
  parseHookPayload,
  statusAfter,
  taskWorkId,
  toolTarget,
  type HookPayload,
} from '../shared/claude-code/hook-mapping.js';
import type { JsonObject } from '../shared/types.js';

const S = '3f1c2a9e-5b7d-4c1e-9a2f-6d8e0b4c7a15';
const ev = (hook_event_name: string, extra: Record<string, unknown> = {}): HookPayload => ({ session_id: S, hook_event_name, cwd: '/w', ...extra });
const fresh = (): JsonObject => ({ agent_id: `cc_${S}`, team: 'autonomous_team', status: 'active', last_heartbeat: '2026-01-01T00:00:00Z' });

describe('tool targets', () => {
  it('names the path, the first words of a command, the URL without its query, the pattern', () => {
    expect(toolTarget('Write', { file_path: '/a/b.ts', content: 'SECRET CONTENT' })).toBe('/a/b.ts');
    expect(toolTarget('NotebookEdit', { notebook_path: '/n.ipynb', new_source: 'x' })).toBe('/n.ipynb');
    expect(toolTarget('Bash', { command: 'git   commit -m "a long message with details"\necho next' })).toBe('git commit -m "a');
    expect(toolTarget('WebFetch', { url: 'https://example.com/docs/page?token=abc#frag', prompt: 'p' })).toBe('https://example.com/docs/page');
    expect(toolTarget('Grep', { pattern: 'TODO\\(' })).toBe('TODO\\(');
    expect(toolTarget('mcp__github__create_issue', { title: 't' })).toBeNull();
    expect(toolTarget('Edit', 'not an object')).toBeNull();
  });

  it("bounds every target, keeping a long path's tail", () => {
    const long = '/' + 'd/'.repeat(200) + 'file.ts';
    const t = toolTarget('Read', { file_path: long }) as string;
    expect(t.length).toBe(MAX_TARGET);
    expect(t.endsWith('file.ts')).toBe(true);
    expect((toolTarget('Glob', { pattern: '*'.repeat(1000) }) as string).length).toBe(MAX_TARGET);
  });
});

describe('payloads', () => {
  it('refuses what is not a hook payload and accepts unknown fields', () => {
    expect(parseHookPayload(null).ok).toBe(false);
    expect(parseHookPayload({ hook_event_name: 'Stop' }).ok).toBe(false);
    expect(parseHookPayload({ session_id: S, hook_event_name: 'Stop', cwd: ['x'] }).ok).toBe(false);
    expect(parseHookPayload({ session_id: S, hook_event_name: 'SomethingNew', anything: { deep: [1] } }).ok).toBe(true);
    expect(agentIdFor('x'.repeat(125))).toBe(`cc_${'x'.repeat(125)}`);
    expect(agentIdFor('x'.repeat(126))).toBeNull();
  });

  it('maps events to statuses; unknown ones keep the status', () => {
    expect(statusAfter(ev('SessionStart'))).toBe('idle');
    expect(statusAfter(ev('PostToolUseFailure'))).toBe('working');
    expect(statusAfter(ev('Notification', { notification_type: 'agent_needs_input' }))).toBe('needs_input');
    expect(statusAfter(ev('Notification', { notification_type: 'auth_success' }))).toBeUndefined();
    expect(statusAfter(ev('StopFailure'))).toBe('idle');
    expect(statusAfter(ev('SessionEnd'))).toBe('offline');
    expect(statusAfter(ev('Whatever'))).toBeUndefined();
  });
});

describe('mapHookEvent', () => {
  it('registers an unknown session as idle on an event that says nothing of its status', () => {
    const plan = mapHookEvent(ev('CwdChanged'), fresh(), { now: '2026-01-01T00:00:05Z' });
    expect(plan.agent).toMatchObject({
      source: 'claude-code',
      status: 'idle',
      session_id: S,
      project: null,
      subagents: [],
      last_event: 'CwdChanged',
      last_heartbeat: '2026-01-01T00:00:05Z',
    });
    expect(plan.releaseClaims).toBe(false);
  });

  it('keeps since across prompts of one wait and drops needs_input when the wait ends', () => {
    const a = mapHookEvent(ev('Notification', { notification_type: 'permission_prompt', message: 'first' }), fresh(), { now: 'T1' }).agent;
    const b = mapHookEvent(ev('Elicitation', { message: 'second' }), a, { now: 'T2' }).agent;
    expect(b.needs_input).toEqual({ message: 'second', since: 'T1' });
    const c = mapHookEvent(ev('SomethingNew'), b, { now: 'T3' }).agent;
    expect(c.needs_input).toEqual({ message: 'second', since: 'T1' });
    const d = mapHookEvent(ev('Stop'), c, { now: 'T4' }).agent;
    expect(d.status).toBe('idle');
    expect('needs_input' in d).toBe(false);
  });

  it('bounds the subagent list, dropping finished ones first', () => {
    let agent = mapHookEvent(ev('SessionStart'), fresh(), { now: 'T0' }).agent;
    agent = mapHookEvent(ev('SubagentStart', { agent_id: 'long-runner', agent_type: 'Plan' }), agent, { now: 'T0' }).agent;
    for (let i = 0; i < MAX_SUBAGENTS + 10; i++) {
      agent = mapHookEvent(ev('SubagentStart', { agent_id: `sub-${i}`, agent_type: 'Explore' }), agent, { now: `T${i}` }).agent;
      agent = mapHookEvent(ev('SubagentStop', { agent_id: `sub-${i}`, agent_type: 'Explore' }), agent, { now: `T${i}` }).agent;
    }
    const list = agent.subagents as JsonObject[];
    expect(list).toHaveLength(MAX_SUBAGENTS);
    expect(list[0]).toMatchObject({ agent_id: 'long-runner', stopped_at: null });
    expect(list[list.length - 1].agent_id).toBe(`sub-${MAX_SUBAGENTS + 9}`);
  });

  it('marks the project given, keeps it when unknown, and plans tasks and releases', () => {
    const a = mapHookEvent(ev('SessionStart'), fresh(), { now: 'T', project: 'webapp' }).agent;
    expect(mapHookEvent(ev('Stop'), a, { now: 'T' }).agent.project).toBe('webapp');
    expect(mapHookEvent(ev('Stop'), a, { now: 'T', project: null }).agent.project).toBeNull();
    expect(mapHookEvent(ev('TaskCreated', { task_id: '7', task_subject: 'Write docs' }), a, { now: 'T' }).task).toEqual({
      kind: 'created',
      work_id: `cc_task_${S}_7`,
      description: 'Write docs',
    });
    expect(taskWorkId(ev('TaskCompleted', { task_id: '7', team_name: 'alpha' }))).toBe('cc_task_alpha_7');
    expect(taskWorkId(ev('TaskCompleted', { task_id: '../x' }))).toBeNull();
    expect(mapHookEvent(ev('SessionEnd', { reason: 'logout' }), a, { now: 'T' })).toMatchObject({
      releaseClaims: true,
      agent: { status: 'offline', ended_reason: 'logout' },
    });
  });
});
