// Client commands beyond the core ones register here, each from its own module.
import type { Command } from 'commander';

export type CommandModule = (program: Command) => void;

export const commandModules: CommandModule[] = [];
