/**
 * `lightningstream stats`: LMDB statistics of every configured LMDB, as the Go command prints them
 * (env info, per-DBI page statistics and usage, total usage of the map; see ops/lmdb-stats.ts).
 * The LMDBs are opened read-only: safe next to the application and a running sync. An LMDB that
 * cannot be read is reported and the command exits 1 after the others (Go logs it and exits 0).
 */
import type { Command } from 'commander';
import { lmdbStatsLines } from '../ops/lmdb-stats.js';
import { chooseLmdbs, forEachLmdb, openReadOnly } from '../ops/lmdb-tools.js';
import type { CommandContext, ContextFactory } from './context.js';
import { withOutput } from './snapshots-common.js';

async function stats(ctx: CommandContext): Promise<number> {
  return withOutput(async (out) => {
    const failed = await forEachLmdb(chooseLmdbs(ctx.config), async (name) => {
      const env = openReadOnly(name, ctx.config.lmdbs[name]!);
      try {
        await out.print(lmdbStatsLines(name, env).join('\n') + '\n');
      } finally {
        env.close();
      }
    }, (name, err) => ctx.logger.error('LMDB stats error', { db: name, error: (err as Error).message }));
    return failed > 0 ? 1 : 0;
  });
}

export function register(program: Command, contexts: ContextFactory): void {
  program
    .command('stats')
    .description('Print LMDB stats')
    .action(contexts.action((ctx) => stats(ctx)));
}
