// `ai-processor hooks install|uninstall|status` through the real CLI against settings files in temp
// dirs: merged without clobbering, idempotent, undone byte for byte, unparseable files refused.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  HOOK_EVENTS,
  installHooks,
  installTelemetry,
  uninstallHooks,
  uninstallTelemetry,
  hooksStatus,
  SettingsError,
  TELEMETRY_MARK,
} from '../shared/claude-code/settings.js';
import { runCli, tempDir } from './helpers/daemon.js';

const URL_ = 'http://127.0.0.1:4555';

interface Hook {
  type: string;
}
interface HookGroup {
  hooks: Hook[];
}
const NO_TOKEN = { AI_PROCESSOR_TOKEN: undefined, AI_PROCESSOR_URL: undefined };

/** A user's settings as they might be: other keys, their own hooks (one on an event we use too). */
const EXISTING = {
  model: 'claude-sonnet-4-6',
  permissions: { allow: ['Bash(npm test:*)'], deny: ['Read(./.env)'] },
  env: { FOO: 'bar' },
  hooks: {
    PreToolUse: [{ matcher: 'Bash', hooks: [{ type: 'command', command: '~/.claude/guard.sh', timeout: 10 }] }],
    PreCompact: [{ hooks: [{ type: 'command', command: 'echo compacting' }] }],
  },
  statusLine: { type: 'command', command: '~/.claude/statusline.sh' },
};

function settingsFile(content: string): string {
  const file = path.join(tempDir('aip-ccs-'), 'settings.json');
  writeFileSync(file, content);
  return file;
}

describe('hooks install / uninstall (CLI)', () => {
  it('merges into a file with other hooks and settings, is idempotent, and uninstall gives back the original bytes', async () => {
    const original = JSON.stringify(EXISTING, null, 2) + '\n';
    const file = settingsFile(original);

    const first = await runCli(['hooks', 'install', '--settings', file, '--url', URL_], NO_TOKEN);
    expect(first.code, first.stderr).toBe(0);
    const installed = readFileSync(file, 'utf8');
    const s = JSON.parse(installed);
    // Everything else as it was.
    expect(s.model).toBe(EXISTING.model);
    expect(s.permissions).toEqual(EXISTING.permissions);
    expect(s.env).toEqual(EXISTING.env);
    expect(s.statusLine).toEqual(EXISTING.statusLine);
    expect(s.hooks.PreCompact).toEqual(EXISTING.hooks.PreCompact);
    // The user's PreToolUse group first and untouched, ours after it.
    expect(s.hooks.PreToolUse[0]).toEqual(EXISTING.hooks.PreToolUse[0]);
    for (const event of HOOK_EVENTS) {
      const ours = s.hooks[event].flatMap((g: HookGroup) => g.hooks).filter((h: Hook) => h.type === 'http');
      expect(ours, event).toEqual([{ type: 'http', url: `${URL_}/api/hooks/claude-code`, timeout: 5 }]);
    }
    expect(s.hooks.PermissionRequest).toBeUndefined();
    // Only http hooks were added: no command that could fail a session.
    const commands = Object.values<HookGroup[]>(s.hooks)
      .flatMap((groups) => groups.flatMap((g) => g.hooks))
      .filter((h: Hook) => h.type === 'command');
    expect(commands).toHaveLength(2);

    const second = await runCli(['hooks', 'install', '--settings', file, '--url', URL_], NO_TOKEN);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('nothing to do');
    expect(readFileSync(file, 'utf8')).toBe(installed); // byte-identical

    const status = await runCli(['hooks', 'status', '--settings', file, '--json'], NO_TOKEN);
    expect(status.code).toBe(0);
    const report = JSON.parse(status.stdout).files[0];
    expect(report.installed.map((i: { event: string }) => i.event).sort()).toEqual([...HOOK_EVENTS].sort());
    expect(report.missing).toEqual([]);

    const removed = await runCli(['hooks', 'uninstall', '--settings', file], NO_TOKEN);
    expect(removed.code, removed.stderr).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(original);
    const again = await runCli(['hooks', 'uninstall', '--settings', file], NO_TOKEN);
    expect(again.stdout).toContain('nothing to do');
    expect(readFileSync(file, 'utf8')).toBe(original);
  });

  it('--telemetry merges the env block that points the exporter at the daemon; uninstall gives back the original bytes', async () => {
    const original = JSON.stringify(EXISTING, null, 2) + '\n';
    const file = settingsFile(original);
    const first = await runCli(['hooks', 'install', '--telemetry', '--settings', file, '--url', URL_], NO_TOKEN);
    expect(first.code, first.stderr).toBe(0);
    const installed = readFileSync(file, 'utf8');
    const s = JSON.parse(installed);
    expect(s.env).toEqual({
      FOO: 'bar',
      CLAUDE_CODE_ENABLE_TELEMETRY: '1',
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_LOGS_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_ENDPOINT: URL_,
      [TELEMETRY_MARK]: 'CLAUDE_CODE_ENABLE_TELEMETRY,OTEL_METRICS_EXPORTER,OTEL_LOGS_EXPORTER,OTEL_EXPORTER_OTLP_PROTOCOL,OTEL_EXPORTER_OTLP_ENDPOINT',
    });
    expect(s.hooks.Stop).toBeDefined();
    const second = await runCli(['hooks', 'install', '--telemetry', '--settings', file, '--url', URL_], NO_TOKEN);
    expect(second.stdout).toContain('nothing to do');
    expect(readFileSync(file, 'utf8')).toBe(installed);
    const status = await runCli(['hooks', 'status', '--settings', file], NO_TOKEN);
    expect(status.stdout).toContain(`telemetry -> ${URL_}`);
    const removed = await runCli(['hooks', 'uninstall', '--settings', file], NO_TOKEN);
    expect(removed.code, removed.stderr).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(original);
  });

  it('--telemetry with a token says how to give the exporter the token, and writes no token', async () => {
    const file = settingsFile('{}\n');
    const r = await runCli(['hooks', 'install', '--telemetry', '--settings', file, '--url', URL_], {
      AI_PROCESSOR_TOKEN: 'sekrit-token-value',
      AI_PROCESSOR_URL: undefined,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer $AI_PROCESSOR_TOKEN"');
    expect(readFileSync(file, 'utf8')).not.toContain('sekrit-token-value');
  });

  it('--telemetry refuses a file whose env already exports elsewhere, and leaves it untouched', async () => {
    const original = JSON.stringify({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' } }, null, 2) + '\n';
    const file = settingsFile(original);
    const r = await runCli(['hooks', 'install', '--telemetry', '--settings', file, '--url', URL_], NO_TOKEN);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('OTEL_EXPORTER_OTLP_ENDPOINT');
    expect(readFileSync(file, 'utf8')).toBe(original);
  });

  it('keeps a 4-space file 4-space and restores it exactly', async () => {
    const original = JSON.stringify({ hooks: { Stop: [{ hooks: [{ type: 'command', command: 'say done' }] }] }, theme: 'dark' }, null, 4);
    const file = settingsFile(original); // no final newline either
    expect((await runCli(['hooks', 'install', '--settings', file, '--url', URL_], NO_TOKEN)).code).toBe(0);
    const installed = readFileSync(file, 'utf8');
    expect(installed).toContain('\n    "hooks": {');
    expect(installed.endsWith('}')).toBe(true);
    expect(JSON.parse(installed).hooks.Stop).toHaveLength(2);
    expect((await runCli(['hooks', 'uninstall', '--settings', file], NO_TOKEN)).code).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(original);
  });

  it('writes the token as a header from $AI_PROCESSOR_TOKEN, never the token itself', async () => {
    const file = settingsFile('{}\n');
    const res = await runCli(['hooks', 'install', '--settings', file, '--url', URL_], { AI_PROCESSOR_TOKEN: 'sup3r-secret-token' });
    expect(res.code, res.stderr).toBe(0);
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain('sup3r-secret-token');
    const handler = JSON.parse(text).hooks.PreToolUse[0].hooks[0];
    expect(handler).toEqual({
      type: 'http',
      url: `${URL_}/api/hooks/claude-code`,
      timeout: 5,
      headers: { Authorization: 'Bearer $AI_PROCESSOR_TOKEN' },
      allowedEnvVars: ['AI_PROCESSOR_TOKEN'],
    });
    // A later install without a token updates our handlers in place (one each, no duplicates).
    expect((await runCli(['hooks', 'install', '--settings', file, '--url', URL_, '--no-token'], { AI_PROCESSOR_TOKEN: 'sup3r-secret-token' })).code).toBe(0);
    const s = JSON.parse(readFileSync(file, 'utf8'));
    expect(s.hooks.PreToolUse).toEqual([{ hooks: [{ type: 'http', url: `${URL_}/api/hooks/claude-code`, timeout: 5 }] }]);
    // And uninstalling what was made from an empty object leaves an empty object.
    expect((await runCli(['hooks', 'uninstall', '--settings', file], NO_TOKEN)).code).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe('{}\n');
  });

  it('refuses a file that does not parse and leaves it untouched', async () => {
    const broken = '{\n  "model": "claude-sonnet-4-6",\n  // a comment\n  "hooks": {}\n}\n';
    const file = settingsFile(broken);
    for (const cmd of ['install', 'uninstall']) {
      const res = await runCli(['hooks', cmd, '--settings', file], NO_TOKEN);
      expect(res.code, cmd).toBe(1);
      expect(res.stderr).toMatch(/not valid JSON/);
      expect(readFileSync(file, 'utf8')).toBe(broken);
    }
    const notObject = settingsFile('[1, 2]\n');
    const res = await runCli(['hooks', 'install', '--settings', notObject], NO_TOKEN);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/JSON object/);
    expect(readFileSync(notObject, 'utf8')).toBe('[1, 2]\n');
  });

  it('--dry-run prints the result and writes nothing', async () => {
    const original = JSON.stringify(EXISTING, null, 2) + '\n';
    const file = settingsFile(original);
    const res = await runCli(['hooks', 'install', '--settings', file, '--url', URL_, '--dry-run'], NO_TOKEN);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout).hooks.SessionStart[0].hooks[0].url).toBe(`${URL_}/api/hooks/claude-code`);
    expect(readFileSync(file, 'utf8')).toBe(original);
  });

  it('--user writes ~/.claude/settings.json, --project DIR its settings.local.json; status says where', async () => {
    const home = tempDir('aip-home-');
    const project = tempDir('aip-proj-');
    const env = { ...NO_TOKEN, HOME: home, AI_PROCESSOR_URL: 'http://127.0.0.1:4777' };
    expect((await runCli(['hooks', 'install', '--user'], env)).code).toBe(0);
    const user = JSON.parse(readFileSync(path.join(home, '.claude', 'settings.json'), 'utf8'));
    expect(user.hooks.Stop[0].hooks[0].url).toBe('http://127.0.0.1:4777/api/hooks/claude-code');
    expect((await runCli(['hooks', 'install', '--project', project], env)).code).toBe(0);
    expect(existsSync(path.join(project, '.claude', 'settings.local.json'))).toBe(true);
    expect(existsSync(path.join(project, '.claude', 'settings.json'))).toBe(false);

    const both = await runCli(['hooks', 'install', '--user', '--project', project], env);
    expect(both.code).toBe(2);
    const missing = await runCli(['hooks', 'install', '--project', path.join(project, 'nope')], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no such directory');
    expect(existsSync(path.join(project, 'nope'))).toBe(false);

    const status = await runCli(['hooks', 'status'], env);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(
      `${path.join(home, '.claude', 'settings.json')}: installed on ${HOOK_EVENTS.length} event(s) -> http://127.0.0.1:4777/api/hooks/claude-code (no token)`,
    );
    const projStatus = await runCli(['hooks', 'status', '--project', project], env);
    expect(projStatus.stdout).toContain(`installed on ${HOOK_EVENTS.length} event(s)`);
    expect((await runCli(['hooks', 'uninstall', '--project', project], env)).code).toBe(0);
    expect((await runCli(['hooks', 'status', '--project', project], env)).stdout).toContain('not installed');
  });
});

describe('settings merge (pure)', () => {
  const opts = { url: URL_, token: false };

  it('telemetry: keys the user had with our value stay theirs; a new URL updates ours in place', () => {
    const text = JSON.stringify({ env: { CLAUDE_CODE_ENABLE_TELEMETRY: '1' } }, null, 2) + '\n';
    const first = installTelemetry(text, { url: 'http://127.0.0.1:9999/' });
    expect(JSON.parse(first.text).env[TELEMETRY_MARK]).not.toContain('CLAUDE_CODE_ENABLE_TELEMETRY');
    const moved = installTelemetry(first.text, { url: `${URL_}/api/hooks/claude-code` });
    expect(moved.events).toEqual(['OTEL_EXPORTER_OTLP_ENDPOINT']);
    expect(JSON.parse(moved.text).env.OTEL_EXPORTER_OTLP_ENDPOINT).toBe(URL_);
    expect(uninstallTelemetry(moved.text).text).toBe(text);
    expect(() => installTelemetry(JSON.stringify({ env: { OTEL_METRICS_EXPORTER: 'prometheus' } }), { url: URL_ })).toThrow(SettingsError);
    expect(uninstallTelemetry(text)).toEqual({ text, changed: false, events: [] });
  });

  it('replaces a stale handler of ours (another URL) instead of adding a second', () => {
    const old = installHooks('{}\n', { url: 'http://127.0.0.1:9999', token: false }).text;
    const next = installHooks(old, opts);
    expect(next.changed).toBe(true);
    const st = hooksStatus(next.text);
    expect(st.installed).toHaveLength(HOOK_EVENTS.length);
    expect(new Set(st.installed.map((i) => i.url))).toEqual(new Set([`${URL_}/api/hooks/claude-code`]));
  });

  it("removes ours from an event install no longer covers, keeping the user's group there", () => {
    const text =
      JSON.stringify(
        {
          hooks: {
            PermissionRequest: [
              {
                matcher: '',
                hooks: [
                  { type: 'http', url: `${URL_}/api/hooks/claude-code` },
                  { type: 'command', command: 'notify' },
                ],
              },
            ],
          },
        },
        null,
        2,
      ) + '\n';
    const out = JSON.parse(installHooks(text, opts).text);
    expect(out.hooks.PermissionRequest).toEqual([{ matcher: '', hooks: [{ type: 'command', command: 'notify' }] }]);
  });

  it('uninstall leaves groups it did not empty and handlers not ours (another path on the same host)', () => {
    const foreign = { type: 'http', url: `${URL_}/api/other` };
    const text = JSON.stringify({ hooks: { Stop: [{ hooks: [foreign] }] } }, null, 2) + '\n';
    const installed = installHooks(text, opts).text;
    expect(uninstallHooks(installed).text).toBe(text);
    expect(uninstallHooks(text).changed).toBe(false);
  });
});
