import type { LmdbConfig } from '../../config/config.js';
import { formatDbiFlags } from '../../lmdb/flag-names.js';
import { MDB_DUPFIXED, MDB_DUPSORT, MDB_INTEGERKEY, type Dbi, type Env, type Txn } from '../../lmdb/index.js';
import { comparatorForFlags } from '../../lmdb/key-order.js';
import type { Logger } from '../../log/logger.js';
import { SnapshotFormatError } from '../../snapshot/errors.js';
import type { DbiSource } from '../../snapshot/types.js';
import { systemClock, type Clock } from '../../util/clock.js';
import type { AsyncMutex } from '../async-mutex.js';
import {
  checkSamePersistentFlags, IncompatibleSnapshotError, listDataDbis, SHADOW_DBI_PREFIX, type ApplyTarget, type PlanTarget, type SyncMode,
} from '../mode.js';
import { nativeDbiSource, type DeltaFilter } from '../native-source.js';
import { applyToApp } from './apply.js';
import { diffIntoShadow } from './diff.js';
import { DUPSORT_HACK_TRANSFORM, DupsortHackKeyError } from './dupsort-hack.js';
import type { ShadowPair } from './pair.js';

/** Application DBI flags shadow mode can sync (DUPSORT only with dupsort_hack). */
const SUPPORTED_FLAGS = MDB_INTEGERKEY | MDB_DUPSORT | MDB_DUPFIXED;
/** "Existed before Lightning Stream first ran": 1 ns after the epoch, so any real change wins. */
const BEFORE_FIRST_RUN = 1n;

export interface ShadowModeOptions {
  dbName: string;
  lmdb: LmdbConfig;
  writeLock: AsyncMutex;
  log: Logger;
  tombstoneCutoffNano: () => bigint | undefined;
  clock?: Clock;
}

/**
 * schema_tracks_changes: false — the application writes plain values; Lightning Stream keeps a
 * `_sync_shadow_<dbi>` DBI per application DBI with the same keys and native headers. Local changes are
 * found by comparing each application DBI with its shadow; remote snapshots are merged into the shadows
 * and the entries that changed are applied to the application DBIs in the same write txn.
 */
export class ShadowMode implements SyncMode {
  readonly kind = 'shadow' as const;
  /** The application DBIs equal their shadows' live entries as of this txn id. */
  private shadowSyncedTxnId = -1;

  constructor(private readonly env: Env, private readonly opts: ShadowModeOptions) {}

  validate(env: Env): void {
    for (const name of listDataDbis(env)) {
      const dbi = env.openDbi(name);
      if (dbi) this.checkAppFlags(name, dbi.flags, `local LMDB ${this.opts.dbName}`);
    }
  }

  // ---------- local changes → shadows ----------

  async prepareSnapshot(signal: AbortSignal, opts: { initial: boolean }): Promise<void> {
    await this.opts.writeLock.run(() => {
      if (signal.aborted) throw signal.reason;
      const txn = this.env.beginWrite();
      try {
        const base = txn.id - 1;
        if (base === this.shadowSyncedTxnId && !opts.initial) {
          txn.abort();
          return;
        }
        const started = Date.now();
        const changes = this.mainToShadow(txn, opts.initial);
        txn.commit();
        this.shadowSyncedTxnId = changes > 0 ? base + 1 : base;
        if (changes > 0) this.opts.log.info('local changes recorded in shadow DBIs', { changes, ms: Date.now() - started });
      } catch (err) {
        txn.abort();
        throw err;
      }
    });
  }

  /**
   * Brings every shadow DBI in line with its application DBI inside `txn`: new or changed keys get
   * the current time (timestamp 1 in the start-up pass for DBIs without a shadow yet), keys gone from
   * the application become deletion markers. Returns the number of shadow entries written.
   */
  private mainToShadow(txn: Txn, initial: boolean): number {
    let written = 0;
    const now = (this.opts.clock ?? systemClock).nowNano();
    for (const name of listDataDbis(txn)) {
      const app = txn.openDbi(name);
      if (!app) continue;
      this.checkAppFlags(name, app.flags, `local LMDB ${this.opts.dbName}`);
      const existing = txn.openDbi(SHADOW_DBI_PREFIX + name);
      const shadow = existing ?? txn.openDbi(SHADOW_DBI_PREFIX + name, { create: true, flags: app.flags & MDB_INTEGERKEY })!;
      const newKeyTs = initial && !existing ? BEFORE_FIRST_RUN : now;
      const pair: ShadowPair = { name, app, shadow, dupsort: (app.flags & MDB_DUPSORT) !== 0 };
      written += diffIntoShadow(txn, pair, newKeyTs, now, this.opts.lmdb.headerExtraPaddingBlock ? 1 : 0);
    }
    return written;
  }

  // ---------- snapshots ----------

  snapshotCoversTxnId(readTxnId: number): number {
    return Math.min(readTxnId, this.shadowSyncedTxnId);
  }

  openSnapshotDbis(): string[] {
    const names = listDataDbis(this.env);
    for (const name of names) {
      this.env.openDbi(name);
      this.env.openDbi(SHADOW_DBI_PREFIX + name);
    }
    return names;
  }

  snapshotSources(txn: Txn, dbiNames: string[], filter?: DeltaFilter): { sources: DbiSource[]; entries: number } {
    const sources: DbiSource[] = [];
    let entries = 0;
    for (const name of dbiNames) {
      const app = this.env.cachedDbi(name);
      const shadow = this.env.cachedDbi(SHADOW_DBI_PREFIX + name);
      if (!app || !shadow) continue; // not yet shadowed: in the next snapshot
      entries += txn.stat(shadow).entries;
      const source = nativeDbiSource(txn, shadow, name, filter);
      sources.push({
        ...source, flags: app.flags, transform: (app.flags & MDB_DUPSORT) !== 0 ? DUPSORT_HACK_TRANSFORM : '',
      });
    }
    return { sources, entries };
  }

  // ---------- remote snapshots → shadows → application ----------

  beginLoad(txn: Txn): number {
    if (txn.id - 1 === this.shadowSyncedTxnId) return 0;
    const changes = this.mainToShadow(txn, false);
    if (changes > 0) this.opts.log.info('local changes recorded in shadow DBIs before merging', { changes });
    return changes;
  }

  loadCommitted(txnId: number): void {
    this.shadowSyncedTxnId = txnId;
  }

  planTarget(dbiName: string, flags: number, transform: string, snapshotName: string): PlanTarget {
    const where = `snapshot ${snapshotName}`;
    this.checkAppFlags(dbiName, flags, where);
    if (transform !== this.expectedTransform(flags)) {
      throw new IncompatibleSnapshotError(`${where}: DBI ${dbiName} has transform "${transform}", ` +
        `expected "${this.expectedTransform(flags)}" for flags ${formatDbiFlags(flags)}`);
    }
    const appFlags = this.env.openDbi(dbiName)?.flags ?? this.createFlags(dbiName, flags);
    checkSamePersistentFlags(dbiName, flags, appFlags, where);
    const shadow = this.env.openDbi(SHADOW_DBI_PREFIX + dbiName) ?? undefined;
    const shadowFlags = shadow?.flags ?? appFlags & MDB_INTEGERKEY;
    return {
      headers: shadow, compare: comparatorForFlags(shadowFlags), integerKeys: (shadowFlags & MDB_INTEGERKEY) !== 0,
      tombstoneCutoffNano: this.opts.tombstoneCutoffNano(),
    };
  }

  applyTarget(txn: Txn, dbiName: string, flags: number, snapshotName: string): ApplyTarget {
    let app = txn.openDbi(dbiName);
    if (!app) {
      const createFlags = this.createFlags(dbiName, flags);
      this.opts.log.warn('creating DBI from snapshot', { dbi: dbiName, flags: formatDbiFlags(createFlags), snapshot: snapshotName });
      app = txn.openDbi(dbiName, { create: true, flags: createFlags })!;
    }
    checkSamePersistentFlags(dbiName, flags, app.flags, `snapshot ${snapshotName}`);
    let shadow = txn.openDbi(SHADOW_DBI_PREFIX + dbiName);
    shadow ??= txn.openDbi(SHADOW_DBI_PREFIX + dbiName, { create: true, flags: app.flags & MDB_INTEGERKEY })!;
    const pair: ShadowPair = { name: dbiName, app, shadow, dupsort: (app.flags & MDB_DUPSORT) !== 0 };
    return {
      headers: shadow, paddingBlock: this.opts.lmdb.headerExtraPaddingBlock,
      onFlush: (written) => {
        try {
          applyToApp(txn, pair, written);
        } catch (err) {
          if (err instanceof DupsortHackKeyError) throw new SnapshotFormatError(snapshotName, err.message);
          throw err;
        }
      },
    };
  }

  private createFlags(dbiName: string, flags: number): number {
    const createFlags = this.opts.lmdb.dbiOptions[dbiName]?.overrideCreateFlags ?? flags;
    this.checkAppFlags(dbiName, createFlags, `lmdbs.${this.opts.dbName}.dbi_options.${dbiName}.override_create_flags`);
    return createFlags;
  }

  private expectedTransform(flags: number): string {
    return (flags & MDB_DUPSORT) !== 0 ? DUPSORT_HACK_TRANSFORM : '';
  }

  syncedDbis(txn: Txn): Array<{ name: string; headers: Dbi }> {
    const out: Array<{ name: string; headers: Dbi }> = [];
    for (const name of listDataDbis(txn)) {
      const shadow = txn.openDbi(SHADOW_DBI_PREFIX + name);
      if (shadow) out.push({ name, headers: shadow });
    }
    return out;
  }

  private checkAppFlags(name: string, flags: number, where: string): void {
    const unsupported = flags & ~SUPPORTED_FLAGS;
    if (unsupported !== 0) {
      throw new IncompatibleSnapshotError(`${where}: DBI ${name} has flags ${formatDbiFlags(flags)}, which Lightning Stream cannot sync`);
    }
    if ((flags & MDB_DUPSORT) !== 0) {
      if (!this.opts.lmdb.dupsortHack) {
        throw new IncompatibleSnapshotError(`${where}: DBI ${name} is MDB_DUPSORT: set lmdbs.${this.opts.dbName}.dupsort_hack: true to sync it`);
      }
      if ((flags & MDB_INTEGERKEY) !== 0) {
        throw new IncompatibleSnapshotError(`${where}: DBI ${name} combines MDB_DUPSORT and MDB_INTEGERKEY, which dupsort_hack cannot sync`);
      }
    }
  }
}
