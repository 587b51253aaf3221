// ai-processor migrate-store --from SRC --to DST (the work is in store/migrate.ts, loaded only
// when the command runs, so other commands start fast).
import path from 'node:path';
import type { Command } from 'commander';
import { EXIT } from './client-io.js';

const isPg = (s: string) => /^postgres(ql)?:\/\//.test(s);
const redact = (url: string) => url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
const say = (msg: string) => process.stderr.write(msg + '\n');

export function registerMigrateStoreCommand(program: Command): void {
  program
    .command('migrate-store')
    .description('move a data directory (or a legacy agent_coordination/ folder) into PostgreSQL, or back; nothing is lost')
    .requiredOption('--from <dir|url>', 'source: a directory or a postgres:// URL')
    .requiredOption('--to <dir|url>', 'destination: a postgres:// URL or a directory')
    .option('--force', 'replace what the destination holds')
    .option('--json', 'print the result as JSON')
    .action(async (o: { from: string; to: string; force?: boolean; json?: boolean }) => {
      if (isPg(o.from) === isPg(o.to)) {
        say('error: one of --from and --to must be a postgres:// URL and the other a directory');
        process.exit(EXIT.usage);
      }
      try {
        const { dirToPg, pgToDir } = await import('../daemon/store/migrate.js');
        const result = isPg(o.to) ? await dirToPg(path.resolve(o.from), o.to, o.force) : await pgToDir(o.from, path.resolve(o.to), o.force);
        if (o.json) process.stdout.write(JSON.stringify(result) + '\n');
        else
          process.stdout.write(
            `migrated ${result.records} records and ${result.files} other files from ${isPg(o.from) ? redact(o.from) : o.from} to ${isPg(o.to) ? redact(o.to) : o.to}\n`,
          );
      } catch (err) {
        say(`migrate-store: ${(err as Error).message}`);
        process.exit(EXIT.refused);
      }
    });
}
