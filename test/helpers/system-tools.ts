// Tests that need a system tool (promtool, tmux, systemd-analyze, postgres, ...) call requireTool():
// present -> true; missing -> a printed reason and false (the caller skips), or, under
// REQUIRE_SYSTEM_TOOLS=1 (CI images that must have every tool), an error, so nothing is skipped silently.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

const INSTALL_HINTS: Record<string, string> = {
  promtool: 'apt-get install -y prometheus',
  tmux: 'apt-get install -y tmux',
  'systemd-analyze': 'apt-get install -y systemd',
  postgres: 'apt-get install -y postgresql (binaries live in /usr/lib/postgresql/<version>/bin)',
  psql: 'apt-get install -y postgresql-client',
  prometheus: 'apt-get install -y prometheus',
  pg_ctlcluster: 'apt-get install -y postgresql',
  faketime: 'apt-get install -y faketime',
};

/** Absolute path of an executable on PATH (plus `extraDirs`), or null. */
export function findTool(name: string, extraDirs: string[] = []): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), ...extraDirs].filter(Boolean);
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return null;
}

/**
 * True when `name` is available. When it is not: throws under REQUIRE_SYSTEM_TOOLS=1, otherwise
 * prints why the dependent tests are skipped and returns false. Call it at collection time, e.g.
 * `describe.skipIf(!requireTool('promtool'))(...)`.
 */
export function requireTool(name: string, extraDirs: string[] = []): boolean {
  if (findTool(name, extraDirs)) return true;
  const hint = INSTALL_HINTS[name] ? ` (install: ${INSTALL_HINTS[name]})` : '';
  const reason = `${name} not found on PATH${hint}`;
  if (process.env.REQUIRE_SYSTEM_TOOLS === '1') {
    throw new Error(`REQUIRE_SYSTEM_TOOLS=1 but ${reason}`);
  }
  console.warn(`[skip] ${reason}; tests that need it are skipped (set REQUIRE_SYSTEM_TOOLS=1 to fail instead)`);
  return false;
}
