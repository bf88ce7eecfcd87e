/**
 * `lightningstream stats`: LMDB statistics of every configured LMDB, as the Go command prints them
 * (env info, per-DBI page statistics and usage, total usage of the map; see ops/lmdb-stats.ts).
 * The LMDBs are opened read-only: safe next to the application and a running sync. An LMDB that
 * cannot be read is reported and the command exits 1 after the others (Go logs it and exits 0).
 */
import type { Command } from 'commander';
import { lmdbStatsLines } from '../ops/lmdb-stats.js';
import { chooseLmdbs, withEachLmdbReadOnly } from '../ops/lmdb-tools.js';
import type { CommandContext, ContextFactory } from './context.js';
import { withOutput } from './snapshots-common.js';

async function stats(ctx: CommandContext): Promise<number> {
  return withOutput((out) => withEachLmdbReadOnly(ctx.config, chooseLmdbs(ctx.config), 'stats', ctx.logger, async (name, env) => {
    await out.print(lmdbStatsLines(name, env).join('\n') + '\n');
  }));
}

export function register(program: Command, contexts: ContextFactory): void {
  program
    .command('stats')
    .description('Print LMDB stats')
    .action(contexts.action((ctx) => stats(ctx)));
}
