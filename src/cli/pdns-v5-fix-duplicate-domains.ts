/**
 * `lightningstream experimental pdns-v5-fix-duplicate-domains -d DB [--dangerous-do-rename]`: the Go command of
 * the same name (see ops/pdns-v5-duplicates.ts). Lists duplicate zones of a PowerDNS Auth 4.8 schema-5 main
 * LMDB; with --dangerous-do-rename renames the newer of each pair to `<zone>.dup-<id>.invalid` in one write txn,
 * and prints (on stdout, as Go) which zones to remove with `pdnsutil delete-zone`.
 */
import type { Command } from 'commander';
import { fixDuplicateDomains } from '../ops/pdns-v5-duplicates.js';
import { openConfiguredEnv } from '../sync/open-lmdb.js';
import type { CommandContext, ContextFactory } from './context.js';
import { experimentalCommand } from './migrate-timestamps.js';

const LONG = `
The PowerDNS Auth 4.8 schema version 5 makes it possible to create duplicate
domain entries on different instances, which can cause an error in early version
of Auth. This command allows you to remove those duplicate entries.
`;

interface FixFlags {
  database: string;
  dangerousDoRename?: boolean;
}

function run(ctx: CommandContext, flags: FixFlags): number {
  const lc = ctx.config.lmdbs[flags.database];
  if (!lc) throw new Error(`no LMDB with name ${JSON.stringify(flags.database)} configured`);
  // Never create an LMDB here: a missing one is an error.
  const env = openConfiguredEnv(flags.database, { ...lc, options: { ...lc.options, create: false } });
  let toDelete: string[];
  try {
    toDelete = fixDuplicateDomains(env, Boolean(flags.dangerousDoRename), ctx.logger.with({ db: flags.database })).toDelete;
  } finally {
    env.close();
  }
  if (toDelete.length > 0) {
    process.stdout.write('\n\nThe following zones need to be removed with `pdnsutil delete-zone ZONE`:\n\n' +
      toDelete.map((d) => `- ${d}\n`).join('') +
      '\nNote that these will NOT show up in list-all-zones. Removing the zones will also not remove it from this list.\n\n');
  }
  return 0;
}

export function register(program: Command, contexts: ContextFactory): void {
  experimentalCommand(program)
    .command('pdns-v5-fix-duplicate-domains')
    .description('Fix duplicate domain entries for PowerDNS Auth 4.8 with schema version 5')
    .addHelpText('after', LONG)
    .requiredOption('-d, --database <name>', 'Named database to operate on (must be the main database for pdns auth)')
    .option('--dangerous-do-rename', 'Automatically rename the newer duplicate domain name to fix')
    .action(contexts.action((ctx, flags: FixFlags) => run(ctx, flags)));
}
