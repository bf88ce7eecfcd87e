/**
 * `lightningstream snapshots remove NAME [NAME...]`: deletes objects from the storage. Go takes exactly
 * one name; this takes several. Removing an object that does not exist succeeds, as in Go (the storage
 * delete is idempotent), but a warning names it so that a typo does not go unnoticed.
 */
import type { Command } from 'commander';
import type { CommandContext, ContextFactory } from './context.js';
import { withStorage } from './snapshots-common.js';

async function remove(ctx: CommandContext, names: string[]): Promise<number> {
  await withStorage(ctx, async (storage) => {
    for (const name of names) {
      const exists = (await storage.list(name, ctx.signal)).some((o) => o.name === name);
      await storage.delete(name, ctx.signal);
      if (exists) ctx.logger.debug('Snapshot removed', { name });
      else ctx.logger.warn('Snapshot not found, nothing removed', { name });
    }
  });
  return 0;
}

export function register(parent: Command, contexts: ContextFactory): void {
  parent
    .command('remove')
    .description('Remove snapshots')
    .argument('<name...>', 'Snapshot names in the storage')
    .action(contexts.action((ctx, names: string[]) => remove(ctx, names)));
}
