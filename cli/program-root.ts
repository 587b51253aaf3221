// The root of ai-processor's command line (name, version, help and error behaviour) and how a parse
// ends (exit codes). Shared by the whole program (cli/program.ts) and by `ai-processor start`, which
// daemon/cli.ts parses on a root holding only `start`: the daemon then loads no client command.
import { Command, CommanderError } from 'commander';
import { EXIT } from '../shared/exit-codes.js';
import { VERSION } from '../io/version.js';

export type CommandModule = (program: Command) => void;

/** The program with no command yet: every subcommand inherits its help and error settings. */
export function programRoot(): Command {
  return new Command('ai-processor')
    .description('Agent-coordination daemon and its client commands.\nExit codes: 0 ok, 1 refused (conflict, not holder), 2 usage, 3 daemon unreachable.')
    .version(VERSION, '-v, --version')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
}

/** Parses and runs; help and version exit 0, a usage error 2, a failure 3. */
export async function runProgram(program: Command, argv: readonly string[]): Promise<void> {
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') process.exit(EXIT.ok);
      if (err.code === 'usage') process.stderr.write(`error: ${err.message}\n`);
      process.exit(EXIT.usage);
    }
    process.stderr.write(`ai-processor: ${(err as Error).message}\n`);
    process.exit(EXIT.unavailable);
  }
}
