// The folder map as a rule (docs/architecture.md): the import graph of the TypeScript sources has no
// cycles; shared/ is pure (no I/O modules, no environment); daemon/ and tui/ never import each other;
// the client layer (client/) imports neither; the store does not reach up into the core; the daemon's
// own modules never load the client programs (cli/), only its entry point dispatches to them; the
// client programs use no daemon module but the store migration; io/ (I/O helpers of both sides)
// depends on neither; observability declares no routes; only the config modules read the environment.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..');
const FOLDERS = ['shared', 'io', 'client', 'cli', 'daemon', 'tui', 'bench', 'scripts'];
/** Modules that only dispatch between the daemon and the client programs. */
const ENTRY_POINTS = new Set(['daemon/cli.ts']);
/** The daemon modules a client program may load, each with why. */
const CLI_USES_DAEMON: Record<string, string> = {
  // `ai-processor migrate-store` moves a data directory into PostgreSQL and back: it must run the
  // store's own migration (both stores' formats), not a copy of it. Loaded only when the command runs.
  'cli/migrate-store.ts -> daemon/store/migrate.ts': 'runs the store migration',
};
/** node: modules that do I/O or run processes (node:crypto, node:events, node:util compute only). */
const IO_MODULES =
  /^(node:)?(fs|fs\/promises|net|http|https|http2|tls|dgram|dns|child_process|cluster|worker_threads|os|readline|tty|v8|vm|inspector|process)$/;

interface Module {
  file: string;
  text: string;
  /** Relative imports, resolved to repository paths. */
  local: string[];
  /** Bare specifiers (packages and node: modules). */
  external: string[];
}

function sourceFiles(dir: string): string[] {
  let entries;
  try {
    entries = readdirSync(path.join(ROOT, dir), { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    const rel = path.posix.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(rel);
    return /\.tsx?$/.test(e.name) && !e.name.endsWith('.d.ts') ? [rel] : [];
  });
}

// import x from '...', import type {...} from '...', export {...} from '...', import '...', import('...')
const SPECIFIER = /(?:^|[^\w.])(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

function parse(file: string, known: Set<string>): Module {
  const text = readFileSync(path.join(ROOT, file), 'utf8');
  const local: string[] = [];
  const external: string[] = [];
  for (const m of text.matchAll(SPECIFIER)) {
    const spec = m[1] ?? m[2];
    if (!spec.startsWith('.')) {
      external.push(spec);
      continue;
    }
    const base = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)).replace(/\.jsx?$/, '');
    const target = [`${base}.ts`, `${base}.tsx`, `${base}/index.ts`].find((c) => known.has(c));
    local.push(target ?? `${base} (unresolved)`);
  }
  return { file, text, local, external };
}

function graph(): Map<string, Module> {
  const files = FOLDERS.flatMap(sourceFiles);
  const known = new Set(files);
  return new Map(files.map((f) => [f, parse(f, known)]));
}

/** Strongly connected components of more than one module (or a module importing itself). */
function cycles(modules: Map<string, Module>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of modules.get(v)?.local ?? []) {
      if (!modules.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || modules.get(v)!.local.includes(v)) found.push(scc.sort());
    }
  };
  for (const f of modules.keys()) if (!idx.has(f)) visit(f);
  return found;
}

const top = (file: string) => file.split('/')[0];

/** Edges from modules matching `from` to modules matching `to`, as "a -> b" lines. */
function edges(modules: Map<string, Module>, from: (f: string) => boolean, to: (f: string) => boolean): string[] {
  const out: string[] = [];
  for (const m of modules.values()) if (from(m.file)) for (const t of m.local) if (to(t)) out.push(`${m.file} -> ${t}`);
  return out;
}

describe('architecture: the import graph of the sources', () => {
  const modules = graph();

  it('reads the whole source tree (the rules below are not vacuous)', () => {
    for (const folder of ['shared', 'client', 'cli', 'daemon', 'tui'])
      expect([...modules.keys()].filter((f) => top(f) === folder).length, folder).toBeGreaterThan(2);
    expect(modules.get('daemon/cli.ts')?.local.length).toBeGreaterThan(0);
    const unresolved = [...modules.values()].flatMap((m) => m.local.filter((t) => t.endsWith('(unresolved)')).map((t) => `${m.file} -> ${t}`));
    expect(unresolved).toEqual([]);
  });

  it('has no import cycles', () => {
    expect(cycles(modules)).toEqual([]);
  });

  it('the cycle finder finds a cycle when there is one', () => {
    const a: Module = { file: 'a.ts', text: '', local: ['b.ts'], external: [] };
    const b: Module = { file: 'b.ts', text: '', local: ['a.ts'], external: [] };
    expect(
      cycles(
        new Map([
          ['a.ts', a],
          ['b.ts', b],
        ]),
      ),
    ).toEqual([['a.ts', 'b.ts']]);
  });

  it('shared/ is pure: no I/O modules, no environment, imports only shared/', () => {
    const shared = [...modules.values()].filter((m) => top(m.file) === 'shared');
    expect(shared.flatMap((m) => m.external.filter((s) => IO_MODULES.test(s)).map((s) => `${m.file} imports ${s}`))).toEqual([]);
    expect(shared.filter((m) => /\bprocess\s*\.\s*(env|argv|execArgv|cwd|stdin|stdout|stderr|exit)\b/.test(m.text)).map((m) => m.file)).toEqual([]);
    expect(
      edges(
        modules,
        (f) => top(f) === 'shared',
        (t) => top(t) !== 'shared',
      ),
    ).toEqual([]);
  });

  it('daemon/ and tui/ never import each other', () => {
    expect(
      edges(
        modules,
        (f) => top(f) === 'daemon',
        (t) => top(t) === 'tui',
      ),
    ).toEqual([]);
    expect(
      edges(
        modules,
        (f) => top(f) === 'tui',
        (t) => top(t) === 'daemon',
      ),
    ).toEqual([]);
  });

  it('the client layer imports neither the daemon, the console nor the client programs', () => {
    expect(
      edges(
        modules,
        (f) => top(f) === 'client',
        (t) => ['daemon', 'tui', 'cli'].includes(top(t)),
      ),
    ).toEqual([]);
  });

  it('the daemon process does not load client programs (its entry point only dispatches)', () => {
    expect(
      edges(
        modules,
        (f) => top(f) === 'daemon' && !ENTRY_POINTS.has(f),
        (t) => top(t) === 'cli',
      ),
    ).toEqual([]);
  });

  it('the client programs live outside daemon/: of its modules only `start` parses a command line', () => {
    const commandLine = [...modules.values()]
      .filter((m) => top(m.file) === 'daemon' && m.external.includes('commander'))
      .map((m) => m.file)
      .sort();
    expect(commandLine).toEqual(['daemon/start.ts']);
    expect([...modules.values()].filter((m) => top(m.file) === 'cli' && m.external.includes('commander')).length).toBeGreaterThan(3);
  });

  it('the client programs import no daemon module except the store migration (each exception with its reason)', () => {
    expect(
      edges(
        modules,
        (f) => top(f) === 'cli',
        (t) => top(t) === 'daemon',
      ),
    ).toEqual(Object.keys(CLI_USES_DAEMON));
    // The exception is real: the edge finder sees the dynamic import.
    expect(modules.get('cli/migrate-store.ts')?.local).toContain('daemon/store/migrate.ts');
  });

  it('io/ (I/O helpers both sides use) imports only shared/ and io/, and reads no environment', () => {
    expect([...modules.keys()].filter((f) => top(f) === 'io').length).toBeGreaterThan(0);
    expect(
      edges(
        modules,
        (f) => top(f) === 'io',
        (t) => !['shared', 'io'].includes(top(t)),
      ),
    ).toEqual([]);
    expect([...modules.values()].filter((m) => top(m.file) === 'io' && /\bprocess\.env\b/.test(m.text)).map((m) => m.file)).toEqual([]);
  });

  it('observability declares no HTTP routes: the routes it serves are http/ modules the daemon wiring declares', () => {
    const observability = [...modules.values()].filter((m) => m.file.startsWith('daemon/observability/'));
    expect(observability.length).toBeGreaterThan(5);
    expect(
      observability.filter((m) => /\b(app|instance|fastify)\s*\.\s*(get|post|put|patch|delete|head|route|register)\s*[(<]/.test(m.text)).map((m) => m.file),
    ).toEqual([]);
    expect(
      edges(
        modules,
        (f) => f.startsWith('daemon/observability/'),
        (t) => /^daemon\/http\/.*-routes\.ts$/.test(t),
      ),
    ).toEqual([]);
    // The daemon's wiring declares them.
    const wiring = modules.get('daemon/daemon.ts')!.local;
    for (const routes of ['daemon/http/telemetry-routes.ts', 'daemon/http/entropy-routes.ts', 'daemon/http/metrics-routes.ts'])
      expect(wiring).toContain(routes);
  });

  it('the store does not import the core (the core builds on the store contract)', () => {
    expect(
      edges(
        modules,
        (f) => f.startsWith('daemon/store/'),
        (t) => t.startsWith('daemon/core/'),
      ),
    ).toEqual([]);
  });

  it("the environment is read in the config modules only (the daemon's and the clients')", () => {
    const readers = (folders: string[]) =>
      [...modules.values()]
        .filter((m) => folders.includes(top(m.file)) && /\bprocess\.env\b/.test(m.text))
        .map((m) => m.file)
        .sort();
    expect(readers(['client', 'cli'])).toEqual(['client/config.ts']);
    // The daemon's modules are given what they need (DaemonConfig, otelSettings, heapPolicyInputs, or
    // processEnv() for a child's environment); the start entry's early heap policy goes through config.ts too.
    expect(readers(['daemon', 'io'])).toEqual(['daemon/config.ts']);
  });
});
