import type { LmdbConfig } from '../config/config.js';
import { formatDbiFlags } from '../lmdb/flag-names.js';
import { MDB_DUPSORT, MDB_INTEGERKEY, type Dbi, type Env, type Txn } from '../lmdb/index.js';
import { comparatorForFlags } from '../lmdb/key-order.js';
import type { Logger } from '../log/logger.js';
import type { DbiSource } from '../snapshot/types.js';
import { checkSamePersistentFlags, IncompatibleSnapshotError, listDataDbis, type ApplyTarget, type PlanTarget, type SyncMode } from './mode.js';
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

  planTarget(dbiName: string, flags: number, transform: string, snapshotName: string): PlanTarget {
    const where = `snapshot ${snapshotName}`;
    this.checkFlags(dbiName, flags, where);
    if (transform !== '') {
      throw new IncompatibleSnapshotError(`${where}: DBI ${dbiName} uses transform "${transform}", ` +
        'which only shadow mode (schema_tracks_changes: false) can load');
    }
    const dbi = this.env.openDbi(dbiName) ?? undefined;
    const localFlags = dbi?.flags ?? this.createFlags(dbiName, flags);
    checkSamePersistentFlags(dbiName, flags, localFlags, where);
    return {
      headers: dbi, compare: comparatorForFlags(localFlags), integerKeys: (localFlags & MDB_INTEGERKEY) !== 0,
      tombstoneCutoffNano: this.opts.tombstoneCutoffNano(),
    };
  }

  applyTarget(txn: Txn, dbiName: string, flags: number, snapshotName: string): ApplyTarget {
    let dbi = txn.openDbi(dbiName);
    if (!dbi) {
      const createFlags = this.createFlags(dbiName, flags);
      if (createFlags !== 0) {
        this.opts.log.info('creating DBI from snapshot', { dbi: dbiName, flags: formatDbiFlags(createFlags), snapshot: snapshotName });
      }
      dbi = txn.openDbi(dbiName, { create: true, flags: createFlags })!;
    }
    checkSamePersistentFlags(dbiName, flags, dbi.flags, `snapshot ${snapshotName}`);
    return { headers: dbi, paddingBlock: this.opts.lmdb.headerExtraPaddingBlock };
  }

  private createFlags(dbiName: string, flags: number): number {
    const createFlags = this.opts.lmdb.dbiOptions[dbiName]?.overrideCreateFlags ?? flags;
    this.checkFlags(dbiName, createFlags, `lmdbs.${this.opts.dbName}.dbi_options.${dbiName}.override_create_flags`);
    return createFlags;
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
