/**
 * `lightningstream snapshots <subcommand>`: the parent command. Each subcommand (list, get, put, dump,
 * remove) lives in its own file exporting `register(parent: Command, contexts: ContextFactory)`, and is
 * added to SUBCOMMANDS below; `parent` is the `snapshots` Command.
 */
import type { Command } from 'commander';
import type { ContextFactory } from './context.js';
import type { RegisterCommand } from './main.js';
import * as dump from './snapshots-dump.js';
import * as get from './snapshots-get.js';
import * as list from './snapshots-list.js';
import * as put from './snapshots-put.js';
import * as remove from './snapshots-remove.js';

const SUBCOMMANDS: RegisterCommand[] = [list.register, get.register, put.register, dump.register, remove.register];

export function register(program: Command, contexts: ContextFactory): void {
  const snapshots = program.command('snapshots').description('Inspect and manage the snapshots in the storage');
  for (const registerSub of SUBCOMMANDS) registerSub(snapshots, contexts);
  if (SUBCOMMANDS.length === 0) snapshots.action(() => snapshots.outputHelp());
}
