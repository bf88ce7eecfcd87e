/**
 * `lightningstream sync` and `lightningstream receive`: the daemon. Both run every configured LMDB (or
 * those named by --only-db) in this process; `receive` merges remote snapshots and never writes any.
 */
import type { Command } from 'commander';
import { startMaintenance } from '../ops/maintenance.js';
import { runSync } from '../sync/runner.js';
import { tuneMallocForDaemon } from '../lmdb/malloc.js';
import { settleDaemonMemory, startMemoryReport } from '../util/memory.js';
import type { CommandContext, ContextFactory } from './context.js';
import { repeatable } from './repeatable.js';

interface SyncFlags {
  onlyOnce?: boolean;
  onlyDb?: string[];
  waitForMarkerFile?: string;
}


function addSyncOptions(cmd: Command): Command {
  return cmd
    .option('--only-once', 'Only do a single run and exit')
    .option('--only-db <name>', 'Only sync this LMDB (repeatable)', repeatable)
    .option('--wait-for-marker-file <name>', 'Marker file to wait for in the storage before starting the syncers');
}

async function run(ctx: CommandContext, flags: SyncFlags, receiveOnly: boolean): Promise<number> {
  const { config } = ctx;
  let stopStatus: (() => Promise<void>) | undefined;
  if (!flags.onlyOnce && !config.onlyOnce) {
    settleDaemonMemory();
    const malloc = tuneMallocForDaemon();
    if (malloc.length > 0) ctx.logger.debug('allocator settings for a long run', { malloc: malloc.join(' ') });
  }
  const stopMemoryReport = startMemoryReport((fields) => ctx.logger.info('memory', fields));
  try {
    await runSync(config, ctx.instance(), ctx.logger, {
      receiveOnly,
      onlyOnce: Boolean(flags.onlyOnce) || config.onlyOnce,
      onlyDbs: flags.onlyDb ?? [],
      waitForMarkerFile: flags.waitForMarkerFile,
      maintenance: (syncRun, signal) => startMaintenance(syncRun, ctx.logger, signal),
      // With the HTTP server on, every storage call is counted and timed for /metrics and the health checks
      // (loaded only then: prom-client adds ~70 ms to every start).
      wrapStorage: config.http.address ? (await import('../status/instrument.js')).instrumentStorage : undefined,
    }, ctx.signal, async (syncRun) => {
      if (config.http.address) stopStatus = await (await import('../status/server.js')).startStatusServer(syncRun, ctx.logger);
    });
  } catch (err) {
    if (!ctx.signal.aborted) throw err;
  } finally {
    await stopStatus?.();
    stopMemoryReport();
  }
  if (ctx.signal.aborted) ctx.logger.info('stopped');
  return 0;
}

export function register(program: Command, contexts: ContextFactory): void {
  addSyncOptions(program.command('sync').description('Continuous two-way sync of the LMDBs with the storage'))
    .action(contexts.action((ctx, flags: SyncFlags) => run(ctx, flags, false)));
  addSyncOptions(program.command('receive').description('Only receive: merge remote snapshots, never write any'))
    .action(contexts.action((ctx, flags: SyncFlags) => run(ctx, flags, true)));
}
