/**
 * `lightningstream dump [-n NAME...] [-H]`: prints the contents of every configured LMDB (or the named
 * ones), DBI by DBI, in the Go command's layout, with native headers decoded (see ops/lmdb-dump.ts).
 * The LMDBs are opened read-only: safe next to the application and a running sync.
 * Unlike Go, which takes one --name and ignores an unknown one, --name repeats and an unknown name is an
 * error; an LMDB that cannot be dumped is reported and the command exits 1 after the others.
 */
import type { Command } from 'commander';
import { dumpEnv } from '../ops/lmdb-dump.js';
import { chooseLmdbs, withEachLmdbReadOnly } from '../ops/lmdb-tools.js';
import type { CommandContext, ContextFactory } from './context.js';
import { withOutput } from './snapshots-common.js';
import { repeatable } from './repeatable.js';

interface DumpFlags {
  name?: string[];
  hide?: boolean;
}


async function dump(ctx: CommandContext, flags: DumpFlags): Promise<number> {
  const names = chooseLmdbs(ctx.config, flags.name);
  return withOutput((out) => withEachLmdbReadOnly(ctx.config, names, 'dump', ctx.logger, (name, env, lc) =>
    dumpEnv(env, name, { hide: Boolean(flags.hide), nativeHeaders: lc.schemaTracksChanges }, out)));
}

export function register(program: Command, contexts: ContextFactory): void {
  program
    .command('dump')
    .description('Dump LMDB contents')
    .option('-H, --hide', 'Hide private lightningstream databases')
    .option('-n, --name <name>', 'Only dump given database name (repeatable)', repeatable)
    .action(contexts.action((ctx, flags: DumpFlags) => dump(ctx, flags)));
}
