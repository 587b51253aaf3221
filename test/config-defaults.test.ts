// Each default of the daemon is defined once (daemon/defaults.ts): the parser starts from it, the
// `start --help` text shows it, and the documentation's configuration tables agree with it.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { START_FLAGS, defaultText, envName, flagHelp, loadConfig } from '../daemon/config.js';
import { DEFAULTS } from '../daemon/defaults.js';
import { registerStartCommand } from '../daemon/start.js';
import { textOf } from '../shared/text.js';

const ROOT = path.resolve(import.meta.dirname, '..');

describe('configuration defaults', () => {
  it('the parser starts from DEFAULTS', () => {
    const cfg = loadConfig({ data_dir: '/tmp/x' }, {});
    for (const [key, value] of Object.entries(DEFAULTS)) expect(cfg[key as keyof typeof cfg], key).toEqual(value);
  });

  it('every setting with a default is a flag of start, and its --help line shows that default and its env name', () => {
    const program = new Command('ai-processor');
    registerStartCommand(program);
    const start = program.commands.find((c) => c.name() === 'start')!;
    const described = new Map(start.options.map((o) => [o.long, o.description]));
    for (const key of Object.keys(DEFAULTS).filter((k) => k !== 'services' && k !== 'view_flush_ms' && k !== 'max_journal_bytes' && k !== 'body_limit')) {
      const f = START_FLAGS.find((x) => x.key === key);
      expect(f, key).toBeDefined();
      const help = described.get(f!.flag.split(' ')[0]);
      expect(help).toBe(flagHelp(f!));
      expect(help).toContain(`default ${textOf(DEFAULTS[key as keyof typeof DEFAULTS])}`);
      expect(help).toContain(`env ${envName(f!.key)}`);
    }
  });

  it("the docs' configuration tables give the same defaults", () => {
    const docs = [
      path.join(ROOT, 'README.md'),
      ...(existsSync(path.join(ROOT, 'docs'))
        ? readdirSync(path.join(ROOT, 'docs'))
            .filter((f) => f.endsWith('.md'))
            .map((f) => path.join(ROOT, 'docs', f))
        : []),
    ];
    let checked = 0;
    for (const file of docs) {
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        // | `--lease-ms` | `AI_PROCESSOR_LEASE_MS` | `lease_ms` | 60000 |
        const m = /^\|\s*`(--[a-z-]+)`\s*\|[^|]*\|[^|]*\|\s*([^|]*?)\s*\|\s*$/.exec(line);
        if (!m) continue;
        const f = START_FLAGS.find((x) => x.flag.split(' ')[0] === m[1]);
        const expected = f && defaultText(f);
        if (!expected || /\s/.test(expected)) continue;
        expect(m[2].replace(/`/g, '').split(/\s/)[0], `${path.basename(file)}: ${m[1]}`).toBe(expected);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(6);
  });
});
