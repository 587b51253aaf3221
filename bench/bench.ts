// npm run bench: measures the figures the issues ask for against real daemons on loopback and
// prints one JSON document (stdout) plus a readable table (stderr).
//   npm run bench -- --only claims,restart     run some sections
//   npm run bench -- --out run.json            also write the JSON to a file
//   npm run bench -- --compare old.json new.json   flag regressions over 10%
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { compareRuns, printTable, type Figure, type Section } from './report.js';
import { claimsSection } from './claims.js';
import { sections as extraSections } from './sections.js';

export type { Section } from './report.js';

const SECTIONS: Record<string, Section> = { claims: claimsSection, ...extraSections };

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: { only: { type: 'string' }, out: { type: 'string' }, compare: { type: 'boolean' }, help: { type: 'boolean' } },
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(
      `usage: npm run bench [-- --only ${Object.keys(SECTIONS).join(',')}] [--out FILE]\n       npm run bench -- --compare OLD.json NEW.json\n`,
    );
    return;
  }
  if (values.compare) {
    if (positionals.length !== 2) throw new Error('--compare needs two files: OLD.json NEW.json');
    const [a, b] = positionals.map((f) => JSON.parse(readFileSync(f, 'utf8')));
    const result = compareRuns(a, b);
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    process.exitCode = result.regressions.length > 0 ? 1 : 0;
    return;
  }
  // Every data dir this run makes lives under one temporary folder, removed at the end.
  const { mkdtempSync, rmSync } = await import('node:fs');
  const os = await import('node:os');
  const runDir = mkdtempSync((await import('node:path')).join(os.tmpdir(), 'aip-bench-run-'));
  process.env.TMPDIR = runDir;
  process.on('exit', () => rmSync(runDir, { recursive: true, force: true }));
  const names = values.only ? values.only.split(',') : Object.keys(SECTIONS);
  const figures: Figure[] = [];
  const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
  for (const name of names) {
    const section = SECTIONS[name];
    if (!section) throw new Error(`unknown section ${name}; known: ${Object.keys(SECTIONS).join(', ')}`);
    log(`section ${name}`);
    await section(figures, log);
  }
  const doc = { created_at: new Date().toISOString(), node: process.version, cpus: (await import('node:os')).cpus().length, figures };
  printTable(figures, (s) => process.stderr.write(s));
  const json = JSON.stringify(doc, null, 2);
  if (values.out) writeFileSync(values.out, json + '\n');
  process.stdout.write(json + '\n');
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
