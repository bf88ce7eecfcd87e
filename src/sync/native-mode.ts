import type { LmdbConfig } from '../config/config.js';
import { formatDbiFlags } from '../lmdb/flag-names.js';
import { MDB_DUPSORT, MDB_PERSISTENT_FLAGS, type Dbi, type Env, type Txn } from '../lmdb/index.js';
import { comparatorForFlags } from '../lmdb/key-order.js';
import type { Logger } from '../log/logger.js';
import type { DbiSource } from '../snapshot/types.js';
import { DbiMerger } from './merge/merger.js';
import { IncompatibleSnapshotError, listDataDbis, type MergeContext, type SyncMode } from './mode.js';
import { nativeDbiSource, type DeltaFilter } from './native-source.js';

export interface NativeModeOptions {
  dbName: string;
  lmdb: Pick<LmdbConfig, 'headerExtraPaddingBlock' | 'dbiOptions'>;
  log: Logger;
  tombstoneCutoffNano: () => bigint | undefined;
}

/**
 * schema_tracks_changes: true — every value of every DBI carries a native header. Any DBI flags are
 * synced (keys merged in the DBI's own order: MDB_INTEGERKEY, MDB_REVERSEKEY) except MDB_DUPSORT,
 * whose duplicates cannot each carry a header that LMDB would sort by.
 */
export class NativeMode implements SyncMode {
  readonly kind = 'native' as const;

  constructor(private readonly env: Env, private readonly opts: NativeModeOptions) {}

  validate(env: Env): void {
    for (const name of listDataDbis(env)) {
      const dbi = env.openDbi(name);
      if (dbi) this.checkFlags(name, dbi.flags, `local LMDB ${this.opts.dbName}`);
    }
  }

  async prepareSnapshot(): Promise<void> {}

  snapshotCoversTxnId(readTxnId: number): number {
    return readTxnId;
  }

  openSnapshotDbis(): string[] {
    const names = listDataDbis(this.env);
    for (const name of names) this.env.openDbi(name);
    return names;
  }

  snapshotSources(txn: Txn, dbiNames: string[], filter?: DeltaFilter): { sources: DbiSource[]; entries: number } {
    const sources: DbiSource[] = [];
    let entries = 0;
    for (const name of dbiNames) {
      const dbi = this.env.cachedDbi(name);
      if (!dbi) continue; // created after openSnapshotDbis: in the next snapshot
      this.checkFlags(name, dbi.flags, `local LMDB ${this.opts.dbName}`);
      entries += txn.stat(dbi).entries;
      sources.push(nativeDbiSource(txn, dbi, name, filter));
    }
    return { sources, entries };
  }

  mergeTarget(txn: Txn, dbiName: string, flags: number, transform: string, merge: MergeContext): DbiMerger {
    const where = `snapshot ${merge.snapshotName}`;
    this.checkFlags(dbiName, flags, where);
    if (transform !== '') {
      throw new IncompatibleSnapshotError(`${where}: DBI ${dbiName} uses transform "${transform}", ` +
        'which only shadow mode (schema_tracks_changes: false) can load');
    }
    let dbi = txn.openDbi(dbiName);
    if (!dbi) {
      const createFlags = this.opts.lmdb.dbiOptions[dbiName]?.overrideCreateFlags ?? flags;
      this.checkFlags(dbiName, createFlags, `lmdbs.${this.opts.dbName}.dbi_options.${dbiName}.override_create_flags`);
      if (createFlags !== 0) {
        this.opts.log.info('creating DBI from snapshot', { dbi: dbiName, flags: formatDbiFlags(createFlags), snapshot: merge.snapshotName });
      }
      dbi = txn.openDbi(dbiName, { create: true, flags: createFlags })!;
    }
    if ((dbi.flags & MDB_PERSISTENT_FLAGS) !== (flags & MDB_PERSISTENT_FLAGS)) {
      throw new IncompatibleSnapshotError(`${where}: DBI ${dbiName} has flags ${formatDbiFlags(flags)}, ` +
        `but the local DBI has ${formatDbiFlags(dbi.flags)}`);
    }
    return new DbiMerger(txn, dbi, {
      ...merge, compare: comparatorForFlags(dbi.flags), paddingBlock: this.opts.lmdb.headerExtraPaddingBlock,
      tombstoneCutoffNano: this.opts.tombstoneCutoffNano(), dbiName,
    });
  }

  syncedDbis(txn: Txn): Array<{ name: string; headers: Dbi }> {
    const out: Array<{ name: string; headers: Dbi }> = [];
    for (const name of listDataDbis(txn)) {
      const dbi = txn.openDbi(name);
      if (dbi) out.push({ name, headers: dbi });
    }
    return out;
  }

  beginLoad(): number {
    return 0;
  }

  loadCommitted(): void {}

  private checkFlags(dbiName: string, flags: number, where: string): void {
    if ((flags & MDB_DUPSORT) === 0) return;
    throw new IncompatibleSnapshotError(`${where}: DBI ${dbiName} has flags ${formatDbiFlags(flags)}, which native mode ` +
      '(schema_tracks_changes: true) does not support; use schema_tracks_changes: false with dupsort_hack for MDB_DUPSORT');
  }
}
