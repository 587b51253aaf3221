// Client commands beyond the core ones register here, each from its own module.
import { registerBaselineCommands } from './baseline.js';
import { registerLegacyCommand } from './legacy-helper.js';
import { registerSimulateCommand } from './simulate.js';
import { registerInstallServiceCommand } from './install-service.js';
import { registerValidateCriticalPathsCommand } from './validate-critical-paths.js';
import { registerMigrateStoreCommand } from './migrate-store.js';
import { registerHooksCommand } from './hooks.js';
import { registerWorkGraphCommands } from './work-graph.js';
import { registerPathsCommand } from './paths.js';
import type { CommandModule } from './program-root.js';

export type { CommandModule };

export const commandModules: CommandModule[] = [
  registerBaselineCommands,
  registerLegacyCommand,
  registerSimulateCommand,
  registerMigrateStoreCommand,
  registerInstallServiceCommand,
  registerValidateCriticalPathsCommand,
  registerHooksCommand,
  registerWorkGraphCommands,
  registerPathsCommand,
];
