/**
 * `lightningstream experimental migrate-timestamps -d DB --src-dbi SRC --dst-dbi DST
 * [--add-delete-entries] [--ignore-src-dbi-not-present]`: the Go command of the same name (see
 * ops/migrate-timestamps.ts). It writes in one write txn of the LMDB; stop writers of that LMDB first,
 * as the tool is only meant for a migration during which no new data is written.
 * Registers the `experimental` parent command too (or reuses it when another file created it).
 */
import type { Command } from 'commander';
import { migrateTimestamps } from '../ops/migrate-timestamps.js';
import { openConfiguredEnv } from '../sync/open-lmdb.js';
import type { CommandContext, ContextFactory } from './context.js';

const LONG = `
Migrate timestamps from one DBI to a target DBI by key.

Requirements:

- The keys must match between source and destination without any transformation.
- The DBIs must not use special DBI flags.
- The destination DBI must use the new 24+ byte native headers.
- The source DBI must use the new header, or the old (v0.2.0) 8 byte
  timestamp-only headers.

This command can be used for both native DBIs, and for shadow DBIs.
If the target timestamp is higher than the source, it will not be updated.

The actual values are not compared, it blindly copies the timestamps. This is
only useful during a migration where no new data is written.

This command will abort the transaction and exit with an error if any value
shorter than expected is encountered.

Example to migrate shard records when moving from PowerDNS Auth 4.7 to 4.8:

    ... migrate-timestamps --add-delete-entries --database shard --src-dbi _sync_shadow_records --dst-dbi records_v5
`;

interface MigrateFlags {
  database: string;
  srcDbi: string;
  dstDbi: string;
  addDeleteEntries?: boolean;
  ignoreSrcDbiNotPresent?: boolean;
}

function run(ctx: CommandContext, flags: MigrateFlags): number {
  const lc = ctx.config.lmdbs[flags.database];
  if (!lc) throw new Error(`no LMDB with name ${JSON.stringify(flags.database)} configured`);
  if (flags.srcDbi === flags.dstDbi) throw new Error('source and destination DBI cannot be the same');
  // Never create an LMDB here: a missing one is an error.
  const env = openConfiguredEnv(flags.database, { ...lc, options: { ...lc.options, create: false } });
  try {
    migrateTimestamps(env, {
      srcDbi: flags.srcDbi, dstDbi: flags.dstDbi,
      addDeleteEntries: Boolean(flags.addDeleteEntries), ignoreSrcMissing: Boolean(flags.ignoreSrcDbiNotPresent),
    }, ctx.logger.with({ db: flags.database }));
  } finally {
    env.close();
  }
  return 0;
}

/** The `experimental` parent command, created once. */
export function experimentalCommand(program: Command): Command {
  return program.commands.find((c) => c.name() === 'experimental') ??
    program.command('experimental').description('Experimental commands, may disappear or change in any future version');
}

export function register(program: Command, contexts: ContextFactory): void {
  experimentalCommand(program)
    .command('migrate-timestamps')
    .description('Migrate timestamps from one DBI to another DBI')
    .addHelpText('after', LONG)
    .requiredOption('-d, --database <name>', 'Named database to operate on')
    .requiredOption('--src-dbi <dbi>', 'Source DBI')
    .requiredOption('--dst-dbi <dbi>', 'Destination DBI')
    .option('--add-delete-entries', 'Create 24-byte deletion headers for entries marked as deleted in the source database.')
    .option('--ignore-src-dbi-not-present', 'Do not exit with an error if the source DBI does not exist, ignore it.')
    .action(contexts.action((ctx, flags: MigrateFlags) => run(ctx, flags)));
}
