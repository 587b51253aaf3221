// The bundled Prometheus configuration, checked by Prometheus' own tool: rule syntax, config syntax
// (which also loads ../alerts.yml), and the unit tests of every alert.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { REPO_ROOT, extractRuleExpressions } from './helpers/metric-names.js';
import { findTool, requireTool } from './helpers/system-tools.js';

const root = fileURLToPath(REPO_ROOT);
function promtool(...args: string[]): { status: number | null; output: string } {
  const r = spawnSync('promtool', args, { cwd: root, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe.skipIf(!requireTool('promtool'))('promtool', () => {
  it('check rules alerts.yml', () => {
    const r = promtool('check', 'rules', 'alerts.yml');
    expect(r.output).toMatch(/SUCCESS: \d+ rules found/);
    expect(r.status, r.output).toBe(0);
  });

  it('check config prometheus/prometheus.yml (loads ../alerts.yml)', () => {
    const r = promtool('check', 'config', 'prometheus/prometheus.yml');
    expect(r.output).toMatch(/SUCCESS: 1 rule files found/);
    expect(r.status, r.output).toBe(0);
  });

  it('test rules prometheus/alerts.test.yml', () => {
    const r = promtool('test', 'rules', 'prometheus/alerts.test.yml');
    expect(r.status, r.output).toBe(0);
    expect(r.output).toMatch(/SUCCESS/);
  });

  it('rejects a broken rule file (the check can fail)', () => {
    const r = spawnSync('promtool', ['check', 'rules', '/dev/stdin'], {
      input: 'groups:\n  - name: x\n    rules:\n      - alert: Broken\n        expr: sum(rate(x[5m]) >\n',
      encoding: 'utf8',
    });
    expect(r.status).not.toBe(0);
  });
});

describe('alert unit-test coverage', () => {
  // Pure text checks: no promtool needed.
  const alerts = extractRuleExpressions(readFileSync(new URL('alerts.yml', REPO_ROOT), 'utf8'))
    .filter((r) => r.kind === 'alert')
    .map((r) => r.name);
  const testText = readFileSync(new URL('prometheus/alerts.test.yml', REPO_ROOT), 'utf8');
  const cases = new Map<string, { firing: number; silent: number }>();
  const lines = testText.split('\n');
  lines.forEach((line, i) => {
    const m = /^\s*alertname:\s*(\S+)/.exec(line);
    if (!m) return;
    const next = lines[i + 1] ?? '';
    const c = cases.get(m[1]) ?? { firing: 0, silent: 0 };
    if (/exp_alerts:\s*\[\]/.test(next)) c.silent++;
    else if (/exp_alerts:\s*$/.test(next) && /exp_labels:/.test(lines[i + 2] ?? '')) c.firing++;
    cases.set(m[1], c);
  });

  it('alerts.yml defines the alerts operators rely on', () => {
    for (const a of ['CoordinationLatencyHigh', 'InformationLoss', 'StateSynchronizationFailure', 'AiProcessorDown', 'LeaseExpiriesSpiking', 'NoHeartbeats']) {
      expect(alerts).toContain(a);
    }
  });

  it.each(alerts)('%s has a firing and a silent case in prometheus/alerts.test.yml', (name) => {
    expect(cases.get(name)?.firing ?? 0).toBeGreaterThan(0);
    expect(cases.get(name)?.silent ?? 0).toBeGreaterThan(0);
  });

  it('every file alerts.yml cites is in the repository', () => {
    const text = readFileSync(new URL('alerts.yml', REPO_ROOT), 'utf8');
    const cited = [...text.matchAll(/\b((?:docs\/)?[\w./-]+\.md)\b/g)].map((m) => m[1]);
    expect(cited).toContain('docs/alerts.md');
    for (const file of cited) expect(existsSync(new URL(file, REPO_ROOT)), file).toBe(true);
    expect(cited).not.toContain('DESIGN.md');
  });

  it('every alert carries severity, summary and description', () => {
    const text = readFileSync(new URL('alerts.yml', REPO_ROOT), 'utf8');
    const blocks = text.split(/\n\s*- alert: /).slice(1);
    expect(blocks).toHaveLength(alerts.length);
    for (const b of blocks) {
      expect(b, b.split('\n')[0]).toMatch(/\n\s+severity: (critical|warning|info)\n/);
      expect(b, b.split('\n')[0]).toMatch(/\n\s+summary: /);
      expect(b, b.split('\n')[0]).toMatch(/\n\s+description: /);
    }
  });
});

describe('requireTool (test/helpers/system-tools.ts)', () => {
  const missing = 'no-such-tool-for-ai-processor-tests';

  it('finds tools on PATH', () => {
    expect(findTool('node')).toMatch(/node$/);
    expect(requireTool('node')).toBe(true);
  });

  it('missing: prints the reason and returns false', () => {
    vi.stubEnv('REQUIRE_SYSTEM_TOOLS', '');
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      expect(requireTool(missing)).toBe(false);
      expect(warn).toHaveBeenCalledWith(expect.stringContaining(`${missing} not found on PATH`));
    } finally {
      warn.mockRestore();
      vi.unstubAllEnvs();
    }
  });

  it('missing under REQUIRE_SYSTEM_TOOLS=1: throws', () => {
    vi.stubEnv('REQUIRE_SYSTEM_TOOLS', '1');
    try {
      expect(() => requireTool(missing)).toThrow(/REQUIRE_SYSTEM_TOOLS=1 but no-such-tool/);
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
