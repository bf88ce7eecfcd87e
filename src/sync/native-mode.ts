import type { Dbi, Env, Txn } from '../lmdb/index.js';
import { formatDbiFlags } from '../config/dbiflags.js';
import type { DbiSource } from '../snapshot/types.js';
import { bytewiseCompare } from './key-order.js';
import { DbiMerger, keysWrittenSince } from './merger.js';
import { IncompatibleSnapshotError, listDataDbis, type SyncMode } from './mode.js';
import { nativeDbiSource } from './native-source.js';

export interface NativeModeOptions {
  dbName: string;
  paddingBlock: boolean;
  tombstoneCutoffNano: () => bigint | undefined;
}

/** schema_tracks_changes: true — every value of every DBI carries a native header. */
export class NativeMode implements SyncMode {
  readonly kind = 'native' as const;

  constructor(private readonly env: Env, private readonly opts: NativeModeOptions) {}

  validate(env: Env): void {
    for (const name of listDataDbis(env)) {
      const dbi = env.openDbi(name);
      if (dbi && dbi.flags !== 0) throw this.flagsError(name, dbi.flags, `local LMDB ${this.opts.dbName}`);
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

  snapshotSources(txn: Txn, dbiNames: string[]): { sources: DbiSource[]; entries: number } {
    const sources: DbiSource[] = [];
    let entries = 0;
    for (const name of dbiNames) {
      const dbi = this.env.cachedDbi(name);
      if (!dbi) continue; // created after openSnapshotDbis: in the next snapshot
      if (dbi.flags !== 0) throw this.flagsError(name, dbi.flags, `local LMDB ${this.opts.dbName}`);
      entries += txn.stat(dbi).entries;
      sources.push(nativeDbiSource(txn, dbi, name));
    }
    return { sources, entries };
  }

  mergeTarget(txn: Txn, dbiName: string, flags: number | undefined, transform: string | undefined,
    txnId: number, snapshotName: string, unsaved?: Set<string>): DbiMerger {
    this.checkDbiEnd(dbiName, flags ?? 0, transform ?? '', snapshotName);
    const dbi = txn.openDbi(dbiName, { create: true, flags: 0 })!;
    if (dbi.flags !== 0) throw this.flagsError(dbiName, dbi.flags, `local LMDB ${this.opts.dbName}`);
    return new DbiMerger(txn, dbi, {
      compare: bytewiseCompare, txnId, paddingBlock: this.opts.paddingBlock,
      tombstoneCutoffNano: this.opts.tombstoneCutoffNano(), dbiName, unsaved,
    });
  }

  checkDbiEnd(dbiName: string, flags: number, transform: string, snapshotName: string): void {
    if (flags !== 0) throw this.flagsError(dbiName, flags, `snapshot ${snapshotName}`);
    if (transform !== '') {
      throw new IncompatibleSnapshotError(`snapshot ${snapshotName}: DBI ${dbiName} uses transform "${transform}", ` +
        'which only shadow mode (schema_tracks_changes: false) can load');
    }
  }

  writtenSince(txn: Txn, sinceTxnId: number): Set<string> {
    const dbis = listDataDbis(this.env).map((name) => [name, this.env.cachedDbi(name)] as [string, Dbi | undefined]);
    return keysWrittenSince(txn, dbis.filter((d): d is [string, Dbi] => d[1] !== undefined), sinceTxnId);
  }

  hasLocalDataOutside(txn: Txn, dbiNames: Set<string>): boolean {
    return listDataDbis(this.env).some((name) => {
      if (dbiNames.has(name)) return false;
      const dbi = txn.openDbi(name);
      return dbi !== null && txn.stat(dbi).entries > 0;
    });
  }

  beginLoad(): number {
    return 0;
  }

  loadCommitted(): void {}

  private flagsError(dbiName: string, flags: number, where: string): Error {
    return new IncompatibleSnapshotError(`${where}: DBI ${dbiName} has flags ${formatDbiFlags(flags)}, which native mode ` +
      '(schema_tracks_changes: true) does not support; use schema_tracks_changes: false (with dupsort_hack for DUPSORT)');
  }
}
