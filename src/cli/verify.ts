/**
 * `lightningstream verify [--db NAME] [--max-keys N] [--json]`: compares each configured LMDB (or the
 * named ones) with the newest state of every instance in the storage, own instance included, and prints
 * per LMDB and instance `equal`, `covered` or `differs` (see ops/verify.ts for what they mean).
 * Exit 0 when no instance differs, 1 when one does or on an error (one line naming what was wrong).
 * Read txns only, LMDBs opened read-only: safe next to the application and a running sync.
 */
import type { Command } from 'commander';
import type { ContentHash } from '../snapshot/content-hash.js';
import { InvalidArgumentError } from 'commander';
import { chooseLmdbs } from '../ops/lmdb-tools.js';
import { localContentHash, sweptBeforeNano, verifyLmdb, type LmdbResult } from '../ops/verify.js';
import type { CommandContext, ContextFactory } from './context.js';
import { EXIT_ERROR, EXIT_OK } from './context.js';
import { createProgress } from './progress.js';
import { repeatable } from './repeatable.js';
import { withOutput, withStorage } from './snapshots-common.js';
import { jsonReport, textReport } from './verify-report.js';

interface VerifyFlags {
  db?: string[];
  maxKeys: number;
  json?: boolean;
  hashOnly?: boolean;
}

function countArg(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number');
  return Number(value);
}

/** --hash-only: the local content hashes, without the storage. */
async function printHashes(names: string[], ctx: CommandContext, json: boolean): Promise<number> {
  const hashes: Array<{ db: string; hash: ContentHash }> = [];
  for (const db of names) hashes.push({ db, hash: await localContentHash(db, ctx.config.lmdbs[db]!, ctx.signal) });
  return withOutput(async (out) => {
    await out.print(json
      ? `${JSON.stringify({ lmdbs: hashes.map(({ db, hash }) => ({ lmdb: db, contentHash: hash.digest.toString('hex'), entries: hash.entries })) }, null, 2)}\n`
      : hashes.map(({ db, hash }) => `${db}: content hash ${hash.digest.toString('hex')} (${hash.entries} entries)\n`).join(''));
    return EXIT_OK;
  });
}

async function verify(ctx: CommandContext, flags: VerifyFlags): Promise<number> {
  const names = chooseLmdbs(ctx.config, flags.db);
  if (flags.hashOnly) return printHashes(names, ctx, flags.json === true);
  const opts = {
    ownInstance: ctx.instance(), maxKeys: flags.maxKeys, signal: ctx.signal, sweptBeforeNano: sweptBeforeNano(ctx.config),
    progress: (db: string, instance: string, total: number) => {
      const p = createProgress({ label: `verify ${db} against ${instance}`, total });
      return { onBytes: (n: number) => p.add(n), done: () => p.done() };
    },
  };
  const results: LmdbResult[] = [];
  try {
    await withStorage(ctx, async (storage) => {
      for (const name of names) results.push(await verifyLmdb(name, ctx.config.lmdbs[name]!, storage, opts));
    });
  } catch (err) {
    if (!ctx.signal.aborted) throw err;
    // An interrupted check has not shown that nothing differs.
    process.stderr.write('lightningstream: verify interrupted before it finished\n');
    return EXIT_ERROR;
  }
  const differs = results.some((r) => r.instances.some((i) => i.verdict === 'differs'));
  return withOutput(async (out) => {
    await out.print(flags.json ? jsonReport(results) : textReport(results));
    return differs ? EXIT_ERROR : EXIT_OK;
  });
}

export function register(program: Command, contexts: ContextFactory): void {
  program
    .command('verify')
    .description('Compare the local LMDBs with the newest snapshot of every instance (exit 1 when one differs)')
    .option('--db <name>', 'Only this LMDB (repeatable)', repeatable)
    .option('--max-keys <n>', 'Differing keys (and keys only here) to list per instance', countArg, 10)
    .option('--json', 'Machine-readable output')
    .option('--hash-only', 'Only print the local LMDBs\' content hashes (no storage access)')
    .action(contexts.action((ctx, flags: VerifyFlags) => verify(ctx, flags)));
}
